"""The CLI's command groups, one module each, registered at the end of ledgerlake/cli.py."""
