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
    DecryptionError,
    EndorseError,
    GatewayError,
    LedgerlakeError,
    NetworkError,
    NodeFailedError,
    NotRunningError,
)
from ledgerlake.protocol import ROLES, ErrorCode

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
    for row in net.status():
        ports = " ".join(f"{k}={v}" for k, v in row.ports.items())
        health = ("[green]ok[/green]" if row.healthy else
                  "[red]unhealthy[/red]" if row.pid else "[dim]stopped[/dim]")
        table.add_row(row.name, row.org, str(row.pid or "-"), ports, health,
                      "-" if row.height is None else str(row.height),
                      f"{row.rss / 2**20:.0f} MiB" if row.rss else "-")
    out.print(table)


@network.command()
@_state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(state_dir, as_json: bool) -> None:
    """Each process (pid, ports, health, memory) and each peer's channel height."""
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
def _contract(state_dir, who: str):
    """The typed contract API as ``who`` ("Org1/analyst"): the one place that knows how
    the CLI finds a peer and an identity (today the local network's state directory)."""
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
    identity, signer = load_wallet(wallet)
    with load_local_profile(net.state_dir, org).endpoint().dial() as channel:
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
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def _take(iterator, limit: int) -> list:
    return list(itertools.islice(iterator, limit))


def _print_json(items) -> None:
    """Answers in the canonical form, so integers beyond 2^53 keep every digit."""
    from ledgerlake.records import canonical
    out.print_json(canonical(items).decode())


@cli.group()
def stream() -> None:
    """Read streams: definitions, readers and writers, batches (through the contract)."""


@stream.command("list")
@_state_dir_option
@_as_option("Org1/analyst")
@_json_option
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True,
              help="Show at most this many streams.")
def stream_list(state_dir, who: str, as_json: bool, limit: int) -> None:
    """The channel's streams, in id order."""
    with _contract(state_dir, who) as api:
        streams = _take(api.items(api.list_streams, page_size=min(limit, 100)), limit)
    if as_json:
        return _print_json([s.raw for s in streams])
    table = Table(title=f"{len(streams)} stream(s)")
    for col in ("stream", "owner", "status", "epoch", "schema", "writers", "readers",
                "updated"):
        table.add_column(col)
    for s in streams:
        table.add_row(s.id, s.owner, s.status, str(s.epoch), f"v{s.schema.version}",
                      " ".join(s.writers.msp_ids), " ".join(s.readers), _when(s.updated))
    out.print(table)


@stream.command("show")
@_state_dir_option
@click.argument("name")
@_as_option("Org1/analyst")
@_json_option
def stream_show(state_dir, name: str, who: str, as_json: bool) -> None:
    """One stream's definition: schema, writers, readers, key epochs."""
    with _contract(state_dir, who) as api:
        s = api.get_stream(name)
    if as_json:
        return _print_json(s.raw)
    out.print(f"[bold]{s.id}[/bold] · owner {s.owner} · {s.status} · key epoch {s.epoch}"
              f"{' (shredded: ' + ', '.join(map(str, s.shredded)) + ')' if s.shredded else ''}")
    if s.description:
        out.print(s.description, markup=False)
    out.print(f"writers: {', '.join(s.writers.msp_ids)} (roles {', '.join(s.writers.roles)})"
              f" · readers: {', '.join(s.readers) or '-'} · max age {s.max_age_seconds} s")
    out.print(f"created {_when(s.created)} · updated {_when(s.updated)}")
    table = Table(title=f"schema v{s.schema.version}")
    for col in ("field", "type", "unit", "range", "public", "required"):
        table.add_column(col)
    for f in s.schema.fields:
        bounds = "-" if f.min is None and f.max is None else \
            f"{'' if f.min is None else f.min}..{'' if f.max is None else f.max}"
        table.add_row(f.name, f.type, f.unit or "-", bounds, "yes" if f.public else "no",
                      "yes" if f.required else "no")
    out.print(table)


@stream.command("batches")
@_state_dir_option
@click.argument("name")
@click.option("--source", help="Only this source's batches, in sequence order.")
@_as_option("Org1/auditor")
@_json_option
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help="Show at most this many batches.")
def stream_batches(state_dir, name: str, source: str | None, who: str, as_json: bool,
                   limit: int) -> None:
    """A stream's batches (time order, or one source's chain): ids, sequence, records."""
    with _contract(state_dir, who) as api:
        batches = _take(api.items(api.list_batches, name, source=source,
                                  page_size=min(limit, 100)), limit)
    if as_json:
        return _print_json([b.raw for b in batches])
    table = Table(title=f"{len(batches)} batch(es) of {name}")
    for col in ("batch", "source", "seq", "records", "epoch", "from", "to", "producer",
                "plaintext checked"):
        table.add_column(col)
    for b in batches:
        table.add_row(b.id[:16] + "…", b.source, str(b.seq), str(b.record_count),
                      str(b.key_epoch), _when(b.time_start), _when(b.time_end),
                      str(b.producer), "yes" if b.plaintext_checked else "no")
    out.print(table)


