"""The ``ledgerlake`` command: a thin shell over the library.

Library errors (``LedgerlakeError``) become one line ``ErrorName: message`` and exit 1;
a node that died also shows the end of its log.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape as _escape
from rich.table import Table

from ledgerlake.errors import (
    ConfigError,
    GatewayError,
    LedgerlakeError,
    NodeFailedError,
    NotRunningError,
)
from ledgerlake.protocol import ROLES

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _state_dir_option(fn):
    return click.option(
        "--state-dir", type=click.Path(file_okay=False, path_type=Path),
        envvar="LEDGERLAKE_STATE_DIR", default=None,
        help="Where keys, ledgers, logs and pid files live "
             "[env LEDGERLAKE_STATE_DIR; default ./.ledgerlake].")(fn)


def _progress(msg: str) -> None:
    err.print(f"[dim]•[/dim] {msg}")


def _network(state_dir, spec=None):
    from ledgerlake.network import LocalNetwork
    return LocalNetwork(state_dir, spec=spec, progress=_progress)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ledgerlake")
def cli() -> None:
    """ledgerlake: a Hyperledger Fabric network as a trustworthy source for analytics.

    Start with 'ledgerlake network up', then 'ledgerlake network status'.
    """


# -- install ------------------------------------------------------------------------------
@cli.command()
@click.option("--force", is_flag=True, help="Rebuild even if the pinned tools are present.")
def install(force: bool) -> None:
    """Build the pinned Fabric and Fabric CA binaries from the Go module proxy.

    Quick (under a second) when they are already installed. The tools folder is
    ~/.cache/ledgerlake/tools/<pin> unless LEDGERLAKE_TOOLS_DIR says otherwise.
    """
    from ledgerlake.network import toolchain, versions
    chain = toolchain.install(force=force)
    out.print(f"Fabric {versions.FABRIC_VERSION} and Fabric CA {versions.FABRIC_CA_VERSION} "
              f"in {chain.root}")


# -- network ------------------------------------------------------------------------------
@cli.group()
def network() -> None:
    """Start, stop and inspect the local Fabric network (native processes, no Docker)."""


@network.command()
@_state_dir_option
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A YAML topology spec (fields: channel, consensus, orderers, orgs, "
                   "base_port, batch_timeout, max_message_count, chaincode, "
                   "endorsement_policy).")
@click.option("--consensus", type=click.Choice(["raft", "bft"]),
              help="raft: 3 Raft orderers (default); bft: 4 SmartBFT orderers.")
@click.option("--base-port", type=int, help="First port of the network's port block [7000].")
@click.option("--channel", help="Channel name [ledgerlake].")
@click.option("--batch-timeout", help="Block cutting timeout, e.g. 250ms or 2s [250ms].")
@click.option("--max-message-count", type=int, help="Transactions per block at most [100].")
def up(state_dir, spec_file, consensus, base_port, channel, batch_timeout,
       max_message_count) -> None:
    """Bring the network up (bootstrap it the first time) and print a summary.

    Installs the Fabric tools first if needed. On a running network it reports and
    changes nothing; after 'down' it restarts the same ledgers.
    """
    from ledgerlake.network import NetworkSpec, toolchain
    toolchain.install()
    spec = NetworkSpec.from_file(spec_file) if spec_file else None
    overrides = dict(consensus=consensus, base_port=base_port, channel=channel,
                     batch_timeout=batch_timeout, max_message_count=max_message_count)
    if any(v is not None for v in overrides.values()):
        spec = (spec or NetworkSpec()).with_overrides(**overrides)
    net = _network(state_dir, spec)
    started = time.monotonic()
    changed = net.up()
    if not changed:
        out.print(f"The network in {net.state_dir} is already running; nothing changed.")
    else:
        out.print(f"Network up in {time.monotonic() - started:.1f} s.")
    _print_status(net)


@network.command()
@_state_dir_option
@click.option("--purge", is_flag=True, help="Also delete the state directory (ledgers, keys, logs).")
def down(state_dir, purge: bool) -> None:
    """Stop every node gracefully; ledgers are kept unless --purge."""
    net = _network(state_dir)
    stopped = net.down(purge=purge)
    out.print(f"Stopped {len(stopped)} node(s)." if stopped else "No node was running.")
    if purge:
        out.print(f"Removed {net.state_dir}.")


def _print_status(net) -> None:
    table = Table(title=f"{net.spec.channel} · {net.spec.consensus} · {net.state_dir}")
    for col in ("node", "org", "pid", "ports", "health", "height", "memory"):
        table.add_column(col)
    rows = net.status()
    for row in rows:
        ports = " ".join(f"{k}={v}" for k, v in row.ports.items())
        health = ("[green]ok[/green]" if row.healthy else
                  "[red]unhealthy[/red]" if row.pid else f"[red]down[/red] ({row.down})")
        if row.leader:
            health += " · leader"
        table.add_row(row.name, row.org, str(row.pid or "-"), ports, health,
                      "-" if row.height is None else str(row.height),
                      f"{row.rss / 2**20:.0f} MiB" if row.rss else "-")
    out.print(table)
    orderers = [r for r in rows if r.kind == "orderer" and r.healthy]
    if orderers and not any(r.leader for r in orderers):
        out.print("[red]No orderer reports itself leader: the channel orders nothing.[/red]")
    if not any(r.pid for r in rows):
        out.print("The network is stopped; 'ledgerlake network up' starts it.")
        return
    for row in rows:
        if not row.pid and row.log_tail.strip():
            out.print(f"[bold]{row.name}[/bold] is down ({row.down}); the end of its log:")
            out.print(row.log_tail.rstrip("\n"), markup=False, highlight=False)


@network.command()
@_state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(state_dir, as_json: bool) -> None:
    """Each process (pid, ports, health, memory), the channel height of each peer and
    orderer, which orderer leads, and for a node that is down why (how it ended) and the
    end of its log. 'ledgerlake network up' restarts only what is down."""
    net = _network(state_dir)
    if not net.bootstrapped:
        raise LedgerlakeError(f"no network in {net.state_dir}; run 'ledgerlake network up'")
    if as_json:
        out.print_json(json.dumps([row.__dict__ for row in net.status()]))
    else:
        _print_status(net)


@network.command()
@_state_dir_option
@click.argument("node")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines.")
def logs(state_dir, node: str, lines: int) -> None:
    """Show the tail of NODE's log (e.g. orderer1, peer0.org1, ca.org2, chaincode.org1)."""
    click.echo(_network(state_dir).logs(node, lines), nl=False)


