"""Issue 9's sync benchmark: 1,000,000 ingested records (the ingestion benchmark's ten-field
schema, 4 sources, 20,000-record batches) synced from the ledger into a fresh Parquet lake
by ``analytics.sync.sync`` (what ``ledgerlake sync`` runs): blocks read from a peer's
Deliver service and checked, batches decrypted, every record decided by the record rule,
rows converted to Arrow and written.

    python benchmarks/sync_bench.py [--records 1000000] [--workers 2 0] [--no-append]

Each ``--workers`` value (threads opening batches; 0: the sync's own thread) syncs into its
own fresh lake, in a child process. Reported: records/s, CPU seconds per record (the sync
process, all its threads), its peak memory, how busy the whole machine was meanwhile, and
a profile of one batch: where the per-record microseconds go. Results are appended to
benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import ingest_bench  # noqa: E402
import machine  # noqa: E402

BASE_PORT = machine.base_port(26800)


def child(state_dir: str, lake_dir: str, workers: int) -> None:
    """The sync itself, as Org1's analyst; prints its figures as JSON."""
    from ledgerlake.analytics.sync import keep_freed_memory, sync
    from ledgerlake.client.streams import org_private_keys
    from ledgerlake.network import LocalNetwork

    keep_freed_memory()  # as `ledgerlake sync` does
    net = LocalNetwork(state_dir)
    with net.contract("Org1", "analyst") as api:
        t0, c0 = time.monotonic(), time.process_time()
        summary = sync(api.contract.network, api, lake_dir,
                       org_private_keys(net.org_key_path("Org1")), workers=workers)
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"records": summary.records, "blocks": summary.blocks,
                      "files": summary.files, "seconds": wall, "cpu": cpu,
                      "children_cpu": kids.ru_utime + kids.ru_stime,
                      "peak_mib": own.ru_maxrss / 1024, "child_peak_mib": kids.ru_maxrss / 1024}))


def profile_one_batch(records_per_batch: int = 20_000) -> list[str]:
    """Where one batch's per-record CPU time goes, stage by stage (least of 5 runs, this
    process)."""
    from ledgerlake import records
    from ledgerlake.analytics import sync
    from ledgerlake.client import encryption
    from ledgerlake.client.batches import seal_batch
    import io
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = records.Schema.from_mapping(ingest_bench.SCHEMA)
    now = time.time_ns()
    rows = [{"sensor": f"s-{i % 50}", "value": (i % 1000) * 0.25, "ts": now - i * 1000,
             "temperature_c": 20 + (i % 70) / 10, "humidity": (i % 1000) / 10,
             "pressure_hpa": 1013.25 - (i % 30), "battery": i % 101, "site": f"site-{i % 7}",
             "ok": i % 13 != 0, "seq_no": i} for i in range(records_per_batch)]
    key = encryption.new_data_key()
    sealed = seal_batch(stream="s", source="a", seq=1, prev_hash="", schema=schema,
                        rows=rows, data_key=key, key_epoch=1)
    batch = {**sealed.batch, "ciphertext": sealed.ciphertext}
    payload = sealed.batch["payload"]
    aad = encryption.associated_data("s", "a", 1, 1)

    def best(fn):  # CPU time, least of 5: the steadiest figure on a shared machine
        times = []
        for _ in range(5):
            t = time.process_time()
            result = fn()
            times.append(time.process_time() - t)
        return min(times) / records_per_batch * 1e6, result

    stages = []
    us, plain = best(lambda: records.decode_plaintext(encryption.decrypt(
        key, encryption.b64decode(payload["nonce"], "nonce"), sealed.ciphertext, aad,
        what="p"), payload["encoding"], "p"))
    stages.append(("decrypt (AES-GCM) + inflate", us))
    us, content = best(lambda: records.parse_json(plain))
    stages.append(("strict JSON parse of the plaintext (records.parse_json)", us))
    recs, salts, _ = records.batch_plaintext(content)
    us, normal = best(lambda: [records.validate_record(schema, r) for r in recs])
    stages.append(("validate + normalise each record (records.validate_record)", us))
    us, encoded = best(lambda: [records.canonical(r) for r in normal])
    stages.append(("canonical JSON of each record (RFC 8785)", us))
    import hashlib
    us, _ = best(lambda: [hashlib.sha256(bytes.fromhex(s) + e).digest()
                          for s, e in zip(salts, encoded)])
    stages.append(("SHA-256(salt ‖ record) per record", us))
    schema_bytes = records.canonical(ingest_bench.SCHEMA)
    us_all, table = best(lambda: sync.open_rows(schema_bytes, batch, key))
    from ledgerlake.client.batches import open_batch_verified
    us_ref, _ = best(lambda: open_batch_verified(schema, batch, key))
    us_fast, _ = best(lambda: sync.open_fast(schema, batch, key))
    from ledgerlake import fastrecords
    from ledgerlake.client.batches import checked_batch

    header, _ = checked_batch(batch, schema=schema)
    types = [f.type for f in sync._arrow_fields(records.canonical(ingest_bench.SCHEMA))[0]]
    us_columns, _ = best(lambda: fastrecords.open_columns(schema, header, plain))
    us_arrow, _ = best(lambda: fastrecords.open_arrow(schema, header, plain, types))
    us, _ = best(lambda: pa.Table.from_pylist(normal))
    stages.append(("records into Arrow columns", us))
    provenance = {"_block": 5, "_tx": 0, "_tx_id": "a" * 64, "_tx_time": now,
                  "_batch_id": "b" * 64, "_producer_msp": "Org1MSP", "_producer_id": "p",
                  "_source": "a", "_seq": 1, "_epoch": 1}
    us, full = best(lambda: sync._with_provenance(table, provenance, ingest_bench.SCHEMA))
    stages.append(("provenance columns", us))
    us, _ = best(lambda: pq.write_table(full, io.BytesIO()))
    stages.append(("Parquet encoding (snappy)", us))
    lines = ["| stage (one 20,000-record batch, one core; CPU time, least of 5) | µs/record |",
             "|---|---|"]
    lines += [f"| {name} | {us:.2f} |" for name, us in stages]
    lines.append(f"| the record rule as open_batch_verified decides it (decrypt … commitments) "
                 f"| {us_ref:.2f} |")
    lines.append(f"| the same decision by sync.open_fast (lenient parse of canonical text) "
                 f"| {us_fast:.2f} |")
    lines.append(f"| the decision on the decoded plaintext by fastrecords.open_columns "
                 f"(msgspec; Python lists) | {us_columns:.2f} |")
    lines.append(f"| the same by fastrecords.open_arrow (ledgerlake/_plaintext.c: Arrow "
                 f"buffers; commitments and root included) | {us_arrow:.2f} |")
    lines.append(f"| open_rows in all (decrypt, inflate, open_arrow, Arrow table: what a "
                 f"pool thread runs) | {us_all:.2f} |")
    return lines


