"""Stream administration (``ledgerlake.client.streams``) through the real client against the
contract on an in-memory ledger: keys wrapped for every reader and never kept in clear,
idempotent creation, grants, revocation with rotation, organisation key rotation; schemas
loaded from files and inferred from samples, with errors naming the file and the field."""

from __future__ import annotations

import json
import os
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledgerlake.client import encryption
from ledgerlake.client.api import LedgerlakeContract
from ledgerlake.client.audit import audit_trail
from ledgerlake.client.streams import (
    create_stream,
    ensure_org_key,
    grant,
    infer_schema,
    load_schema,
    open_data_keys,
    org_private_keys,
    retired_key_paths,
    revoke,
    rotate,
    rotate_org_key,
    schema_yaml,
    shred,
    update,
)
from ledgerlake.errors import ConfigError, DecryptionError, EndorseError
from ledgerlake.protocol import ErrorCode
from memory_gateway import MemoryGateway

ORGS = ("Org1", "Org2", "Org3")
SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "unit": "°C", "min": -40, "max": 125}]}


class World:
    def __init__(self, tmp_path):
        self.gateway = MemoryGateway()
        self.tmp = tmp_path
        self.api = {(org, role): LedgerlakeContract(self.gateway.contract(f"{org}MSP", role))
                    for org in ORGS for role in ("admin", "producer", "analyst", "auditor")}

    def __getitem__(self, who):
        return self.api[who]

    def key_path(self, org):
        return self.tmp / "keys" / org / "x25519.pem"

    def publish(self, *orgs):
        for org in orgs:
            assert ensure_org_key(self[org, "admin"], f"{org}MSP", self.key_path(org)).state \
                == "registered"

    def data_keys(self, org, stream):
        return open_data_keys(self[org, "analyst"], stream, "test",
                              org_private_keys(self.key_path(org)))

    def grants(self, stream):
        """Every wrapped key the ledger holds for ``stream``: {(epoch, msp): value}."""
        found = {}
        for key, (value, _) in self.gateway.ledger.state.items():
            parts = key.split("\x00")
            if parts[1:2] == ["grant"] and parts[2] == stream:
                found[int(parts[3]), parts[4]] = value.decode()
        return found


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    w.publish("Org1", "Org2", "Org3")
    return w


# -- organisation keys ----------------------------------------------------------------------
def test_ensure_org_key_writes_a_private_key_0600_and_publishes_its_public_key(world):
    path = world.key_path("Org1")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    published = world["Org1", "producer"].get_org_key("Org1MSP")
    assert published.public_key == encryption.public_pem(encryption.load_org_key(path))


def test_ensure_org_key_is_idempotent_and_reports_a_mismatch(world):
    path = world.key_path("Org1")
    before = path.read_bytes()
    calls = len(world.gateway.calls)
    assert ensure_org_key(world["Org1", "admin"], "Org1MSP", path).state == "unchanged"
    assert [m for m, _ in world.gateway.calls[calls:]] == ["Evaluate"]  # no submit
    assert path.read_bytes() == before
    encryption.save_org_key(path, encryption.new_org_key())
    status = ensure_org_key(world["Org1", "admin"], "Org1MSP", path)
    assert status.state == "mismatch" and "is not the one published" in status.message
    assert "ledgerlake org rotate-key" in status.message
    path.unlink()
    status = ensure_org_key(world["Org1", "admin"], "Org1MSP", path)
    assert status.state == "lost" and not path.exists()


def test_creating_wraps_the_data_key_for_every_reader_and_nothing_in_clear(world):
    made = create_stream(world["Org1", "admin"], "plant", SCHEMA,
                         readers=["Org1MSP", "Org2MSP"], writers=["Org1MSP"])
    assert made.created and made.stream.readers == ("Org1MSP", "Org2MSP")
    key1, key2 = world.data_keys("Org1", "plant"), world.data_keys("Org2", "plant")
    assert key1 == key2 and set(key1) == {1} and len(key1[1]) == 32
    assert set(world.grants("plant")) == {(1, "Org1MSP"), (1, "Org2MSP")}
    with pytest.raises(EndorseError, match="Org3MSP is not a reader of 'plant'"):
        world.data_keys("Org3", "plant")
    data_key = key1[1]
    for value, _ in world.gateway.ledger.state.values():
        assert data_key not in value and encryption.b64encode(data_key).encode() not in value
    assert not any(data_key in p.read_bytes() for p in world.tmp.rglob("*") if p.is_file())


