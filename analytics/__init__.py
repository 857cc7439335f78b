"""Ledger → verified Parquet lake → Dask analytics, with a lineage receipt for every run.

One module per concept (``../shared/docs/DESIGN.md``): ``lake`` (the Parquet layout and its
columns), ``sync`` (ledger → lake, verified, exactly once), ``cluster`` (Dask's
local-or-remote rule), ``analyze`` (statistics, data quality, anomalies, forecasts on Dask),
``models`` (scikit-learn estimators), ``charts`` (PNG), ``report`` (one HTML file),
``lineage`` (the receipt, its on-chain anchor, OpenLineage, ``verify report``).
Heavy dependencies (pyarrow, pandas, Dask, scikit-learn, plotting) are imported inside those
modules only, so ``import ledgerlake`` stays lean."""
