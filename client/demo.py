"""The demo, for any network: the README's main job and a quick round trip.

``run_story`` is the main job: a public dataset (pvlib's weather stations, defects planted
on purpose, ``analytics.dataset``) → one stream per organisation (the first owns two
stations, the second one; both organisations read both) → ingestion of the CSV files by
each owner's producer, the plaintext checked by every organisation's endorser → the sync
of the ledger into a verified Parquet lake → the analysis on Dask → the HTML report and
its lineage receipt anchored on-chain → ``verify report`` by the other organisation → what
was found against what was planted. Each stage is exactly once: a second run finds the
streams, ingests nothing new (the ingest state and the chains on the ledger), syncs only
the blocks past the lake's checkpoint, and says so.

``run_demo`` is the quick round trip: create the demo stream (when absent), open it as the
first organisation's analyst (an audited ticket, then its wrapped data key, unwrapped with
the organisation's own key), submit one encrypted batch as its producer with the plaintext
checked by every organisation's endorser, read the batch back and decrypt it.

The CLI's ``ledgerlake demo`` adds the local network around either."""

from __future__ import annotations

import json
import random
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ledgerlake.client.batches import seal_batch
from ledgerlake.client.ingest.files import FileSource
from ledgerlake.client.models import Batch, BatchReceipt, Stream
from ledgerlake.client.streams import Settle, create_stream, open_data_keys
from ledgerlake.errors import DecryptionError, EndorseError, LedgerlakeError
from ledgerlake.protocol import ErrorCode

SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "unit": "°C", "min": -40, "max": 125},
    {"name": "ts", "type": "timestamp"}]}
SOURCE = "demo-line"
DESCRIPTION = "ledgerlake demo: temperatures of a production line"

#: ``api_for("Org1/analyst")`` opens the typed API as that identity (a context manager).
ApiFor = Callable[[str], AbstractContextManager]


@dataclass(frozen=True)
class DemoRun:
    stream: Stream
    created: bool
    receipt: BatchReceipt
    written: list
    read: list
    stored: Batch
    commit_seconds: float


def demo_stream(api, name: str, msp_ids: Sequence[str], settle: Settle = None) -> tuple:
    """The demo stream (readers: every organisation; writers: the first), created when
    absent; an existing one is used as it is. Returns ``(stream, created)``."""
    try:
        return api.get_stream(name), False
    except EndorseError as exc:
        if exc.error_code is not ErrorCode.NOT_FOUND:
            raise
    made = create_stream(api, name, SCHEMA, readers=list(msp_ids), writers=[msp_ids[0]],
                         description=DESCRIPTION)
    if settle is not None:
        settle()
    return made.stream, made.created


def run_demo(api_for: ApiFor, orgs: Sequence[tuple[str, str]],
             org_keys: Sequence[X25519PrivateKey], *, stream_name: str = "demo-sensors",
             count: int = 3, settle: Settle = None) -> DemoRun:
    """Write ``count`` records to the demo stream as ``orgs[0]``'s producer and read them
    back. ``orgs``: ``(name, msp_id)`` of every organisation (the first writes and reads);
    ``org_keys``: the first organisation's private keys, current first."""
    first, msp_ids = orgs[0][0], [m for _, m in orgs]
    with api_for(f"{first}/admin") as admin:
        stream, created = demo_stream(admin, stream_name, msp_ids, settle)
    with api_for(f"{first}/analyst") as analyst:
        try:
            data_keys = open_data_keys(analyst, stream_name,
                                       "ledgerlake demo: write and read back", org_keys)
        except DecryptionError:
            raise LedgerlakeError(f"stream {stream_name!r} was created for another "
                                  f"{msp_ids[0]} key than this network's; use --stream NEW") \
                from None
        data_key = data_keys[stream.epoch]
        last = max(analyst.items(analyst.list_batches, stream_name, source=SOURCE),
                   key=lambda b: b.seq, default=None)
    now = time.time_ns()
    rows = [{"sensor": f"t{i + 1}", "temperature_c": round(random.uniform(18, 26), 2),
             "ts": now - (count - 1 - i) * 10**9} for i in range(count)]  # one a second
    sealed = seal_batch(stream=stream_name, source=SOURCE, seq=last.seq + 1 if last else 1,
                        prev_hash=last.id if last else "", schema=stream.schema, rows=rows,
                        data_key=data_key, key_epoch=stream.epoch)
    started = time.monotonic()
    with api_for(f"{first}/producer") as producer:
        receipt = producer.submit_batch(sealed, send_plaintext=True,
                                        endorsing_organizations=sorted(msp_ids))
    commit_seconds = time.monotonic() - started
    with api_for(f"{first}/analyst") as analyst:
        stored = analyst.get_batch(stream_name, receipt.id)
    read = stored.open(data_key, stream.schema)
    if read != rows:
        raise LedgerlakeError(f"batch {receipt.id} read back differs from what was written")
    return DemoRun(stream, created, receipt, rows, read, stored, commit_seconds)