def test_creating_again_is_idempotent_and_a_different_stream_is_an_error(world):
    admin = world["Org1", "admin"]
    create_stream(admin, "plant", SCHEMA, ["Org1MSP"], ["Org1MSP"], description="d")
    again = create_stream(admin, "plant", SCHEMA, ["Org1MSP"], ["Org1MSP"], description="d")
    assert not again.created and again.stream.epoch == 1
    with pytest.raises(ConfigError, match="already exists with another readers, description"):
        create_stream(admin, "plant", SCHEMA, ["Org1MSP", "Org2MSP"], ["Org1MSP"])
    with pytest.raises(ConfigError, match=r"already exists with another owner \(Org1MSP\);"):
        create_stream(world["Org2", "admin"], "plant", SCHEMA, ["Org1MSP"], ["Org1MSP"],
                      description="d")


def test_a_reader_without_a_published_key_is_named(tmp_path):
    world = World(tmp_path)
    world.publish("Org1")
    with pytest.raises(ConfigError, match="Org2MSP has not published an encryption key"):
        create_stream(world["Org1", "admin"], "plant", SCHEMA, ["Org1MSP", "Org2MSP"],
                      ["Org1MSP"])


def test_a_writer_that_does_not_read_is_refused_by_the_contract(world):
    with pytest.raises(EndorseError) as caught:
        create_stream(world["Org1", "admin"], "plant", SCHEMA, ["Org1MSP"], ["Org2MSP"])
    assert caught.value.error_code is ErrorCode.INVALID_INPUT
    assert "Org2MSP of stream 'plant' must also be reader(s)" in str(caught.value)


# -- grants, revocation, rotation, shredding --------------------------------------------------
def test_grant_with_the_current_key_gives_that_epoch(world):
    create_stream(world["Org1", "admin"], "plant", SCHEMA, ["Org1MSP"], ["Org1MSP"])
    current = world.data_keys("Org1", "plant")[1]
    stream = grant(world["Org1", "admin"], "plant", "Org2MSP", data_key=current)
    assert stream.epoch == 1 and world.data_keys("Org2", "plant") == {1: current}
    with pytest.raises(EndorseError, match="Org2MSP already reads stream 'plant'"):
        grant(world["Org1", "admin"], "plant", "Org2MSP", data_key=current)
    with pytest.raises(ConfigError, match="Org2MSP already reads stream 'plant'"):
        grant(world["Org1", "admin"], "plant", "Org2MSP")  # refused before rotating
    assert world["Org1", "admin"].get_stream("plant").epoch == 1


def test_grant_without_the_key_rotates_first(world):
    create_stream(world["Org1", "admin"], "plant", SCHEMA, ["Org2MSP"], ["Org2MSP"])
    stream = grant(world["Org1", "admin"], "plant", "Org3MSP")
    assert stream.epoch == 2 and stream.readers == ("Org2MSP", "Org3MSP")
    assert world.data_keys("Org3", "plant").keys() == {2}
    assert world.data_keys("Org2", "plant")[2] == world.data_keys("Org3", "plant")[2]


def test_revoke_rotates_so_the_revoked_org_gets_no_new_epoch(world):
    create_stream(world["Org1", "admin"], "plant", SCHEMA, ["Org1MSP", "Org2MSP"],
                  ["Org1MSP"])
    old = world.data_keys("Org2", "plant")[1]
    stream = revoke(world["Org1", "admin"], "plant", "Org2MSP")
    assert stream.epoch == 2 and stream.readers == ("Org1MSP",)
    assert set(world.grants("plant")) == {(1, "Org1MSP"), (2, "Org1MSP")}
    assert world.data_keys("Org1", "plant")[2] != old
    with pytest.raises(EndorseError, match="Org2MSP is not a reader of 'plant'"):
        world.data_keys("Org2", "plant")


def test_revoking_a_writer_is_refused_naming_the_fix(world):
    create_stream(world["Org1", "admin"], "plant", SCHEMA, ["Org1MSP", "Org2MSP"],
                  ["Org1MSP", "Org2MSP"])
    with pytest.raises(EndorseError, match="remove Org2MSP from the writers first"):
        revoke(world["Org1", "admin"], "plant", "Org2MSP")
    update(world["Org1", "admin"], "plant", writers=["Org1MSP"])
    assert revoke(world["Org1", "admin"], "plant", "Org2MSP").readers == ("Org1MSP",)


