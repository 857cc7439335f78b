"""Ledger → Parquet → Dask analytics (not built yet; see the open issues)."""
