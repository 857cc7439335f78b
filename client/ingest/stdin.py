"""Standard input as a source: JSON Lines, one record per line.

The position is the number of lines read; a re-run resumes by skipping that many lines of
the input fed to it again (feed it the same input from its start)."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO, Iterator

from ledgerlake.client.ingest.files import json_lines
from ledgerlake.client.ingest.source import Row
from ledgerlake.errors import ConfigError


#: The options ``from_cli`` takes (CLI: --format, jsonl only).
CLI_OPTIONS = ("format",)


class StdinSource:
    """JSON Lines from a binary stream (standard input unless ``stream`` is given)."""

    kind = "stdin"

    def __init__(self, stream: BinaryIO | None = None, *, name: str = "standard input"):
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.name = name

    def source_id(self) -> str:
        return "stdin"

    def rows(self, after: Any | None = None) -> Iterator[Row]:
        if after is not None and (not isinstance(after, dict) or
                                  not isinstance(after.get("line"), int)):
            raise ConfigError(f"a standard input position must be {{line}}, not {after!r:.80}")
        skip = after["line"] if after else 0
        return json_lines(self.stream, self.name, skip, lambda n: {"line": n})

    def committed(self, position: Any) -> None:
        """Nothing to acknowledge."""

    def stop(self) -> None:
        """Standard input ends with its writer."""

    def close(self) -> None:
        """The caller owns standard input."""


def from_cli(spec: str, options) -> StdinSource:
    """``-``: standard input, as JSON Lines."""
    if options.get("format") not in (None, "jsonl"):
        raise ConfigError("standard input is read as JSON Lines only (--format jsonl)")
    return StdinSource()
