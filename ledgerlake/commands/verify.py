"""``ledgerlake verify chain | batch | record``: the checks of ``ledgerlake.client.verify``
on the command line. A failed check is one line naming the block and the check (exit 1)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ledgerlake.cli import _as_option, _contract, _json_option, _network, _print_json, \
    _state_dir_option, err, out
from ledgerlake.errors import ConfigError


@click.group("verify")
def verify_cmd() -> None:
    """Check the ledger on this machine: the whole chain, a batch, or one record."""


@verify_cmd.command("chain")
@_state_dir_option
@click.option("--peer", help="Read the blocks from this peer (e.g. peer0.org2) "
                             "[the identity's organisation's first peer].")
@click.option("--from", "start", type=click.IntRange(0), default=0, show_default=True,
              help="First block to check; the configuration in force there is checked "
                   "from genesis through each config block.")
@click.option("--genesis-hash", metavar="HEX",
              help="The genesis block's hash as known from elsewhere (another peer, the "
                   "orderers, the channel's creator): the chain must start there.")
@_as_option("Org1/auditor")
@_json_option
def verify_chain_cmd(state_dir, peer: str | None, start: int, genesis_hash: str | None,
                     who: str, as_json: bool) -> None:
    """Every block to the tip: data hash, hash chain, last-config index and the orderers'
    signatures against the channel configuration (Raft: a consenter signed; SmartBFT: a
    quorum of consenters)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn

    from ledgerlake.client.verify import verify_chain

    columns = (TextColumn("verifying blocks"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())
    with _contract(state_dir, who, peer) as api, \
            Progress(*columns, console=err, transient=True,
                     disable=as_json or not err.is_terminal) as bar:
        task = bar.add_task("chain", total=None, rate="")

        def progress(done: int, total: int) -> None:
            speed = bar.tasks[0].speed
            bar.update(task, completed=done, total=total,
                       rate=f"{speed:,.0f} blocks/s" if speed else "")

        report = verify_chain(api.contract.network, start=start, progress=progress,
                              genesis_hash=genesis_hash)
    where = peer or f"{who.partition('/')[0]}'s peer"
    if as_json:
        _print_json({**report.to_json(), "peer": where})
        return
    out.print(f"chain verified: blocks {report.first} to {report.last} ({report.blocks} "
              f"blocks, {report.transactions} transactions) read from {escape(where)} in "
              f"{report.seconds:.2f} s ({report.blocks_per_second:,.0f} blocks/s)")
    out.print(f"checked: data hashes, hash chain, last-config indexes, orderer signatures "
              f"({report.consensus}: each block needs {report.rule}) under config block(s) "
              f"{', '.join(map(str, report.config_blocks)) or '-'}")
    if report.genesis_hash:
        out.print(f"genesis hash {report.genesis_hash}"
                  f"{' (as pinned by --genesis-hash)' if genesis_hash else ''}")
    out.print(f"tip hash     {report.tip_hash} (block {report.last})")
    table = Table(title="orderer signatures checked")
    table.add_column("signer")
    table.add_column("blocks", justify="right")
    for signer, count in sorted(report.signatures.items()):
        table.add_row(escape(signer), str(count))
    out.print(table)


def _print_batch(check) -> None:
    out.print(f"batch {check.batch_id} of stream {escape(check.stream)} verified:")
    out.print(f"  transaction {check.tx_id}: VALID, in block {check.block_number} at index "
              f"{check.tx_index}; its batch header hashes to its id")
    payload = check.batch["payload"]
    if "ciphertext" in check.batch:
        out.print(f"  its ciphertext ({payload['size']} bytes) has the header's SHA-256 "
                  f"{payload['sha256']}")
    else:
        out.print(f"  its ciphertext is off-chain at {escape(payload['uri'])} (SHA-256 "
                  f"{payload['sha256']} in the header; not read here)")
    out.print("  world state's batch header equals the transaction's batch")
    out.print(f"  block {check.block_number} (hash {check.block_hash}): data hash covers the "
              f"transaction; signed by {escape(', '.join(check.signers))}")
    out.print(f"  under the configuration of config block(s) "
              f"{', '.join(map(str, check.config_blocks))}, each checked from genesis")


@verify_cmd.command("batch")
@_state_dir_option
@click.argument("stream")
@click.argument("batch_id")
@click.option("--peer", help="Ask this peer (e.g. peer0.org2).")
@_as_option("Org1/auditor")
@_json_option
def verify_batch_cmd(state_dir, stream: str, batch_id: str, peer: str | None, who: str,
                     as_json: bool) -> None:
    """A batch against the transaction that wrote it, its block and the orderers'
    signatures on that block."""
    from ledgerlake.client.verify import verify_batch

    with _contract(state_dir, who, peer) as api:
        check = verify_batch(api, stream, batch_id)
    if as_json:
        _print_json(check.to_json())
    else:
        _print_batch(check)


@verify_cmd.command("record")
@_state_dir_option
@click.argument("stream")
@click.argument("record_id", metavar="[BATCH_ID:INDEX]", required=False)
@click.option("--proof", "proof_file", type=click.Path(dir_okay=False, exists=True,
                                                      path_type=Path),
              help="Check this proof (a 'verify record --json' output) instead: no key "
                   "needed, any identity that may read the batch.")
@click.option("--org-key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The organisation's X25519 private key [the local network's: "
                   "<state dir>/keys/<Org>/x25519.pem].")
@click.option("--purpose", default="ledgerlake verify record", show_default=True,
              help="Why the stream is opened (written to the audit trail).")
@click.option("--peer", help="Ask this peer (e.g. peer0.org2).")
@_as_option("Org1/analyst")
@_json_option
def verify_record_cmd(state_dir, stream: str, record_id: str | None, proof_file: Path | None,
                      org_key: Path | None, purpose: str, peer: str | None, who: str,
                      as_json: bool) -> None:
    """One record (BATCH_ID:INDEX, INDEX from 0): decrypted as an analyst of a reader
    organisation (an audited opening of the stream), its commitment and Merkle path to
    the batch's root, then the batch as 'verify batch' checks it. With --proof, an
    exported proof is checked the same way without decrypting anything."""
    from ledgerlake.client.connection import local_org_key_path
    from ledgerlake.client.encryption import load_org_key
    from ledgerlake.client.verify import RecordId, RecordProof, verify_proof, verify_record
    from ledgerlake.records import parse_json

    proof = None
    if proof_file is not None:
        doc = parse_json(proof_file.read_bytes(), str(proof_file))
        if isinstance(doc, dict) and "proof" in doc:  # the whole 'verify record --json'
            doc = doc["proof"]
        proof = RecordProof.from_json(doc, str(proof_file))
        if record_id is not None and RecordId.parse(record_id) != proof.record_id:
            raise ConfigError(f"{proof_file} proves record {proof.record_id}, not {record_id}")
    elif record_id is None:
        raise ConfigError("name the record (BATCH_ID:INDEX) or pass --proof FILE")
    rid = proof.record_id if proof is not None else RecordId.parse(record_id)
    with _contract(state_dir, who, peer) as api:
        if proof is not None:
            check = verify_proof(api, stream, proof)
        else:
            if org_key is None:  # load_org_key names a missing file
                org_key = local_org_key_path(_network(state_dir).state_dir,
                                             who.partition("/")[0])
            check = verify_record(api, stream, rid, load_org_key(org_key), purpose=purpose)
    if as_json:
        _print_json(check.to_json())
        return
    proof = check.proof
    out.print(f"record {rid.index} of batch {rid.batch_id}:")
    out.print(f"  record     {escape(str(proof.record))}")
    out.print(f"  salt       {proof.salt}")
    out.print(f"  commitment {proof.leaf} = SHA-256(salt ‖ canonical record)")
    for level, (side, sibling) in enumerate(proof.path):
        out.print(f"  level {level:<4} sibling on the {side:<5} {sibling}")
    out.print(f"  merkle root {proof.merkle_root} (the batch's)")
    _print_batch(check.batch)


@verify_cmd.command("report")
@_state_dir_option
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--org-key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The organisation's X25519 private key (retired ones beside it are used "
                   "for older epochs) [the local network's: <state dir>/keys/<Org>/x25519.pem].")