# -- the main job ------------------------------------------------------------------------------
#: The streams of the story: (stream, stations) per organisation, in the network's order.
STORY_STREAMS = (("weather-org1", ("sand-point", "greensboro")), ("weather-org2", ("miami",)))
STORY_DESCRIPTION = "ledgerlake demo: hourly readings of {names} (pvlib TMY, year {year})"
#: Records per batch: each station's year is a short chain of batches.
STORY_BATCH_SIZE = 2000
STAGES = ("dataset", "streams", "ingest", "sync", "analyze", "report", "verify")

Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class StreamPlan:
    stream: str
    org: str       # the owner organisation's name (Org1)
    msp_id: str
    stations: tuple[str, ...]


@dataclass
class Story:
    """What each stage of ``run_story`` did."""

    work_dir: Path
    data_dir: Path
    lake_dir: Path
    manifest: dict
    plans: list[StreamPlan]
    created: dict[str, bool] = field(default_factory=dict)
    ingests: dict[str, Any] = field(default_factory=dict)     # stream -> IngestSummary
    reject_files: dict[str, Path] = field(default_factory=dict)
    sync: Any = None                                          # SyncSummary
    out_dir: Path | None = None
    results: dict = field(default_factory=dict)
    report: Path | None = None
    anchor: dict = field(default_factory=dict)
    reused: bool = False  # the analysis of an earlier run was still current
    verified: Any = None                                      # VerifyResult
    findings: list = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def committed(self) -> int:
        return sum(s.committed for s in self.ingests.values())

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.ingests.values())


def plan_streams(orgs: Sequence[tuple[str, str]]) -> list[StreamPlan]:
    """The story's streams on this network: the first organisation owns the first, the
    second the other (with one organisation, it owns both)."""
    if not orgs:
        raise LedgerlakeError("the demo needs at least one organisation")
    return [StreamPlan(stream, *orgs[min(i, len(orgs) - 1)], stations)
            for i, (stream, stations) in enumerate(STORY_STREAMS)]


class StationFile(FileSource):
    """A station's CSV file as an ingest source whose chain is named after the station."""

    def __init__(self, path: str | Path, station: str):
        super().__init__(path)
        self.station = station

    def source_id(self) -> str:
        return self.station


def _stage(story: Story, name: str, progress: Progress | None, started: float,
           text: str) -> None:
    story.seconds[name] = time.monotonic() - started
    if progress is not None:
        progress(name, text)


