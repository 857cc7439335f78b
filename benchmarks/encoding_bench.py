"""Batch payload encoding, measured: per-record canonical JSON (the format) against Arrow
IPC (pyarrow), on the way in (validate + commit + encode + encrypt) and on the way out
(decrypt + decode + verify with the one record rule), and the public fields as a list of
per-record objects (the format) against columns, with the chaincode's checks of each.

    python benchmarks/encoding_bench.py [--records 10000] [--rounds 5] [--no-append]

Every variant commits to the same records the same way (``SHA-256(salt ‖ canonical
record)``, the commitment any language reproduces), so only the container differs. Times
are process CPU, best of ``--rounds``; results are appended to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

sys.path.insert(0, str(Path(__file__).parent))
import machine  # noqa: E402
import records_bench  # noqa: E402

from ledgerlake import records  # noqa: E402
from ledgerlake.client import encryption  # noqa: E402

AD = b"stream|source|1|1"


def best(fn, rounds: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(rounds):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return min(times), out


def json_in(schema, rows, key, encoding="json"):
    normal = [records.validate_record(schema, r, "record") for r in rows]
    salts = [os.urandom(16) for _ in normal]
    leaves, plaintext = records.seal_records(normal, salts)
    sealed = encryption.encrypt(key, records.encode_plaintext(plaintext, encoding), AD)
    return sealed, records.merkle_root(leaves)


def json_out(schema, batch, key, sealed, encoding="json"):
    nonce, ciphertext = sealed
    plaintext = records.decode_plaintext(encryption.decrypt(key, nonce, ciphertext, AD),
                                         encoding, "payload")
    content = records.parse_json(plaintext, "plaintext")
    return records.verified_records(schema, batch, content["records"], content["salts"])


def arrow_schema(schema: records.Schema) -> pa.Schema:
    kinds = {"int": pa.int64(), "timestamp": pa.int64(), "float": pa.float64(),
             "string": pa.string(), "bool": pa.bool_()}
    return pa.schema([pa.field(f.name, kinds[f.type]) for f in schema.fields]
                     + [pa.field("_salt", pa.binary(16))])


def arrow_in(schema, rows, key, compression=None):
    normal = [records.validate_record(schema, r, "record") for r in rows]
    salts = [os.urandom(16) for _ in normal]
    leaves = [records.commitment(s, r) for s, r in zip(salts, normal)]
    columns = {f.name: [r.get(f.name) for r in normal] for f in schema.fields}
    columns["_salt"] = salts
    table = pa.Table.from_pydict(columns, schema=arrow_schema(schema))
    sink = io.BytesIO()
    options = ipc.IpcWriteOptions(compression=compression)
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return encryption.encrypt(key, sink.getvalue(), AD), records.merkle_root(leaves)


def arrow_out(schema, batch, key, sealed):
    nonce, ciphertext = sealed
    table = ipc.open_stream(encryption.decrypt(key, nonce, ciphertext, AD)).read_all()
    salts = [s.hex() for s in table.column("_salt").to_pylist()]
    rows = table.drop(["_salt"]).to_pylist()
    return records.verified_records(schema, batch, rows, salts)


def public_rows_check(schema, text):
    """The check the format made of a list of per-record objects (before the columns)."""
    batch = records.parse_json(text, "batch")
    wanted = {f.name for f in schema.public_fields}
    out = []
    for i, p in enumerate(batch["public"]):
        if not isinstance(p, dict) or set(p) != wanted:
            raise records.RecordError(f"batch.public[{i}] must hold exactly the public fields")
        out.append({f.name: records.check_value(f, p[f.name], f"batch.public[{i}]")
                    for f in schema.public_fields})
    return out


def public_columns_check(schema, text):
    batch = records.parse_json(text, "batch")
    out = {}
    for f in schema.public_fields:
        column = batch["public"][f.name]
        out[f.name] = [records.check_value(f, v, f"batch.public.{f.name}[{i}]")
                       for i, v in enumerate(column)]
    return out


def compare(fields: int, n: int, rounds: int) -> list[str]:
    schema = records.Schema.from_mapping(records_bench.schema(fields))
    rows = records_bench.rows(fields, 0, 0, n)
    key = encryption.new_data_key()
    lines = [f"\n  {fields}-field schema, {n:,} records per batch (µs per record; bytes per "
             f"record of ciphertext):\n",
             "  | payload | in: validate + commit + encode + encrypt | out: decrypt + decode + "
             "verify | ciphertext bytes |", "  |---|---|---|---|"]
    variants = [("canonical JSON", json_in, json_out),
                ("canonical JSON, deflate (the format's default)",
                 lambda s, r, k: json_in(s, r, k, "json+deflate"),
                 lambda s, b, k, c: json_out(s, b, k, c, "json+deflate")),
                ("Arrow IPC", arrow_in, arrow_out),
                ("Arrow IPC, zstd", lambda s, r, k: arrow_in(s, r, k, "zstd"), arrow_out),
                ("Arrow IPC, lz4", lambda s, r, k: arrow_in(s, r, k, "lz4"), arrow_out)]
    for name, enc, dec in variants:
        t_in, (sealed, root) = best(lambda: enc(schema, rows, key), rounds)
        batch = {"record_count": n, "merkle_root": root.hex(),
                 "public": records.public_columns(
                     schema, [records.validate_record(schema, r) for r in rows])}
        t_out, (opened, _) = best(lambda: dec(schema, batch, key, sealed), rounds)
        assert opened == [records.validate_record(schema, r) for r in rows], name
        lines.append(f"  | {name} | {t_in / n * 1e6:.2f} | {t_out / n * 1e6:.2f} | "
                     f"{len(sealed[1]) / n:.1f} |")
        print(lines[-1], flush=True)
    if schema.public_fields:
        normal = [records.validate_record(schema, r) for r in rows]
        public = [{f.name: r.get(f.name) for f in schema.public_fields} for r in normal]
        as_rows = records.canonical({"public": public})
        as_columns = records.canonical({"public": {f.name: [p[f.name] for p in public]
                                                   for f in schema.public_fields}})
        t_rows, _ = best(lambda: public_rows_check(schema, as_rows), rounds)
        t_cols, _ = best(lambda: public_columns_check(schema, as_columns), rounds)
        t_rows_c, _ = best(lambda: records.canonical({"public": public}), rounds)
        t_cols_c, _ = best(lambda: records.canonical(records.parse_json(as_columns)), rounds)
        lines += [f"\n  public fields ({', '.join(f.name for f in schema.public_fields)}), "
                  f"as the chaincode reads them (parse + check each value) and writes them "
                  f"(canonical):\n",
                  "  | form | bytes per record | parse + check µs/record | canonical µs/record |",
                  "  |---|---|---|---|",
                  f"  | list of objects (before) | {len(as_rows) / n:.1f} | "
                  f"{t_rows / n * 1e6:.2f} | {t_rows_c / n * 1e6:.2f} |",
                  f"  | columns (the format) | {len(as_columns) / n:.1f} | {t_cols / n * 1e6:.2f} | "
                  f"{t_cols_c / n * 1e6:.2f} |"]
        print("\n".join(lines[-5:]), flush=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-append", action="store_true")
    opts = ap.parse_args()
    lines = [f"- pyarrow {pa.__version__}; process CPU, best of {opts.rounds} rounds, one "
             f"process (the machine was shared with other sessions' work)"]
    for fields in (3, 10):
        lines += compare(fields, opts.records, opts.rounds)
    if not opts.no_append:
        machine.append("Batch payload encoding (issue 8)", lines)


if __name__ == "__main__":
    main()
