"""The batch hashing in C (``ledgerlake/_digests.c``) gives the digests of the record rule
(``records.commitment``'s SHA-256(salt ‖ record), ``records.merkle_root``), and so does
``fastrecords``' hashlib fallback for an install without it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ledgerlake import fastrecords, records

salted = st.lists(st.tuples(st.binary(min_size=16, max_size=16), st.binary(max_size=300)),
                  max_size=70)


def test_the_extension_is_built():
    """scripts/install builds it (gcc, OpenSSL's headers): a silent build failure would
    only make every sync and ingest slower, so it is noticed here."""
    assert fastrecords._digests is not None


@pytest.fixture(params=["C", "hashlib"])
def implementation(request, monkeypatch):
    if request.param == "hashlib":
        monkeypatch.setattr(fastrecords, "_digests", None)
    return request.param


@settings(max_examples=300, deadline=None)
@given(salted)
def test_commitments_are_the_rules(pairs):
    for use_c in (True, False):
        module = fastrecords._digests if use_c else None
        original = fastrecords._digests
        fastrecords._digests = module
        try:
            salts = b"".join(s for s, _ in pairs)
            got = fastrecords.commitments(salts, [r for _, r in pairs])
        finally:
            fastrecords._digests = original
        assert got == b"".join(hashlib.sha256(s + r).digest() for s, r in pairs)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=140))
def test_merkle_roots_are_the_rules(leaves):
    expected = records.merkle_root(leaves)
    assert fastrecords.merkle_root(leaves) == expected
    assert fastrecords.root_of_digests(b"".join(leaves)) == expected
    original = fastrecords._digests
    fastrecords._digests = None
    try:
        assert fastrecords.merkle_root(leaves) == expected
        assert fastrecords.root_of_digests(b"".join(leaves)) == expected
    finally:
        fastrecords._digests = original


def test_no_leaves_and_one_leaf(implementation):
    assert fastrecords.root_of_digests(b"") == records.merkle_root([])
    leaf = hashlib.sha256(b"x").digest()
    assert fastrecords.root_of_digests(leaf) == leaf == records.merkle_root([leaf])
    assert fastrecords.commitments(b"", []) == b""


def test_bad_shapes_are_refused(implementation):
    with pytest.raises(ValueError):
        fastrecords.commitments(b"s" * 15, [b"r"])  # a salt one byte short
    with pytest.raises(ValueError):
        fastrecords.root_of_digests(b"d" * 33)


def test_the_extension_checks_what_it_is_given():
    """Called directly, it refuses offsets that fall or run past the data (no read outside
    the buffers) and leaves that are not 32-byte digests."""
    c = fastrecords._digests
    salts = b"s" * 32
    with pytest.raises(ValueError):
        c.commitments(salts, b"abc", np.array([2, 1], np.int64).tobytes())
    with pytest.raises(ValueError):
        c.commitments(salts, b"abc", np.array([1, 4], np.int64).tobytes())
    with pytest.raises(ValueError):
        c.commitments(salts, b"abc", np.array([1, 2, 3], np.int64).tobytes())
    with pytest.raises(ValueError):
        c.commitments(salts, b"abc", b"1234567")  # not whole int64s
    with pytest.raises(ValueError):
        c.merkle_root(b"")
    with pytest.raises(ValueError):
        c.merkle_root(b"x" * 31)
    assert c.commitments(salts, b"abc", np.array([1, 3], np.int64).tobytes()) == \
        hashlib.sha256(b"s" * 16 + b"a").digest() + hashlib.sha256(b"s" * 16 + b"bc").digest()