@network.command()
@_state_dir_option
def deploy(state_dir) -> None:
    """Install the current chaincode and commit it as the next sequence if it changed."""
    result = _network(state_dir).deploy()
    verb = "Deployed" if result["changed"] else "Already deployed"
    out.print(f"{verb} {result['package_id']} (sequence {result['sequence']}).")


# -- identity -----------------------------------------------------------------------------
@cli.group()
def identity() -> None:
    """Users issued by the organisations' CAs, kept in the wallet folder."""


@identity.command("register")
@_state_dir_option
@click.argument("name")
@click.option("--org", required=True, help="Organisation, e.g. Org1.")
@click.option("--role", required=True,
              type=click.Choice(ROLES),
              help="The ledgerlake.role attribute put in the certificate.")
def identity_register(state_dir, name: str, org: str, role: str) -> None:
    """Register NAME with the org's CA, enroll it and store it in the wallet."""
    folder = _network(state_dir).register_identity(name, org, role)
    out.print(f"Registered {name} ({role}) in {folder}")


@identity.command("list")
@_state_dir_option
def identity_list(state_dir) -> None:
    """The identities in the wallet."""
    from ledgerlake.network import pki
    net = _network(state_dir)
    table = Table()
    for col in ("name", "msp id", "role"):
        table.add_column(col)
    for entry in pki.wallet_identities(net.layout):
        table.add_row(entry["name"], entry["mspid"], entry["role"])
    out.print(table)


