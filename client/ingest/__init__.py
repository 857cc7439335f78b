"""Ingestion: records from files, SQL databases, HTTP APIs, MQTT topics and standard input,
validated against a stream's schema, sealed into encrypted batches and committed, resumably
and exactly once per (stream, source).

One module per source kind; each imports its heavy dependency (pyarrow, SQLAlchemy, httpx,
paho-mqtt) itself, so ``import ledgerlake.client`` stays lean. Every source yields
``source.Row`` values through the ``source.Source`` protocol.
"""
