"""Changing a stopped peer's block files in place, for tests that a changed ledger is named.

Bytes are replaced by others of the same length inside a transaction's arguments, so
protobuf framing, block lengths and the peer's block index (file offsets) all still hold
and the peer starts and serves the changed blocks as they are on its disk."""

from __future__ import annotations

from pathlib import Path


def block_files(net, peer) -> list[Path]:
    """The peer's block files of the network's channel, in order."""
    return sorted(net.layout.node_dir(peer).rglob(
        f"chains/chains/{net.spec.channel}/blockfile_*"))


def one_bit_flipped(data: bytes, width: int = 32) -> tuple[bytes, bytes]:
    """``(old, new)``: ``width`` bytes from the middle of ``data`` and the same with one bit
    of their middle byte flipped (a window wide enough to be found once)."""
    at, half = len(data) // 2, width // 2
    old = data[at - half:at + half]
    return old, old[:half] + bytes([old[half] ^ 1]) + old[half + 1:]


def replace_once(files: list[Path], old: bytes, new: bytes) -> tuple[Path, int, bytes]:
    """Overwrite ``old`` (found exactly once) with ``new`` of the same length, in place;
    returns what ``put_back`` needs (the peer appends blocks meanwhile, so the file is
    mended where it was changed, never rewritten whole)."""
    assert len(old) == len(new) and old != new
    for path in files:
        data = path.read_bytes()
        if data.count(old) == 1:
            at = data.index(old)
            with path.open("r+b") as f:
                f.seek(at)
                f.write(new)
            return path, at, old
    raise AssertionError("bytes to change not found exactly once in the block files")


def put_back(path: Path, at: int, old: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(at)
        f.write(old)