# -- the contract, through the typed API ----------------------------------------------
@contextmanager
def _contract(state_dir, who: str, peer: str | None = None):
    """The typed contract API as ``who`` ("Org1/analyst"), through ``peer`` (a name from
    the connection profile, e.g. peer0.org2) or the identity's organisation's first peer:
    the one place that knows how the CLI finds a peer and an identity (today the local
    network's state directory)."""
    from ledgerlake.client import LedgerlakeContract, connect, load_local_profile, load_wallet

    org, _, user = who.partition("/")
    if not org or not user or "/" in user:
        raise ConfigError(f"--as must be ORG/USER like Org1/analyst, not {who!r}")
    net = _network(state_dir)
    if not net.bootstrapped or not net.running():
        raise NotRunningError(f"no network is running in {net.state_dir}; run "
                              f"'ledgerlake network up' first")
    wallet = net.layout.wallet_dir(net.layout.org(org), user)
    if not wallet.is_dir():
        raise ConfigError(f"no identity {who!r} in the wallet ({wallet}); see "
                          f"'ledgerlake identity list'")
    profile = load_local_profile(net.state_dir, org)
    if peer is None:
        endpoint = profile.endpoint()
    else:
        owner = next((o.name for o in profile.organizations.values() if peer in o.peers), None)
        if owner is None:
            names = sorted(p for o in profile.organizations.values() for p in o.peers)
            raise ConfigError(f"--peer {peer!r} is not in the connection profile; its peers: "
                              f"{', '.join(names)}")
        endpoint = profile.endpoint(peer, owner)
    identity, signer = load_wallet(wallet)
    with endpoint.dial() as channel:
        gateway = connect(identity, signer, channel)
        yield LedgerlakeContract(gateway.get_network(net.spec.channel)
                                 .get_contract(net.spec.chaincode))


def _as_option(default: str):
    return click.option("--as", "who", default=default, show_default=True, metavar="ORG/USER",
                        help="The wallet identity to ask as (its role decides what the "
                             "contract answers).")


def _json_option(fn):
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the contract's answers as JSON.")(fn)


def _when(ns: int | None) -> str:
    """A nanosecond timestamp as UTC ISO-8601 (milliseconds)."""
    if not ns:
        return "-"
    seconds, rest = divmod(ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 10**6:03d}Z"