def run_story(api_for: ApiFor, orgs: Sequence[tuple[str, str]],
              org_key_paths: Mapping[str, Path], *, state_dir: str | Path,
              work_dir: str | Path | None = None, lake_dir: str | Path | None = None,
              analysis_dir: str | Path | None = None, scheduler: str | None = None,
              reanalyze: bool = False, seed: int | None = None, settle: Settle = None,
              progress: Progress | None = None) -> Story:
    """The main job, stage by stage (``STAGES``); ``progress(stage, text)`` after each.

    ``api_for("Org1/producer")`` opens the typed API as a wallet identity; ``orgs`` are
    ``(name, msp_id)`` of the network's organisations; ``org_key_paths`` each one's X25519
    private key file. Files go under ``work_dir`` (default ``<state>/demo``: the dataset and
    the reject files), the lake under ``lake_dir`` (``<state>/lake``, the sync's default)
    and each analysis in a new folder of ``analysis_dir`` (``<state>/analysis``). When
    the newest demo analysis there is still current (``current_analysis``: nothing new
    reached the lake since), it stands and is verified again; ``reanalyze`` runs a new
    one anyway."""
    from ledgerlake.analytics import dataset

    state = Path(state_dir)
    work = Path(work_dir) if work_dir is not None else state / "demo"
    lake = Path(lake_dir) if lake_dir is not None else state / "lake"
    analyses = Path(analysis_dir) if analysis_dir is not None else state / "analysis"
    plans = plan_streams(orgs)

    started = time.monotonic()
    data = work / "data"
    manifest = dataset.prepare(data, seed=dataset.SEED if seed is None else seed)
    story = Story(work, data, lake, manifest, plans)
    t = manifest["totals"]
    _stage(story, "dataset", progress, started,
           f"{len(manifest['stations'])} weather stations, {t['rows']:,} rows in {data} "
           f"(planted: {t['rejected']} bad rows, {t['duplicates']} duplicates, "
           f"{t['missing']} missing values, {t['out_of_order']} out of order of which "
           f"{t['late']} late, {t['anomalies']} anomalies; {dataset.MANIFEST})")

    started = time.monotonic()
    msp_ids = sorted({m for _, m in orgs})
    for plan in plans:
        names = ", ".join(manifest["stations"][s]["name"] for s in plan.stations)
        with api_for(f"{plan.org}/admin") as admin:
            made = create_stream(admin, plan.stream, dataset.SCHEMA, readers=msp_ids,
                                 writers=[plan.msp_id],
                                 description=STORY_DESCRIPTION.format(names=names,
                                                                      year=manifest["year"]),
                                 max_age_seconds=dataset.MAX_AGE_SECONDS)
        story.created[plan.stream] = made.created
    if any(story.created.values()) and settle is not None:
        settle()
    _stage(story, "streams", progress, started, "; ".join(
        f"{p.stream} ({p.msp_id}: {', '.join(p.stations)}) "
        f"{'created' if story.created[p.stream] else 'already there'}" for p in plans)
        + f"; readers {', '.join(msp_ids)}")

    started = time.monotonic()
    _ingest_all(story, api_for, org_key_paths, state, msp_ids)
    _stage(story, "ingest", progress, started, "; ".join(
        f"{stream}: {s.committed:,} committed in {s.batches} batches, {s.rejected} rejected"
        f" ({', '.join(f'{x.source} {x.resumed}' for x in s.sources)})"
        for stream, s in story.ingests.items()))

    from ledgerlake.client.streams import org_private_keys

    first = plans[0]
    started = time.monotonic()
    from ledgerlake.analytics.sync import sync

    with api_for(f"{first.org}/analyst") as analyst:
        story.sync = sync(analyst.contract.network, analyst, lake,
                          org_private_keys(org_key_paths[first.org]))
    s = story.sync
    _stage(story, "sync", progress, started,
           f"{s.records:,} new records from {s.blocks} blocks verified, decrypted and "
           f"written to {lake} (synced to block {s.synced_to})")

    started = time.monotonic()
    from ledgerlake.analytics import lineage, report

    streams = [p.stream for p in plans]
    current = None if reanalyze else current_analysis(analyses, lake, streams)
    if current is not None:  # nothing new since: its results, report and anchor stand
        story.out_dir, story.reused = current, True
        story.results = json.loads((current / "results.json").read_text())
        story.report = current / "report.html"
        story.anchor = json.loads((current / "lineage.json").read_text())
        _stage(story, "analyze", progress, started,
               f"nothing new since {current.name} ({story.results['inputs']['rows']:,} rows, "
               f"the lake's records): its results stand, not run again "
               f"(--reanalyze runs it anyway)")
        _stage(story, "report", progress, started,
               f"{story.report}; lineage receipt {_anchor_text(story.anchor)}")
    else:
        from ledgerlake.analytics.analyze import analyze

        run_dir = analyses / datetime.now(timezone.utc).strftime("demo-%Y%m%dT%H%M%S%fZ")
        story.out_dir = run_dir
        story.results = analyze(lake, run_dir, streams=streams, scheduler=scheduler)
        cluster = story.results.get("run", {}).get("cluster", {})
        inputs = story.results.get("inputs", {})
        _stage(story, "analyze", progress, started,
               f"{inputs.get('rows', 0):,} rows of blocks {inputs.get('blocks')} on a "
               f"{cluster.get('kind', '?')} Dask cluster ({cluster.get('workers', '?')} "
               f"workers) into {run_dir}")

        started = time.monotonic()
        story.report = Path(report.write_report(run_dir))
        with api_for(f"{first.org}/analyst") as analyst:
            story.anchor = lineage.record_run(analyst, run_dir)
        _stage(story, "report", progress, started,
               f"{story.report}; lineage receipt {_anchor_text(story.anchor)}")

    checker = plans[-1]
    started = time.monotonic()
    with api_for(f"{checker.org}/analyst") as analyst:
        story.verified = lineage.verify_report(analyst.contract.network, analyst,
                                               org_private_keys(org_key_paths[checker.org]),
                                               story.report)
    _stage(story, "verify", progress, started,
           f"as {checker.org}/analyst: {_verified_text(story.verified)}")

    rejected = []
    for path in story.reject_files.values():
        if path.is_file():
            rejected += [json.loads(line) for line in path.read_text().splitlines() if line]
    story.findings = dataset.findings(manifest, story.results, story.out_dir, rejected)
    return story