def run(count: int, worker_counts: list[int]) -> list[dict]:
    from ledgerlake.client.streams import create_stream
    from ledgerlake.network import LocalNetwork, NetworkSpec

    results = []
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        state, data = Path(tmp) / "state", Path(tmp) / "data"
        data.mkdir()
        sources = 4
        files = []
        for s in range(sources):
            path = data / f"line-{s + 1}.csv"
            ingest_bench.write_csv(path, s, count // sources + (1 if s < count % sources else 0))
            files.append(str(path))
        net = LocalNetwork(state, NetworkSpec(base_port=BASE_PORT))
        net.up()
        try:
            with net.contract("Org1", "admin") as admin:
                create_stream(admin, ingest_bench.STREAM, ingest_bench.SCHEMA,
                              readers=["Org1MSP", "Org2MSP"], writers=["Org1MSP"])
            net.settle()
            out = subprocess.run([sys.executable, ingest_bench.__file__, "--child", str(state),
                                  "20000", "auto", *files], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"the ingest failed:\n{out.stderr[-3000:]}")
            ingested = json.loads(out.stdout.strip().splitlines()[-1])["committed"]
            for workers in worker_counts:
                lake_dir = Path(tmp) / f"lake-{workers}"
                busy0, t0 = machine.machine_busy_seconds(), time.monotonic()
                out = subprocess.run([sys.executable, __file__, "--child", str(state),
                                      str(lake_dir), str(workers)],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(f"the sync failed:\n{out.stderr[-3000:]}")
                result = json.loads(out.stdout.strip().splitlines()[-1])
                result.update(workers=workers, ingested=ingested,
                              busy=(machine.machine_busy_seconds() - busy0) /
                              (time.monotonic() - t0))
                results.append(result)
                print(json.dumps(result), flush=True)
        finally:
            net.down(purge=True)
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 0])
    parser.add_argument("--no-append", action="store_true")
    opts = parser.parse_args()
    lines = ["| records | threads opening batches | blocks | files | records/s | CPU µs/record "
             "| peak MiB | machine busy |", "|---|---|---|---|---|---|---|---|"]
    for r in run(opts.records, opts.workers):
        cpu = r["cpu"] + r["children_cpu"]
        line = (f"| {r['records']:,} | {r['workers'] or 'none (the sync thread)'} | "
                f"{r['blocks']:,} | {r['files']:,} | {r['records'] / r['seconds']:,.0f} | "
                f"{cpu / max(r['records'], 1) * 1e6:.1f} | {r['peak_mib']:.0f} | "
                f"{r['busy'] * 100:.0f}% |")
        print(line, flush=True)
        lines.append(line)
    profile = profile_one_batch()
    print("\n".join(profile))
    if not opts.no_append:
        machine.append("Sync: 1M ingested records from the ledger into the Parquet lake "
                       "(issue 9)", lines + [""] + profile + [
            "", "`benchmarks/sync_bench.py`: `analytics.sync.sync` (what `ledgerlake sync` "
                "runs) in a child process as Org1's analyst, into a fresh lake per row, "
                "after ingesting the records with the ingestion benchmark's pipeline (ten "
                "fields, 4 sources, 20,000-record batches). records/s covers read + "
                "check every block + decrypt + the record rule + Arrow + Parquet. The "
                "machine's speed varies by the hour (the speed line above): compare rows "
                "taken back to back; CPU µs/record is the steadier figure."])


if __name__ == "__main__":
    main()