def test_rotate_and_shred(world):
    create_stream(world["Org1", "admin"], "plant", SCHEMA, ["Org1MSP", "Org2MSP"],
                  ["Org1MSP"])
    settled = []
    stream = rotate(world["Org1", "admin"], "plant", settle=lambda: settled.append(1))
    assert stream.epoch == 2 and settled == [1]
    keys = world.data_keys("Org2", "plant")
    assert set(keys) == {1, 2} and keys[1] != keys[2]
    assert shred(world["Org1", "admin"], "plant", 1).shredded == (1,)
    assert set(world.data_keys("Org2", "plant")) == {2}


def test_another_orgs_admin_cannot_manage_the_stream(world):
    create_stream(world["Org1", "admin"], "plant", SCHEMA, ["Org1MSP", "Org2MSP"],
                  ["Org1MSP"])
    for act in (lambda a: rotate(a, "plant"), lambda a: revoke(a, "plant", "Org1MSP"),
                lambda a: shred(a, "plant", 1), lambda a: update(a, "plant", description="x")):
        with pytest.raises(EndorseError, match="only admins of Org1MSP manage stream 'plant'"):
            act(world["Org2", "admin"])


# -- organisation key rotation -----------------------------------------------------------
def test_rotating_an_org_key_rekeys_its_streams_and_keeps_old_epochs_open(world):
    create_stream(world["Org1", "admin"], "own", SCHEMA, ["Org1MSP", "Org2MSP"], ["Org1MSP"])
    create_stream(world["Org2", "admin"], "theirs", SCHEMA, ["Org1MSP", "Org2MSP"],
                  ["Org2MSP"])
    path = world.key_path("Org1")
    old_pem = encryption.public_pem(encryption.load_org_key(path))
    done = rotate_org_key(world["Org1", "admin"], "Org1MSP", path)
    assert done.org_key.public_key != old_pem
    assert done.org_key.public_key == encryption.public_pem(encryption.load_org_key(path))
    assert done.rekeyed == ("own",) and done.owners_must_rotate == {"theirs": "Org2MSP"}
    assert len(retired_key_paths(path)) == 1
    assert stat.S_IMODE(os.stat(retired_key_paths(path)[0]).st_mode) == 0o600
    own = world.data_keys("Org1", "own")  # epoch 1 with the retired key, 2 with the new
    assert set(own) == {1, 2} and own == world.data_keys("Org2", "own")
    with pytest.raises(DecryptionError):  # the new key alone cannot open the old epoch
        open_data_keys(world["Org1", "analyst"], "own", "t", [encryption.load_org_key(path)])
    assert world.data_keys("Org1", "theirs").keys() == {1}
    rotate(world["Org2", "admin"], "theirs")  # what the other owner does
    assert world.data_keys("Org1", "theirs") == world.data_keys("Org2", "theirs")


# -- audit filters ------------------------------------------------------------------------
def test_the_audit_trail_filters_by_every_key_given(world):
    create_stream(world["Org1", "admin"], "a", SCHEMA, ["Org1MSP", "Org2MSP"], ["Org1MSP"])
    create_stream(world["Org2", "admin"], "b", SCHEMA, ["Org2MSP"], ["Org2MSP"])
    rotate(world["Org1", "admin"], "a")
    auditor = world["Org1", "auditor"]
    actions = [e.action for e in audit_trail(auditor, stream="a")]
    assert actions == ["StreamCreated", "KeyRotated"]
    assert [e.target["stream"] for e in audit_trail(auditor, action="StreamCreated",
                                                    actor="Org2MSP")] == ["b"]
    assert [e.action for e in audit_trail(auditor, actor="Org1MSP/admin", stream="a",
                                          action="KeyRotated")] == ["KeyRotated"]
    times = [e.time for e in audit_trail(auditor)]
    assert list(audit_trail(auditor, since=times[-1] + 1)) == []
    assert len(list(audit_trail(auditor, until=times[-1]))) == len(times) - 1
    with pytest.raises(ConfigError, match="--since is after --until"):
        list(audit_trail(auditor, since=2, until=1))