AUDIT_EXAMPLES = {"actor": "Org1MSP/admin", "stream": "plant-sensors",
                  "action": "StreamOpened"}


@cli.command()
@_state_dir_option
@click.option("--by", type=click.Choice(["actor", "stream", "action", "time"]), default="time",
              show_default=True, help="Which index to read.")
@click.option("--value", help="The actor (MSP/id, e.g. Org1MSP/admin), stream or action "
                              "(e.g. StreamOpened); not with --by time.")
@click.option("--since", help="From this time (ISO-8601, UTC unless given, or nanoseconds).")
@click.option("--until", help="Before this time (ISO-8601 or nanoseconds).")
@_as_option("Org1/auditor")
@_json_option
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help="Show at most this many entries (oldest first).")
def audit(state_dir, by: str, value: str | None, since, until, who: str, as_json: bool,
          limit: int) -> None:
    """The audit trail: who did what to which stream, when (auditors only)."""
    if by != "time" and not value:
        raise click.UsageError(f"--by {by} needs --value (e.g. {AUDIT_EXAMPLES[by]})")
    if by == "time" and value:
        raise click.UsageError("--by time takes no --value; use --since/--until")
    time_from, time_to = _nanos_option(since, "--since"), _nanos_option(until, "--until")
    with _contract(state_dir, who) as api:
        entries = _take(api.items(api.query_audit, by, value, time_from=time_from,
                                  time_to=time_to, page_size=min(limit, 100)), limit)
    if as_json:
        return _print_json([e.raw for e in entries])
    table = Table(title=f"{len(entries)} audit entr{'y' if len(entries) == 1 else 'ies'}")
    for col in ("time", "action", "actor", "role", "target", "details", "tx"):
        table.add_column(col)
    for e in entries:
        target = " ".join(f"{k}={v}" for k, v in e.target.items())
        details = " ".join(f"{k}={json.dumps(v)}" for k, v in e.extra.items())
        table.add_row(_when(e.time), e.action, str(e.actor), e.actor.role or "-", target,
                      details or "-", e.tx_id[:12] + "…")
    out.print(table)


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


# -- the main job, for now ----------------------------------------------------------------
DEMO_SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "unit": "°C", "min": -40, "max": 125},
    {"name": "ts", "type": "timestamp"}]}
DEMO_SOURCE = "demo-line"


def _demo_org_key(net, msp_id: str):
    """The demo's X25519 private key for an organisation, kept in the state directory
    (0600) so a second run can still unwrap what the first one wrapped."""
    from cryptography.hazmat.primitives import serialization

    from ledgerlake.client import encryption

    path = net.state_dir / "demo" / f"{msp_id}.x25519.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = encryption.new_org_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


def _absent(exc: EndorseError) -> bool:
    """A read refused because the thing does not exist."""
    return exc.error_code is ErrorCode.NOT_FOUND


def _settle(net, timeout: float = 10.0) -> None:
    """Wait until every peer has committed what the gateway peer has: the Gateway waits for
    its own peer only, and the next step may be endorsed by another organisation's peer."""
    from ledgerlake.network.channel import peer_height

    deadline = time.monotonic() + timeout
    while True:
        heights = [peer_height(net.layout, p) or 0 for p in net.layout.peers]
        if len(set(heights)) == 1:
            return
        if time.monotonic() > deadline:
            raise NetworkError(f"the peers did not reach the same height in {timeout:.0f} s "
                               f"(heights {heights})")
        time.sleep(0.02)


def _demo_keys(net, state_dir) -> dict:
    """Each organisation's published key is the demo's (registered when absent or other):
    ``{msp_id: (private key, published OrgKey)}``."""
    from ledgerlake.client import encryption

    keys = {}
    for org in net.layout.orgs:
        key = _demo_org_key(net, org.msp_id)
        pem = encryption.public_pem(key)
        with _contract(state_dir, f"{org.name}/admin") as admin:
            try:
                published = admin.get_org_key(org.msp_id)
            except EndorseError as exc:
                if not _absent(exc):
                    raise
                published = None
            if published is None or published.public_key != pem:
                published = admin.register_org_key(pem)
                _progress(f"registered {org.msp_id}'s encryption key")
        keys[org.msp_id] = (key, published)
    _settle(net)
    return keys


