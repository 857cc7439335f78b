"""Ingestion: records from files, SQL databases, HTTP APIs, MQTT topics and standard input,
validated against a stream's schema, sealed into encrypted batches and committed, resumably
and exactly once per (stream, source).

One module per source kind; each imports its heavy dependency (pyarrow, SQLAlchemy, httpx,
paho-mqtt) itself, so ``import ledgerlake.client`` stays lean. Every source yields
``source.Row`` values through the ``source.Source`` protocol; ``open_source`` makes one
from what a user types (``ledgerlake ingest SOURCE``) and ``pipeline.ingest`` commits it.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ledgerlake.client.ingest.pipeline import IngestSummary, RecordsSource, ingest
from ledgerlake.client.ingest.source import Row, Source
from ledgerlake.errors import ConfigError

__all__ = ["IngestSummary", "RecordsSource", "Row", "Source", "ingest", "open_source",
           "source_kind"]

_SQL_SCHEMES = re.compile(r"^(sqlite|postgres|postgresql|mysql|mariadb|oracle|mssql)"
                          r"(\+[A-Za-z0-9_]+)?://")


def source_kind(spec: str) -> str:
    """Which kind of source ``spec`` names: "stdin" for ``-``, "http", "mqtt" or "sql" by
    its URL scheme, else "file" (a file, a directory or a glob)."""
    if spec == "-":
        return "stdin"
    lowered = spec.lower()
    if lowered.startswith(("http://", "https://")):
        return "http"
    if lowered.startswith(("mqtt://", "mqtts://")):
        return "mqtt"
    if _SQL_SCHEMES.match(lowered):
        return "sql"
    if "://" in spec:
        raise ConfigError(f"unknown source scheme in {spec.split('://')[0]}://; a source is "
                          f"a file, directory or glob, '-' (stdin), an http(s):// URL, an "
                          f"mqtt:// URL or a SQLAlchemy URL")
    return "file"


def open_source(spec: str, options: Mapping[str, Any] | None = None):
    """The ``Source`` ``spec`` names, built by its kind's module from CLI-style ``options``
    (the kind's own: e.g. ``table``/``cursor`` for SQL, ``items_path`` for HTTP)."""
    kind = source_kind(spec)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    # -- files and standard input (the ingest helper's kinds) --
    if kind in ("file", "stdin"):
        from ledgerlake.client.ingest import files, stdin
        module = files if kind == "file" else stdin
        extra = sorted(set(options) - set(module.CLI_OPTIONS))
        if extra:
            raise ConfigError(f"--{extra[0].replace('_', '-')} does not apply to "
                              f"{'files' if kind == 'file' else 'standard input'}")
        from_cli = module.from_cli
    # -- SQL, HTTP and MQTT (the sources helper's kinds) --
    else:
        try:
            module = __import__(f"ledgerlake.client.ingest.{kind}", fromlist=["from_cli"])
        except ImportError:
            raise ConfigError(f"{kind} sources are not available in this installation") \
                from None
        from_cli = module.from_cli
    return from_cli(spec, options)