def analysis_lines(results: Mapping) -> list[str]:
    """What an analysis found, a line per stream: rows, anomalies flagged, the forecast's
    error against its seasonal-naive baseline."""
    lines = []
    for stream, found in results.get("streams", {}).items():
        rows = found.get("quality", {}).get("rows")
        anomalies = found.get("anomalies", {}).get("count")
        text = f"{stream}: {rows:,} rows" if rows is not None else f"{stream}:"
        if anomalies is not None:
            text += f", {anomalies} anomalous hours flagged"
        forecast = found.get("forecast") or {}
        mae = (forecast.get("metrics") or {}).get("mae")
        base = ((forecast.get("baseline") or {}).get("metrics") or {}).get("mae")
        if mae is not None and base is not None:
            skill = forecast.get("skill")
            text += (f"; forecast of {forecast.get('target')}: mean absolute error {mae:.2f} "
                     f"against {base:.2f} for the seasonal-naive baseline"
                     + (f" (skill {skill:.2f})" if skill is not None else ""))
        lines.append(text)
    return lines


def current_analysis(analyses: Path, lake_dir: Path, streams: Sequence[str]) -> Path | None:
    """The newest finished demo analysis in ``analyses`` (its report written, its receipt
    anchored) if it is still current: of exactly ``streams``, over as many rows as the lake
    now holds of them (the lake only grows, so equal counts mean the same records). None
    when there is none."""
    from ledgerlake.analytics import lake

    try:
        held = lake.read_meta(lake_dir).get("streams", {})
    except LedgerlakeError:
        return None
    rows = sum(int(held.get(s, {}).get("records", -1)) for s in streams)
    for run in sorted(analyses.glob("demo-*"), reverse=True):
        try:
            inputs = json.loads((run / "results.json").read_text())["inputs"]
            anchored = json.loads((run / "lineage.json").read_text()).get("anchor")
        except (OSError, ValueError, KeyError):
            continue
        if not anchored or not (run / "report.html").is_file():
            continue  # unfinished (stopped before its report or its anchor)
        if sorted(inputs.get("streams", ())) == sorted(streams) and \
                inputs.get("rows") == rows and not inputs.get("time_from") and \
                not inputs.get("time_to"):
            return run
        return None  # the newest finished run is not current: analyse again
    return None


def _ingest_all(story: Story, api_for: ApiFor, org_key_paths: Mapping[str, Path],
                state: Path, msp_ids: Sequence[str]) -> None:
    """Each stream's stations ingested by its owner's producer, the streams side by side;
    the plaintext goes to every organisation's endorser, which checks it."""
    from ledgerlake.client.encryption import load_org_key
    from ledgerlake.client.ingest import ingest

    rejects = story.work_dir / "rejects"
    errors: list[BaseException] = []

    def one(plan: StreamPlan) -> None:
        try:
            sources = [StationFile(story.data_dir / story.manifest["stations"][s]["file"], s)
                       for s in plan.stations]
            story.reject_files[plan.stream] = rejects / f"{plan.stream}.jsonl"
            with api_for(f"{plan.org}/producer") as producer:
                story.ingests[plan.stream] = ingest(
                    producer, sources, stream=plan.stream,
                    org_key=load_org_key(org_key_paths[plan.org]),
                    purpose="ledgerlake demo: ingest the weather stations",
                    batch_size=STORY_BATCH_SIZE, time_field="time", state_dir=state,
                    reject_file=story.reject_files[plan.stream], send_plaintext=True,
                    endorsing_organizations=list(msp_ids))
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(p,), name=f"demo-ingest-{p.stream}")
               for p in story.plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    story.ingests = {p.stream: story.ingests[p.stream] for p in story.plans}


def _anchor_text(doc: Mapping) -> str:
    """``lineage.record_run``'s document in a few words: the receipt and where it is."""
    anchor = doc.get("anchor") or {}
    receipt = doc.get("receipt_id") or anchor.get("receipt_id") or "?"
    where = f" in block {anchor['block']}" if anchor.get("block") is not None else ""
    return f"{str(receipt)[:16]}… anchored{where}" if anchor else f"{receipt[:16]}… not anchored"


def _verified_text(result: Any) -> str:
    """``lineage.verify_report``'s result (it raises on the first difference)."""
    first, last = result.blocks
    return (f"{result.records:,} input records of blocks {first}–{last} read again from the "
            f"ledger, Merkle root {result.merkle_root[:16]}…, {result.outputs} output hashes "
            f"and the receipt anchored in block {result.anchor_block} all match")
