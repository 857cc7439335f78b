"""Ingestion: records from files, SQL databases, HTTP APIs, MQTT topics and standard input,
validated against a stream's schema, sealed into encrypted batches and committed, resumably
and exactly once per (stream, source).

One module per source kind; each imports its heavy dependency (pyarrow, SQLAlchemy, httpx,
paho-mqtt) itself, so ``import ledgerlake.client`` stays lean. Every source yields
``source.Row`` values through the ``source.Source`` protocol.
"""

from __future__ import annotations

from typing import Any, Mapping

from ledgerlake.errors import ConfigError

from .source import Row, Source

__all__ = ["Row", "Source", "open_source"]


def open_source(spec: str, options: Mapping[str, Any] | None = None) -> Source:
    """The source a SOURCE argument names, built with ``options`` (source options only, by
    their Python names; None values are ignored). The one dispatch rule:

    - ``postgresql://…``, ``postgres://…``, ``sqlite:///…`` (any ``scheme+driver``, also
      mysql, mariadb, oracle, mssql) → ``sql``: table, query, cursor, tiebreak, batch_rows
    - ``http://…``, ``https://…`` → ``http``: header, items_path, next_path, next_param,
      page_param, first_page, offset_param, limit_param, limit, retries, timeout
    - ``mqtt://…``, ``mqtts://…`` → ``mqtt``: qos, client_id, username, password, ca_file,
      heartbeat
    - files and standard input: see below.

    Raises ConfigError for an option the kind does not take."""
    from . import http, mqtt, sql  # light: each imports its heavy library when used

    options = {k: v for k, v in (options or {}).items() if v is not None and v != ()}
    scheme = spec.partition("://")[0].split("+")[0].lower() if "://" in spec else ""
    for module in (sql, http, mqtt):
        if scheme in module.SCHEMES:
            extra = sorted(set(options) - set(module.CLI_OPTIONS))
            if extra:
                raise ConfigError(f"--{extra[0].replace('_', '-')} does not apply to "
                                  f"{module.KIND} sources ({scheme}://…)")
            return module.from_cli(spec, options)
    # -- files and standard input (the ingest pipeline's kinds) go here ------------------
    raise ConfigError("SOURCE must be a database URL (postgresql://…, sqlite:///…), an "
                      "http(s):// URL or an mqtt:// URL")
