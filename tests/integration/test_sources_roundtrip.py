"""Round trips through the whole ingest pipeline onto a real Fabric network, one per source
kind of this module's servers: rows in PostgreSQL, items of a paginated HTTP API and
messages on an MQTT topic decrypt from the ledger to exactly the input, in input order, and
a re-run commits only what is new."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid

import pytest

from ledgerlake.client import Identity, connect, connection, encryption, from_state_dir
from ledgerlake.client import signer_from_wallet
from ledgerlake.client.api import LedgerlakeContract
from ledgerlake.client.ingest.http import HttpSource
from ledgerlake.client.ingest.mqtt import MqttSource
from ledgerlake.client.ingest.pipeline import ingest
from ledgerlake.client.ingest.sql import SqlSource
from ledgerlake.client.models import Writers
from chain_rows import chain_rows
from networks import network_up
from servers import http_api, mosquitto, postgres  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "seq", "type": "int"},
    {"name": "temperature_c", "type": "float"},
    {"name": "ok", "type": "bool"},
    {"name": "ts", "type": "timestamp"},
    {"name": "note", "type": "string", "required": False}]}


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    yield from network_up(tmp_path_factory, "sources", 23500)


@pytest.fixture(scope="module")
def ledger(net):
    """Org1's producer and analyst, Org1's X25519 key, and a stream Org1 writes and reads: (producer api, analyst api, org key, stream name, data key)."""
    org = net.layout.org("Org1")
    made = {}
    for user in ("admin", "producer", "analyst"):
        folder = net.layout.wallet_dir(org, user)
        channel = from_state_dir(net.state_dir, "Org1").dial()
        made[user] = (LedgerlakeContract(connect(Identity.from_wallet(folder),
                                                 signer_from_wallet(folder), channel)
                                         .get_network("ledgerlake").get_contract("ledgerlake")),
                      channel)
    org_key = encryption.load_org_key(connection.local_org_key_path(net.state_dir, "Org1"))
    admin = made["admin"][0]  # 'network up' made Org1's key and published it
    name, data_key = f"sources-{uuid.uuid4().hex[:6]}", encryption.new_data_key()
    admin.create_stream(name, SCHEMA, readers=["Org1MSP"], writers=Writers(("Org1MSP",)),
                        wrapped_keys={"Org1MSP": admin.get_org_key("Org1MSP").wrap(
                            data_key, stream=name, epoch=1)})
    net.settle()
    yield made["producer"][0], made["analyst"][0], org_key, name, data_key
    for _, channel in made.values():
        channel.close()


def rows_of(n: int, start: int = 0, prefix: str = "s") -> list[dict]:
    now = time.time_ns() // 1000 * 1000  # microseconds: what PostgreSQL keeps
    return [{"sensor": f"{prefix}{i}", "seq": i, "temperature_c": round(-20 + i / 10, 1),
             "ok": i % 3 == 0, "ts": now - (n - i) * 1000,
             **({"note": f"n{i}"} if i % 2 else {})} for i in range(start, start + n)]


def on_ledger(ledger, source: str) -> list[dict]:
    """Every record of the source's chain, decrypted as Org1's analyst, in chain order."""
    _, analyst, _, name, data_key = ledger
    return chain_rows(analyst, name, source, SCHEMA, data_key)


def run(ledger, source, tmp_path, **options):
    producer, _, org_key, name, _ = ledger
    try:
        return ingest(producer, source, stream=name, org_key=org_key,
                      state_dir=tmp_path / "state", **options)
    finally:
        source.close()


def test_postgresql_rows_round_trip_and_a_rerun_commits_only_new_rows(ledger, postgres,
                                                                      tmp_path):
    postgres.execute("DROP TABLE IF EXISTS plant")
    postgres.execute("CREATE TABLE plant (sensor text NOT NULL, seq bigint PRIMARY KEY, "
                     "temperature_c float8, ok boolean, ts timestamptz NOT NULL, note text)")

    def insert(rows):
        for r in rows:
            at = EPOCH + dt.timedelta(microseconds=r["ts"] // 1000)  # exact, unlike a float
            postgres.execute("INSERT INTO plant VALUES (%s, %s, %s, %s, %s, %s)",
                             (r["sensor"], r["seq"], r["temperature_c"], r["ok"], at,
                              r.get("note")))
    first, more = rows_of(250), rows_of(40, start=250)
    insert(first)

    def source():
        return SqlSource(postgres.url, table="plant", cursor="ts")
    summary = run(ledger, source(), tmp_path, batch_size=100)
    assert summary.committed == 250
    sid = "sql.ledgerlake_test.plant"
    assert on_ledger(ledger, sid) == first
    assert run(ledger, source(), tmp_path).committed == 0  # nothing new
    insert(more)
    assert run(ledger, source(), tmp_path, batch_size=100).committed == 40
    assert on_ledger(ledger, sid) == first + more


def test_http_items_round_trip_through_retries(ledger, http_api, tmp_path):
    items = rows_of(120, prefix="h")
    http_api.state.items, http_api.state.page_size = items, 25
    http_api.state.faults = [500, 429]

    def source():
        return HttpSource(http_api.url + "/cursor", auth_header="Bearer s3cret-api-token",
                          items_path="data.items", next_path="next", backoff=0.01)
    assert run(ledger, source(), tmp_path, batch_size=50).committed == 120
    assert on_ledger(ledger, "http.127.0.0.1.cursor") == items
    http_api.state.items = items + rows_of(5, start=120, prefix="h")
    assert run(ledger, source(), tmp_path).committed == 5
    assert on_ledger(ledger, "http.127.0.0.1.cursor") == http_api.state.items


def test_mqtt_messages_round_trip_and_are_acknowledged_once_committed(ledger, mosquitto,
                                                                     tmp_path):
    messages = rows_of(60, prefix="m")

    def source():
        return MqttSource("127.0.0.1", mosquitto.port, "plant/roundtrip/+",
                          client_id="roundtrip", username=mosquitto.USER,
                          password=mosquitto.PASSWORD)
    live, stop = source(), threading.Event()
    sid = live.source_id()
    done: list = []

    def work():
        try:
            done.append(run(ledger, live, tmp_path, batch_size=25, flush_seconds=0.5,
                            stop=stop))
        except BaseException as exc:  # noqa: BLE001 - shown by the assert below
            done.append(exc)
    worker = threading.Thread(target=work)
    worker.start()
    try:
        mosquitto.publish("plant/roundtrip/s1", [json.dumps(m) for m in messages])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(on_ledger(ledger, sid)) < len(messages):
            time.sleep(0.5)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    assert done and not isinstance(done[0], BaseException), done
    assert done[0].committed == len(messages)
    assert on_ledger(ledger, sid) == messages
    leftover = source()  # the same session: every committed message was acknowledged
    try:
        threading.Timer(1.5, leftover.stop).start()
        assert list(leftover.rows()) == []
    finally:
        leftover.close()
