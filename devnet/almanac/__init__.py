"""The devnet's Almanac (SN41) market: planted traders, their histories, and the API's view of them."""
