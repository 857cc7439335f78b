"""CPU per record of the one record rule, both directions, reference (``records``, Python)
against ``fastrecords`` (msgspec, C), on the ten-field sensor schema of ingest_bench.py and
records_bench.py. No network: process time of this process only.

    python benchmarks/rule_bench.py [--records 10000] [--repeat 5] [--no-append]

Sealing: rows → normalised records → canonical bytes, commitments, plaintext, Merkle root
(ingest's per-row validation, or seal_batch's whole-batch one). Opening: a batch's
plaintext → records, commitments, decision (what open_batch_verified and the sync's
open_fast do after decrypting), and open_batch_verified whole (with AES-GCM and zlib).
Also counts what the fast path left to the reference in the benchmark's data.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import machine  # noqa: E402
import records_bench  # noqa: E402

from ledgerlake import fastrecords, records  # noqa: E402
from ledgerlake.analytics import sync  # noqa: E402
from ledgerlake.client import batches, encryption  # noqa: E402


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-append", action="store_true")
    opts = ap.parse_args()
    n = opts.records
    schema = records.Schema.from_mapping(records_bench.schema(10))
    rows = records_bench.rows(10, 0, 0, n)
    salts = [os.urandom(16) for _ in rows]
    normal = [records.validate_record(schema, r) for r in rows]
    key = encryption.new_data_key()

    def ref_seal():
        ok = [records.validate_record(schema, r, f"record {i}") for i, r in enumerate(rows)]
        leaves, _ = records.seal_records(ok, salts)
        records.merkle_root(leaves)

    def fast_seal_batch():
        leaves, _ = fastrecords.seal(schema, fastrecords.validate_records(schema, rows), salts)
        records.merkle_root(leaves)

    def fast_seal_ingest():  # the pipeline validates each row alone, seal_batch seals
        ok = [fastrecords.validate_record(schema, r, "row") for r in rows]
        leaves, _ = fastrecords.seal(schema, ok, salts)
        records.merkle_root(leaves)

    leaves, plaintext = records.seal_records(normal, salts)
    header = {"record_count": n, "merkle_root": records.merkle_root(leaves).hex(),
              "public": records.validate_public_columns(
                  schema, records.public_columns(schema, normal), n)}

    def ref_open():
        got, salt_list, _ = records.batch_plaintext(records.parse_json(plaintext))
        records.verified_records(schema, header, got, salt_list)

    def fast_open():
        assert fastrecords.open_plaintext(schema, header, plaintext) is not None

    sealed = batches.seal_batch(stream="s", source="x", seq=1, prev_hash="", schema=schema,
                                rows=rows, data_key=key, key_epoch=1)
    real = fastrecords.open_plaintext

    def whole_open():
        batches.open_batch_verified(schema, sealed.batch, key, ciphertext=sealed.ciphertext)

    def whole_sync():
        sync.open_fast(schema, sealed.batch, key, sealed.ciphertext)

    per = {}
    per["seal, reference (validate_record per row, seal_records, Merkle root)"] = ref_seal
    per["seal, fast, seal_batch (validate_records, seal, Merkle root)"] = fast_seal_batch
    per["seal, fast, ingest (validate_record per row, seal, Merkle root)"] = fast_seal_ingest
    per["open, reference (parse_json, verified_records)"] = ref_open
    per["open, fast (open_plaintext)"] = fast_open
    out = {k: _best(fn, opts.repeat) / n * 1e6 for k, fn in per.items()}
    for label, fn in (("open_batch_verified (AES-GCM, zlib, the rule)", whole_open),
                      ("sync open_fast (AES-GCM, zlib, the rule)", whole_sync)):
        fastrecords.open_plaintext = lambda *a: None  # the previous code path
        try:
            out[f"{label}, before"] = _best(fn, opts.repeat) / n * 1e6
        finally:
            fastrecords.open_plaintext = real
        out[f"{label}, after"] = _best(fn, opts.repeat) / n * 1e6

    codec = fastrecords.codec(schema)
    _, odd = fastrecords._written(codec, normal)
    integral = sum(1 for r in normal for f in codec.floats if r[f].is_integer())
    floats = len(normal) * len(codec.floats)
    lines = [f"- load average before the run (1/5/15 min): "
             f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())} (other sessions' work: "
             f"CPU time is what counts; wall time would be inflated)",
             f"- {n:,} records of the 10-field schema, best of {opts.repeat}, CPU µs per "
             f"record (process_time):\n", "  | path | µs/record |", "  |---|---|"]
    lines += [f"  | {k} | {v:.2f} |" for k, v in out.items()]
    lines.append(f"\n- left to the reference in this data: {len(odd)} of {n:,} records when "
                 f"sealing, none when opening (integral doubles: {integral:,} of {floats:,} "
                 f"float values, written as integers by the fast path; every ts beyond "
                 f"2^53 written as its decimal string)")
    print("\n".join(lines), flush=True)
    if not opts.no_append:
        machine.append("The record rule's CPU per record, reference against fastrecords "
                       "(issues 8 and 9)", lines)


if __name__ == "__main__":
    main()