@click.option("--peer", help="Read the blocks from this peer (e.g. peer0.org2).")
@_as_option("Org1/analyst")
@_json_option
def verify_report_cmd(state_dir, file: Path, org_key: Path | None, peer: str | None, who: str,
                      as_json: bool) -> None:
    """An analysis report (its report.html, lineage.json or run directory) against the
    ledger: the anchored receipt, its outputs' hashes, and its input records read again
    from its block range (every block verified) to the Merkle root it claims."""
    from ledgerlake.analytics.lineage import read_lineage, verify_report
    from ledgerlake.client.connection import local_org_key_path
    from ledgerlake.client.streams import org_private_keys

    read_lineage(file)  # a FILE that holds no receipt is named before any network call
    if org_key is None:
        org_key = local_org_key_path(_network(state_dir).state_dir, who.partition("/")[0])
    keys = org_private_keys(org_key)
    with _contract(state_dir, who, peer) as api:
        result = verify_report(api.contract.network, api, keys, file)
    if as_json:
        _print_json(result.to_json())
        return
    out.print(f"report verified: receipt {result.receipt_id} anchored in block "
              f"{result.anchor_block} (tx {result.tx_id})")
    out.print(f"  inputs: {result.records:,} records of {escape(', '.join(result.streams))} in "
              f"blocks {result.blocks[0]} to {result.blocks[1]}, read again from the ledger "
              f"(every block checked), Merkle root {result.merkle_root}")
    out.print(f"  outputs: {result.outputs} files in {escape(result.run_dir)} hash as the "
              f"receipt says ({result.seconds:.2f} s)")
