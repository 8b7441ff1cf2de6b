"""Vesting multipliers (vesting_bettensor.md): the tranche ledger and holding metrics (ledger.py), and the
stake flows that feed it (flows.py)."""