def _nanos_option(value: str | None, name: str) -> int | None:
    """A time given as nanoseconds since the epoch or as ISO-8601 (UTC unless it says)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither nanoseconds nor ISO-8601 "
                                 f"(e.g. 2026-01-31T12:00:00Z)", param_hint=name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    ns = int(moment.timestamp()) * 10**9 + moment.microsecond * 1000
    if not 0 <= ns < 2**63:
        raise click.BadParameter(f"{value!r} is outside 1970..2262, the times nanoseconds "
                                 f"since the epoch hold", param_hint=name)
    return ns


def _take(iterator, limit: int) -> list:
    return list(itertools.islice(iterator, limit))


def _print_json(items) -> None:
    """Answers in the canonical form, so integers beyond 2^53 keep every digit."""
    from ledgerlake.records import canonical
    out.print_json(canonical(items).decode())


def _format_option(fn):
    return click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]),
                        default="table", show_default=True,
                        help="table for people; json (the contract's answers) or csv (a "
                             "header row, then one row per item) for machines.")(fn)


def _emit(fmt: str, raws: list, rows: list[dict], columns: tuple[str, ...], title: str,
          short: tuple[str, ...] = ()) -> None:
    """Items as a rich table, as JSON (``raws``, the contract's answers) or as CSV (``rows``
    with ``columns``, written by the csv module). ``short`` columns are cut in the table."""
    if fmt == "json":
        return _print_json(raws)
    if fmt == "csv":
        import csv
        import io
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
        click.echo(buffer.getvalue(), nl=False)
        return None
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        cells = []
        for col in columns:
            value = "-" if row.get(col) in (None, "") else str(row[col])
            cells.append(_escape(value[:16] + "…" if col in short and len(value) > 17
                                 else value))
        table.add_row(*cells)
    out.print(table)
    return None


@cli.group()
def lineage() -> None:
    """Read anchored lineage receipts (analysts and auditors)."""


@lineage.command("show")
@_state_dir_option
@click.argument("receipt_id")
@_as_option("Org1/auditor")
@_json_option
def lineage_show(state_dir, receipt_id: str, who: str, as_json: bool) -> None:
    """An anchored receipt: its inputs, code version and outputs, who anchored it, when."""
    with _contract(state_dir, who) as api:
        entry = api.get_lineage(receipt_id)
    if as_json:
        return _print_json(entry.raw)
    out.print(f"[bold]{entry.id}[/bold] anchored by {entry.by} at {_when(entry.anchored)} "
              f"(tx {entry.tx_id})")
    _print_json(entry.receipt)


# -- the main job ---------------------------------------------------------------------------
def _settle(net, timeout: float = 10.0) -> None:
    """Wait until every peer has the same height (``LocalNetwork.settle``)."""
    net.settle(timeout)


@cli.command()
@_state_dir_option
@click.option("--scheduler", metavar="ADDRESS",
              help="Analyse on this Dask scheduler instead of a LocalCluster "
                   "[env DASK_SCHEDULER_ADDRESS].")
@click.option("--reanalyze", is_flag=True,
              help="Analyse again even when nothing new reached the lake since the last "
                   "demo's analysis.")
@click.option("--round-trip", is_flag=True,
              help="Only write one encrypted batch to --stream and read it back.")
@click.option("--stream", "stream_name", default="demo-sensors", show_default=True,
              help="The round trip's stream (created if absent).")
@click.option("--records", "count", type=click.IntRange(1, 1000), default=3,
              show_default=True, help="How many records the round trip's batch holds.")
def demo(state_dir, scheduler, reanalyze: bool, round_trip: bool, stream_name: str,
         count: int) -> None:
    """The main job: network up, two organisations' streams, ingest, sync, analyze,
    report, verify.

    Brings the local network up, prepares a public dataset (three of pvlib's weather
    stations, defects planted on purpose and listed in a manifest), has each organisation
    create its stream and ingest its stations' files, syncs the ledger into a verified
    Parquet lake, analyses it on Dask, writes the HTML report, anchors its lineage receipt
    and has the other organisation verify it; prints where the report is and what it
    found against what was planted. A second run duplicates nothing: it commits no row
    twice, syncs only new blocks, and keeps the last analysis while nothing new reached
    the lake (ledgerlake.client.demo.run_story).

    --round-trip instead writes one encrypted batch and reads it back, also with Fabric's
    own 'peer chaincode query' (ledgerlake.client.demo.run_demo).
    """
    from ledgerlake.network import toolchain

    toolchain.install()
    net = _network(state_dir)
    net.up()
    if round_trip:
        return _round_trip(net, stream_name, count)
    from ledgerlake.client.demo import STAGES, analysis_lines, run_story

    started = last = time.monotonic()

    def progress(stage: str, text: str) -> None:
        nonlocal last
        now = time.monotonic()
        out.print(f"[bold]{STAGES.index(stage) + 1}/{len(STAGES)} {stage}[/bold] "
                  f"[dim]{now - last:.0f} s[/dim]  {_escape(text)}", highlight=False)
        last = now

    story = run_story(lambda who: _contract(net.state_dir, who),
                      [(o.name, o.msp_id) for o in net.layout.orgs],
                      {o.name: net.org_key_path(o.name) for o in net.layout.orgs},
                      state_dir=net.state_dir, scheduler=scheduler, reanalyze=reanalyze,
                      settle=net.settle, progress=progress)
    for line in analysis_lines(story.results):
        out.print(f"  {_escape(line)}", highlight=False)
    table = Table(title=f"found against planted ({story.data_dir / 'manifest.json'})")
    for col in ("", "planted", "found", "how"):
        table.add_column(col)
    for f in story.findings:
        found = "-" if f.found is None else str(f.found)
        mark = "[green]✓[/green]" if f.ok else "[yellow]≠[/yellow]"
        table.add_row(f.what, str(f.planted), f"{found} {mark}", _escape(f.detail))
    out.print(table)
    if story.committed == 0 and not story.sync.records:
        kept = " and the last analysis still holds" if story.reused else ""
        out.print("Nothing new this run: every row was committed before (each station's "
                  "chain on the ledger and its ingest state), the sync found no new record "
                  f"(the lake is at block {story.sync.synced_to}){kept}; nothing was "
                  "written twice.")
    else:
        out.print(f"Committed {story.committed:,} records ({story.rejected} rejected, "
                  f"listed in {story.work_dir / 'rejects'}). A second 'ledgerlake demo' "
                  "duplicates nothing: it resumes each station's chain after its last "
                  "committed row and the sync after its checkpoint.")
    out.print(f"The report: [bold]{story.report}[/bold] (analysis in {story.out_dir}; "
              f"{time.monotonic() - started:.0f} s after the network was up)")
    out.print(f"Check it again any time: ledgerlake verify report {story.report}")


def _round_trip(net, stream_name: str, count: int) -> None:
    """Write one batch and read it back through the typed API and Fabric's own peer CLI."""
    from ledgerlake.client.demo import run_demo
    from ledgerlake.client.streams import org_private_keys

    first = net.layout.orgs[0]
    run = run_demo(lambda who: _contract(net.state_dir, who),
                   [(o.name, o.msp_id) for o in net.layout.orgs],
                   org_private_keys(net.org_key_path(first.name)), stream_name=stream_name,
                   count=count, settle=net.settle)
    if run.created:
        _progress(f"created stream {stream_name!r}")
    receipt = run.receipt
    out.print(f"wrote batch {receipt.id[:16]}… of {stream_name!r} (source {run.stored.source}, "
              f"seq {receipt.seq}, {count} record(s), plaintext checked by the endorsers: "
              f"{'yes' if receipt.plaintext_checked else 'no'}) in {run.commit_seconds:.2f} s")
    table = Table(title=f"read back through the typed API as {first.name}/analyst, decrypted")
    for col in ("sensor", "temperature_c", "ts"):
        table.add_column(col)
    for row in run.read:
        table.add_row(row["sensor"], f"{row['temperature_c']:.2f}", _when(row["ts"]))
    out.print(table)
    peer_answer = json.loads(net.query("GetBatch", stream_name, receipt.id))
    same = peer_answer.get("merkle_root") == run.stored.merkle_root
    out.print(f"peer chaincode query GetBatch: batch {peer_answer.get('id', '?')[:16]}…, "
              f"merkle root {'matches' if same else 'DIFFERS'}")
    if not same:
        raise LedgerlakeError("'peer chaincode query' answered another batch")
    _print_status(net)


