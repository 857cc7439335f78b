"""Ingestion: records from files, SQL databases, HTTP APIs, MQTT topics and standard input,
validated against a stream's schema, sealed into encrypted batches and committed, resumably
and exactly once per (stream, source).

One module per source kind; each imports its heavy dependency (pyarrow, SQLAlchemy, httpx,
paho-mqtt) itself, so ``import ledgerlake.client`` stays lean. Every source yields
``source.Row`` values through the ``source.Source`` protocol; ``open_source`` makes one
from what a user types (``ledgerlake ingest SOURCE``) and ``pipeline.ingest`` commits it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Mapping

from ledgerlake.client.ingest.pipeline import IngestSummary, RecordsSource, ingest
from ledgerlake.client.ingest.source import Row, Source
from ledgerlake.errors import ConfigError

__all__ = ["IngestSummary", "RecordsSource", "Row", "Source", "ingest", "open_source",
           "source_kind"]

#: how an option error names each kind
_WHAT = {"file": "files", "stdin": "standard input", "sql": "SQL sources",
         "http": "HTTP sources", "mqtt": "MQTT sources"}


def source_kind(spec: str) -> str:
    """Which kind of source ``spec`` names, the one dispatch rule: "stdin" for ``-``; by URL
    scheme (a ``+driver`` suffix allowed) "sql" for ``postgresql://``, ``postgres://``,
    ``sqlite:///`` (also mysql, mariadb, oracle, mssql), "http" for ``http(s)://``, "mqtt"
    for ``mqtt(s)://`` (each module's ``SCHEMES``); else "file" (a file, a directory or a
    glob)."""
    if spec == "-":
        return "stdin"
    if "://" not in spec:
        return "file"
    from . import http, mqtt, sql  # light: each imports its heavy library when used
    scheme = spec.partition("://")[0].split("+")[0].lower()
    for module in (sql, http, mqtt):
        if scheme in module.SCHEMES:
            return module.KIND
    raise ConfigError(f"unknown source scheme in {spec.split('://')[0]}://; a source is "
                      f"a file, directory or glob, '-' (stdin), an http(s):// URL, an "
                      f"mqtt:// URL or a SQLAlchemy URL")


def open_source(spec: str, options: Mapping[str, Any] | None = None) -> Source:
    """The ``Source`` ``spec`` names (``source_kind``), built by its kind's module's
    ``from_cli`` from CLI-style ``options`` (None values are ignored); an option the kind
    does not take (not in its module's ``CLI_OPTIONS``) is a ConfigError. Options by kind:

    - file: format, delimiter; stdin: format
    - sql: table, query, cursor, tiebreak, batch_rows
    - http: header, items_path, next_path, next_param, page_param, first_page,
      offset_param, limit_param, limit, retries, timeout
    - mqtt: qos, client_id, username, password, ca_file, keepalive"""
    kind = source_kind(spec)
    options = {k: v for k, v in (options or {}).items() if v is not None and v != ()}
    module = import_module(f"{__name__}.{'files' if kind == 'file' else kind}")
    extra = sorted(set(options) - set(module.CLI_OPTIONS))
    if extra:
        raise ConfigError(f"--{extra[0].replace('_', '-')} does not apply to {_WHAT[kind]}")
    return module.from_cli(spec, options)
