"""The CLI's command groups, each a thin shell over the library."""