def _one_line(exc: LedgerlakeError) -> str:
    """A Gateway error as the peer's own words (the chaincode's message), else as is."""
    if isinstance(exc, GatewayError):
        from ledgerlake.protocol import contract_message
        for detail in exc.details:
            if (message := contract_message(detail.message)) is not None:
                return message
    return str(exc)


# -- command groups in their own modules (one line each) ------------------------------------
from ledgerlake.commands.streams import stream  # noqa: E402
cli.add_command(stream)
from ledgerlake.commands.org import org  # noqa: E402
cli.add_command(org)
from ledgerlake.commands.query import query  # noqa: E402
cli.add_command(query)
from ledgerlake.commands.audit import audit  # noqa: E402
cli.add_command(audit)
from ledgerlake.commands.ingest import ingest_cmd, submit_cmd  # noqa: E402
cli.add_command(ingest_cmd)
cli.add_command(submit_cmd)
from ledgerlake.commands.verify import verify_cmd  # noqa: E402
cli.add_command(verify_cmd)
from ledgerlake.commands.sync import sync_cmd  # noqa: E402
cli.add_command(sync_cmd)
from ledgerlake.commands.analyze import analyze_cmd  # noqa: E402
cli.add_command(analyze_cmd)
from ledgerlake.commands.report import report_cmd  # noqa: E402
cli.add_command(report_cmd)
from ledgerlake.commands.lineage import anchor_cmd  # noqa: E402
lineage.add_command(anchor_cmd)


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="ledgerlake", standalone_mode=False)
    except click.exceptions.Abort:
        err.print("Aborted.")
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except LedgerlakeError as exc:
        err.print(f"[bold red]{type(exc).__name__}[/bold red]: {_escape(_one_line(exc))}",
                  highlight=False)
        if isinstance(exc, NodeFailedError) and exc.log_tail:
            err.print(f"[dim]--- last lines of {exc.node}'s log ---[/dim]")
            err.print(exc.log_tail, markup=False, highlight=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
