"""Organisation keys, stream administration, queries and the audit trail on one real network,
through the CLI as a user runs it: 'network up' publishes each org's key; a stream is
created, granted, revoked, rotated and shredded; batches and the audit trail come out as a
table, JSON and CSV; refusals are one-line errors."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

import pytest

from ledgerlake.cli import main
from ledgerlake.client import encryption
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.streams import open_data_keys, org_private_keys
from ledgerlake.errors import EndorseError
from networks import network_up

pytestmark = pytest.mark.integration
SCHEMA_YAML = """version: 1
fields:
  - {name: sensor, type: string, public: true}
  - {name: temperature_c, type: float, unit: °C, min: -40, max: 125}
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    yield from network_up(tmp_path_factory, "streams", 24500)


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "plant.yaml"
    path.write_text(SCHEMA_YAML)
    return path


def run(capsys, *args) -> str:
    """A command that succeeds: its standard output."""
    code = main([*args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def refused(capsys, *args) -> str:
    """A command that fails: its one-line error."""
    assert main([*args]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_network_up_publishes_each_orgs_key_once(net, capsys):
    published = {}
    with net.contract("Org1", "analyst") as api:
        for org in net.layout.orgs:
            path = net.org_key_path(org.name)
            assert path.is_file() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
            key = api.get_org_key(org.msp_id)
            assert key.public_key == encryption.public_pem(encryption.load_org_key(path))
            published[org.msp_id] = key.updated
    for org in net.layout.orgs:  # each org's key is in its own folder only
        assert sorted(p.name for p in net.org_key_path(org.name).parent.iterdir()) == \
            ["x25519.pem"]
    files = {o.name: net.org_key_path(o.name).read_bytes() for o in net.layout.orgs}
    height = net.height()
    assert net.up() is False  # running: checked, not published again
    assert net.height() == height
    assert {o.name: net.org_key_path(o.name).read_bytes() for o in net.layout.orgs} == files
    out = run(capsys, "org", "key", "Org2", "--state-dir", str(net.state_dir))
    assert "Org2MSP: published" in out and "matches the published key" in out

    net.down()
    assert net.up() is True  # restarted: the same keys, not published again
    with net.contract("Org2", "analyst") as api:
        assert {o.msp_id: api.get_org_key(o.msp_id).updated for o in net.layout.orgs} == \
            published
    assert {o.name: net.org_key_path(o.name).read_bytes() for o in net.layout.orgs} == files

    said = []
    net.progress = said.append
    try:
        encryption.save_org_key(net.org_key_path("Org1"), encryption.new_org_key())
        assert [s.state for s in net.ensure_org_keys()] == ["mismatch", "unchanged"]
        assert said == [f"warning: Org1MSP's encryption key in {net.org_key_path('Org1')} is "
                        f"not the one published on the channel; data keys wrapped for Org1MSP "
                        f"will not open with it. Run 'ledgerlake org rotate-key' for that "
                        f"organisation to publish a new one"]
    finally:
        net.org_key_path("Org1").write_bytes(files["Org1"])
        net.progress = lambda message: None
    assert [s.state for s in net.ensure_org_keys()] == ["unchanged", "unchanged"]


def test_stream_lifecycle_through_the_cli(net, schema_file, capsys):
    state = ("--state-dir", str(net.state_dir))
    out = run(capsys, "stream", "create", "plant", "--schema", str(schema_file),
              "--readers", "Org1,Org2", "--description", "line 1", *state)
    assert "Created plant: owner Org1MSP, key epoch 1, readers Org1MSP, Org2MSP, writers " \
           "Org1MSP" in out
    again = run(capsys, "stream", "create", "plant", "--schema", str(schema_file),
                "--readers", "Org1MSP,Org2MSP", "--description", "line 1", *state)
    assert "already exists as asked; nothing changed" in again
    assert "already exists with another description" in refused(
        capsys, "stream", "create", "plant", "--schema", str(schema_file), "--readers",
        "Org1,Org2", *state)
    assert "Org2MSP of stream 'other' must also be reader(s)" in refused(
        capsys, "stream", "create", "other", "--schema", str(schema_file), "--writers",
        "Org1,Org2", "--readers", "Org1", *state)
    for args in (("rotate", "plant"), ("revoke", "plant", "Org1"), ("shred", "plant", "1"),
                 ("update", "plant", "--description", "mine")):
        err = refused(capsys, "stream", *args, "--as", "Org2/admin", *state)
        assert "only admins of Org1MSP manage stream 'plant'" in err, (args, err)
    assert "Org1MSP still writes to stream 'plant'" in refused(
        capsys, "stream", "revoke", "plant", "Org1", *state)

    with net.contract("Org2", "analyst") as org2:
        old = open_data_keys(org2, "plant", "before revocation",
                             org_private_keys(net.org_key_path("Org2")))
    assert set(old) == {1}
    out = run(capsys, "stream", "revoke", "plant", "Org2", *state)
    assert "Revoked Org2MSP and rotated the key: plant: owner Org1MSP, key epoch 2, readers " \
           "Org1MSP," in out
    with net.contract("Org2", "analyst") as org2:
        with pytest.raises(EndorseError, match="Org2MSP is not a reader of 'plant'"):
            open_data_keys(org2, "plant", "after revocation",
                           org_private_keys(net.org_key_path("Org2")))
    err = refused(capsys, "stream", "batches", "plant", "--as", "Org2/analyst", *state)
    assert "ACCESS_DENIED" in err
    assert "only admins of Org1MSP manage stream 'plant'" in refused(
        capsys, "stream", "grant", "plant", "Org2", "--as", "Org2/admin", *state)

    out = run(capsys, "stream", "grant", "plant", "Org2MSP", *state)
    assert "Granted Org2MSP: plant: owner Org1MSP, key epoch 2" in out
    with net.contract("Org2", "analyst") as org2, net.contract("Org1", "analyst") as org1:
        org2_keys = open_data_keys(org2, "plant", "re-granted",
                                   org_private_keys(net.org_key_path("Org2")))
        org1_keys = open_data_keys(org1, "plant", "owner",
                                   org_private_keys(net.org_key_path("Org1")))
    assert set(org2_keys) == {2} and org2_keys[2] == org1_keys[2] and old[1] == org1_keys[1]
    assert "key epoch 3" in run(capsys, "stream", "rotate", "plant", *state)
    assert "shredded 1" in run(capsys, "stream", "shred", "plant", "1", *state)
    assert "epoch 1 of 'plant' is already shredded" in refused(
        capsys, "stream", "shred", "plant", "1", *state)
    assert "Updated plant" in run(capsys, "stream", "update", "plant", "--description",
                                  "line one", *state)
    shown = json.loads(run(capsys, "stream", "show", "plant", "--json", *state))
    assert (shown["description"], shown["epoch"], shown["shredded"]) == ("line one", 3, [1])


def _submit(net, stream, seq, prev):
    with net.contract("Org1", "analyst") as analyst:
        stream_def = analyst.get_stream(stream)
        key = open_data_keys(analyst, stream, "write", org_private_keys(
            net.org_key_path("Org1")))[stream_def.epoch]
    sealed = seal_batch(stream=stream, source="line-1", seq=seq, prev_hash=prev,
                        schema=stream_def.schema, data_key=key, key_epoch=stream_def.epoch,
                        rows=[{"sensor": f"s{seq}", "temperature_c": 20.0 + seq}])
    with net.contract("Org1", "producer") as producer:
        receipt = producer.submit_batch(sealed)
    net.settle()
    return receipt.id


def test_queries_and_audit_in_three_formats(net, schema_file, capsys):
    state = ("--state-dir", str(net.state_dir))
    run(capsys, "stream", "create", "q", "--schema", str(schema_file), *state)
    listed = list(csv.DictReader(io.StringIO(run(capsys, "stream", "list", "--format", "csv",
                                                 *state))))
    assert {"stream": "q", "owner": "Org1MSP", "readers": "Org1MSP", "writers": "Org1MSP"}.items() \
        <= next(r for r in listed if r["stream"] == "q").items()
    first = _submit(net, "q", 1, "")
    second = _submit(net, "q", 2, first)

    table = run(capsys, "query", "batches", "q", *state)
    assert "2 batch(es) of q" in table and "┃ batch" in table
    as_json = json.loads(run(capsys, "query", "batches", "q", "--source", "line-1",
                             "--format", "json", *state))
    assert [b["id"] for b in as_json] == [first, second]
    rows = list(csv.DictReader(io.StringIO(run(capsys, "query", "batches", "q", "--format",
                                               "csv", *state))))
    assert [(r["batch"], r["seq"], r["records"]) for r in rows] == [(first, "1", "1"),
                                                                     (second, "2", "1")]
    assert run(capsys, "query", "batches", "q", "--since", "2200-01-01", "--format", "csv",
               *state).splitlines() == [",".join(("batch", "source", "seq", "records",
                                                  "epoch", "from", "to", "producer",
                                                  "plaintext_checked", "tx"))]
    one = json.loads(run(capsys, "query", "batch", "q", second, "--format", "json", *state))
    assert one[0]["prev_hash"] == first
    history = list(csv.DictReader(io.StringIO(run(
        capsys, "query", "history", "q", "line-1", "--format", "csv", *state))))
    assert [(h["seq"], h["batch"]) for h in history] == [("2", second), ("1", first)]
    assert "NOT_FOUND" in refused(capsys, "query", "batch", "q", "0" * 64, *state)

    trail = list(csv.DictReader(io.StringIO(run(capsys, "audit", "--stream", "q", "--format",
                                                "csv", *state))))
    assert [t["action"] for t in trail] == ["StreamCreated", "StreamOpened", "BatchSubmitted",
                                            "StreamOpened", "BatchSubmitted"]
    assert trail[0]["actor"] == "Org1MSP/admin" and trail[0]["role"] == "admin"
    submitted = json.loads(run(capsys, "audit", "--stream", "q", "--action", "BatchSubmitted",
                               "--actor", "Org1MSP", "--format", "json", *state))
    assert [e["target"]["stream"] for e in submitted] == ["q", "q"]
    assert "2 audit entries" in run(capsys, "audit", "--stream", "q", "--action",
                                    "StreamOpened", *state)
    assert "access denied by rule 'audit.read'" in refused(
        capsys, "audit", "--as", "Org1/analyst", *state)


def test_rotating_an_org_key(net, schema_file, capsys):
    state = ("--state-dir", str(net.state_dir))
    run(capsys, "stream", "create", "mine", "--schema", str(schema_file), "--as",
        "Org2/admin", "--readers", "Org1,Org2", *state)
    run(capsys, "stream", "create", "yours", "--schema", str(schema_file), "--readers",
        "Org1,Org2", *state)
    old_pem = encryption.public_pem(encryption.load_org_key(net.org_key_path("Org2")))
    out = run(capsys, "org", "rotate-key", "Org2", *state)
    assert "Published a new encryption key for Org2MSP" in out
    assert "mine" in out and "'yours' is owned by Org1MSP" in out
    with net.contract("Org2", "analyst") as api:
        assert api.get_org_key("Org2MSP").public_key != old_pem
        keys = org_private_keys(net.org_key_path("Org2"))
        assert len(keys) == 2
        assert set(open_data_keys(api, "mine", "after rotation", keys)) == {1, 2}
        assert set(open_data_keys(api, "yours", "after rotation", keys)) == {1}
    run(capsys, "stream", "rotate", "yours", *state)
    with net.contract("Org2", "analyst") as api:
        new_only = [encryption.load_org_key(net.org_key_path("Org2"))]
        assert set(open_data_keys(api, "yours", "new key", new_only, epoch=2)) == {2}
    assert net.up() is False and "matches the published key" in run(
        capsys, "org", "key", "Org2", *state)
