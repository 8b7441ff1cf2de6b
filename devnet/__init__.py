"""The embedded simulated subnet: signals, and later the chain, beacon, miners and feeds."""