# -- schemas ------------------------------------------------------------------------------
def test_load_schema_reads_yaml_json_and_a_bare_field_list(tmp_path):
    (tmp_path / "s.yaml").write_text("version: 1\nfields:\n  - {name: v, type: int}\n")
    (tmp_path / "s.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "list.yml").write_text("- name: v\n  type: float\n  unit: m\n")
    assert load_schema(tmp_path / "s.yaml")["fields"][0]["type"] == "int"
    assert load_schema(tmp_path / "s.json")["fields"][1]["unit"] == "°C"
    assert load_schema(tmp_path / "list.yml") == {"version": 1, "fields": [
        {"name": "v", "type": "float", "unit": "m", "min": None, "max": None,
         "public": False, "required": True}]}


@pytest.mark.parametrize("name, text, message", [
    ("bad.yaml", "fields:\n  - {name: v, type: blob}\n",
     r"bad.yaml: schema.fields\[0\].type must be one of int, float, string, bool, timestamp"),
    ("bad.yaml", "fields: [\n", r"bad.yaml is not YAML at line"),
    ("bad.json", '{"version": 1, "version": 2}', r"bad.json: key 'version' appears twice"),
    ("bad.yaml", "fields:\n  - {name: v, type: int, colour: red}\n",
     r"bad.yaml: schema.fields\[0\].colour is not a field property"),
    ("bad.yaml", "fields: []\n", r"bad.yaml: schema.fields must be a non-empty list"),
    ("bad.yaml", "42\n", r"bad.yaml: schema must be a mapping"),
])
def test_a_bad_schema_file_is_named_with_its_field(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_schema(tmp_path / name)


def test_a_missing_schema_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"schema file .*nope.yaml does not exist"):
        load_schema(tmp_path / "nope.yaml")


def _expected(required_v=True):
    return [("sensor", "string", True), ("count", "int", True), ("temp", "float", True),
            ("ok", "bool", True), ("at", "timestamp", True), ("v", "float", required_v)]


def _fields(schema):
    return [(f["name"], f["type"], f["required"]) for f in schema["fields"]]


def test_infer_schema_from_csv_jsonl_and_parquet(tmp_path):
    (tmp_path / "s.csv").write_text(
        "sensor,count,temp,ok,at,v\n"
        "a,1,2.5,true,2026-01-01T00:00:00Z,1.5\n"
        "b,2,3.0,false,2026-01-01T00:00:01Z,\n")
    assert _fields(infer_schema(tmp_path / "s.csv")) == _expected(required_v=False)
    (tmp_path / "s.jsonl").write_text(
        '{"sensor": "a", "count": 1, "temp": 2.5, "ok": true, '
        '"at": "2026-01-01T00:00:00", "v": 1.5}\n'
        '{"sensor": "b", "count": 2, "temp": 3.0, "ok": false, '
        '"at": "2026-01-01T00:00:01", "v": 2.0}\n')
    assert _fields(infer_schema(tmp_path / "s.jsonl")) == _expected()
    table = pa.table({"sensor": ["a"], "count": pa.array([1], pa.int32()), "temp": [2.5],
                      "ok": [True], "at": pa.array([0], pa.timestamp("ns")),
                      "v": pa.array([None], pa.float64())})
    pq.write_table(table, tmp_path / "s.parquet")
    schema = infer_schema(tmp_path / "s.parquet")
    assert _fields(schema) == _expected(required_v=False)
    assert not any(f["public"] for f in schema["fields"])  # nothing public by default
    assert "public" not in schema_yaml(schema) and "- name: sensor\n  type: string\n" in \
        schema_yaml(schema)


@pytest.mark.parametrize("name, content, message", [
    ("s.xlsx", b"x", r"s.xlsx: cannot infer a schema from a .xlsx file"),
    ("s.jsonl", b'{"tags": [1, 2]}\n', r"column 'tags' has type list<item: int64>"),
    ("s.csv", b"bad name,v\n1,2\n", r"column 'bad name' is not a field name"),
    ("s.jsonl", b"not json\n", r"s.jsonl cannot be read as JSONL"),
    ("s.jsonl", b"\n", r"s.jsonl holds no records"),
])
def test_infer_schema_errors_name_the_file_and_column(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        infer_schema(tmp_path / name)


def test_infer_schema_reads_only_a_sample(tmp_path):
    lines = ["v"] + ["1"] * 50 + ["x"]  # a string past the sample would make it a string
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    assert _fields(infer_schema(tmp_path / "s.csv", sample_rows=10)) == [("v", "int", True)]
    assert _fields(infer_schema(tmp_path / "s.csv")) == [("v", "string", True)]


def test_a_rotation_that_is_not_published_changes_no_file(world, monkeypatch):
    path = world.key_path("Org1")
    before = path.read_bytes()
    admin = world["Org1", "admin"]

    def refuse(pem):
        raise EndorseError("Endorse failed: peer unavailable")
    monkeypatch.setattr(admin, "register_org_key", refuse)
    with pytest.raises(EndorseError, match="peer unavailable"):
        rotate_org_key(admin, "Org1MSP", path)
    assert path.read_bytes() == before and retired_key_paths(path) == []
    assert sorted(p.name for p in path.parent.iterdir()) == ["retired", "x25519.pem"]