def _demo_stream(net, state_dir, name: str, keys: dict):
    """The demo stream, created (readers: every org; writers: the first org's producers)
    when it does not exist yet."""
    from ledgerlake.client import encryption
    from ledgerlake.client.models import Writers

    first = net.layout.orgs[0]
    with _contract(state_dir, f"{first.name}/admin") as admin:
        try:
            return admin.get_stream(name)
        except EndorseError as exc:
            if not _absent(exc):
                raise
        data_key = encryption.new_data_key()
        created = admin.create_stream(
            name, DEMO_SCHEMA, readers=sorted(keys), writers=Writers((first.msp_id,)),
            wrapped_keys={msp: published.wrap(data_key, stream=name, epoch=1)
                          for msp, (_, published) in keys.items()},
            description="ledgerlake demo: temperatures of a production line")
        _progress(f"created stream {name!r}")
    _settle(net)
    return created


@cli.command()
@_state_dir_option
@click.option("--stream", "stream_name", default="demo-sensors", show_default=True,
              help="The demo stream (created if absent).")
@click.option("--records", "count", type=click.IntRange(1, 1000), default=3,
              show_default=True, help="How many records the batch holds.")
def demo(state_dir, stream_name: str, count: int) -> None:
    """Bring the network up, write a record batch and read it back, print the network's state.

    Through the typed contract API: publish each organisation's encryption key and create
    the demo stream (when absent), open it as Org1's analyst (an audited ticket, then the
    wrapped data key), submit one encrypted batch as Org1's producer (the plaintext checked
    by every organisation's endorser), read it back and decrypt it, then read it again with
    Fabric's own 'peer chaincode query'.
    """
    import random

    from ledgerlake.client.batches import seal_batch
    from ledgerlake.network import toolchain

    toolchain.install()
    net = _network(state_dir)
    net.up()
    state_dir = net.state_dir
    first = net.layout.orgs[0]
    keys = _demo_keys(net, state_dir)
    stream_def = _demo_stream(net, state_dir, stream_name, keys)
    with _contract(state_dir, f"{first.name}/analyst") as analyst:
        try:
            data_keys = analyst.open_keys(stream_name, "ledgerlake demo: write and read back",
                                          keys[first.msp_id][0])
        except DecryptionError:
            raise LedgerlakeError(f"stream {stream_name!r} was created for another "
                                  f"{first.msp_id} key than the demo's; use --stream NEW") \
                from None
        data_key = data_keys[stream_def.epoch]
        last = max(analyst.items(analyst.list_batches, stream_name, source=DEMO_SOURCE),
                   key=lambda b: b.seq, default=None)
    now = time.time_ns()
    rows = [{"sensor": f"t{i + 1}", "temperature_c": round(random.uniform(18, 26), 2),
             "ts": now - (count - 1 - i) * 10**9} for i in range(count)]  # one a second
    sealed = seal_batch(stream=stream_name, source=DEMO_SOURCE,
                        seq=last.seq + 1 if last else 1, prev_hash=last.id if last else "",
                        schema=stream_def.schema, rows=rows, data_key=data_key,
                        key_epoch=stream_def.epoch)
    t0 = time.monotonic()
    with _contract(state_dir, f"{first.name}/producer") as producer:
        receipt = producer.submit_batch(sealed, send_plaintext=True,
                                        endorsing_organizations=sorted(keys))
    committed = time.monotonic() - t0
    with _contract(state_dir, f"{first.name}/analyst") as analyst:
        stored = analyst.get_batch(stream_name, receipt.id)
    read = stored.open(data_key, stream_def.schema)
    if read != rows:
        raise LedgerlakeError(f"batch {receipt.id} read back differs from what was written")
    out.print(f"wrote batch {receipt.id[:16]}… of {stream_name!r} (source {DEMO_SOURCE}, "
              f"seq {receipt.seq}, {count} record(s), plaintext checked by the endorsers: "
              f"{'yes' if receipt.plaintext_checked else 'no'}) in {committed:.2f} s")
    table = Table(title=f"read back through the typed API as {first.name}/analyst, decrypted")
    for col in ("sensor", "temperature_c", "ts"):
        table.add_column(col)
    for row in read:
        table.add_row(row["sensor"], f"{row['temperature_c']:.2f}", _when(row["ts"]))
    out.print(table)
    peer_answer = json.loads(net.query("GetBatch", stream_name, receipt.id))
    same = peer_answer.get("merkle_root") == stored.merkle_root
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


from ledgerlake.commands.verify import verify_cmd  # noqa: E402
cli.add_command(verify_cmd)


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
