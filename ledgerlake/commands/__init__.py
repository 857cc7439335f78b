"""Command groups of the ledgerlake CLI, one module each."""
