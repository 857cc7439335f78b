"""What every source kind gives the ingestion pipeline: rows with a resumable position.

A source reads its input in order and yields one ``Row`` per input item: the parsed record
(field name → value; values as the input gave them, the pipeline validates them against the
stream's schema) or the reason it could not be parsed, where it was (for the reject file),
and a position after it. Positions are opaque to the pipeline and JSON-serialisable; passed
back to ``rows(after=...)`` they make the source continue with the item after that one, which
is what makes an ingest resumable and exactly once.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Iterator, Mapping, NamedTuple, Protocol, runtime_checkable

from ledgerlake.records import check_identifier

_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.-]+")


class Row(NamedTuple):
    """One input item (a tuple: made for every row read, so made cheaply)."""

    #: the record (field name → value), or None when the input item could not be parsed
    record: Mapping[str, Any] | None
    #: where the item is, for people: "line 12 of data.csv", "row 5", "offset 1234"
    where: str
    #: JSON-serialisable position after this item; ``rows(after=position)`` resumes there
    position: Any
    #: why the item could not be parsed into a record (None when ``record`` is set)
    error: str | None = None


@runtime_checkable
class Source(Protocol):
    #: the source kind: "file", "sql", "http", "mqtt", "stdin"
    kind: str

    def source_id(self) -> str:
        """The default source id on the ledger (follows ``records.check_identifier``), stable
        across runs over the same input, so a re-run continues the same chain."""

    def rows(self, after: Any | None = None) -> Iterator[Row]:
        """The items after position ``after`` (None: from the beginning), in input order.
        A finite source ends; a live one (MQTT) runs until ``stop()`` is called."""

    def committed(self, position: Any) -> None:
        """Every item up to ``position`` is committed on the ledger (and recorded locally): a
        source that must acknowledge its input (an MQTT broker) may do so now."""

    def stop(self) -> None:
        """Ask a live source to end ``rows()`` soon (after Ctrl-C); finite sources ignore it."""

    def close(self) -> None:
        """Release files, connections and sockets."""


def derived_source_id(text: str, fallback: str = "source") -> str:
    """A default source id made from ``text`` (``"sql.shop.orders"``, a file's name):
    characters an identifier refuses become '-', a leading non-letter gets an 'f'
    (``2024 sales.csv`` → ``f2024-sales.csv``), nothing left gives ``fallback``, and a text
    longer than an identifier allows is cut and suffixed with a hash of the whole, so it
    stays distinct."""
    ident = _NOT_IN_ID.sub("-", text).strip("-.") or fallback
    if not ident[0].isalpha():
        ident = "f" + ident
    if len(ident) > 64:
        ident = ident[:51] + "-" + hashlib.sha256(ident.encode()).hexdigest()[:12]
    return check_identifier(ident, "a derived source id")
