"""The ``ledgerlake`` command: a thin shell over the library.

Library errors (``LedgerlakeError``) become one line ``ErrorName: message`` and exit 1;
a node that died also shows the end of its log.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ledgerlake.errors import LedgerlakeError, NodeFailedError
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


# -- the main job, for now ----------------------------------------------------------------
@cli.command()
@_state_dir_option
@click.option("--key", default="hello", show_default=True, help="Record key to write.")
@click.option("--value", default=None, help="Record value [a timestamped greeting].")
def demo(state_dir, key: str, value: str | None) -> None:
    """Bring the network up, write a record and read it back, print the network's state.

    The record goes through Fabric's own 'peer chaincode invoke' (endorsed by every
    organisation, waited until committed) and is read back with 'peer chaincode query'.
    """
    from ledgerlake.network import toolchain
    toolchain.install()
    net = _network(state_dir)
    net.up()
    value = value or f"hello from ledgerlake at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
    t0 = time.monotonic()
    net.invoke("put", key, value)
    committed = time.monotonic() - t0
    read = net.query("get", key)
    out.print(f"wrote {key!r} = {value!r} (committed in {committed:.2f} s)")
    out.print(f"read  {key!r} = {read!r}")
    if read != value:
        raise LedgerlakeError(f"read back {read!r}, expected {value!r}")
    _print_status(net)


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
        err.print(f"[bold red]{type(exc).__name__}[/bold red]: {exc}", highlight=False)
        if isinstance(exc, NodeFailedError) and exc.log_tail:
            err.print(f"[dim]--- last lines of {exc.node}'s log ---[/dim]")
            err.print(exc.log_tail, markup=False, highlight=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
