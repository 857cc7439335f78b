"""The CLI's command groups, one module each (a thin shell over the library), registered
at the end of ledgerlake/cli.py."""
