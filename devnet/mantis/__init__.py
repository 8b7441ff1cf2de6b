"""The devnet's MANTIS miners: planted signal panels and the payloads they publish."""
