"""MANTIS assets: the collection run (payloads, prices, metagraph), the reveal, panels and salience."""
