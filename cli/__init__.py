"""The `incentive` command line."""


class UsageError(Exception):
    """Bad arguments or unreadable inputs: exit code 2, as argparse uses."""
