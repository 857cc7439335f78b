"""The MQTT source against a real Mosquitto broker (Debian's, started by tests/servers.py):
messages become rows, stop() ends cleanly, only committed messages are acknowledged, and a
source killed with SIGKILL after its position was recorded resumes without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ledgerlake.client.ingest import open_source
from ledgerlake.client.ingest.mqtt import SETTLE, MqttSource
from ledgerlake.errors import ConfigError, SourceError
from servers import mosquitto  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def make(broker, name: str, **kwargs) -> MqttSource:
    return MqttSource("127.0.0.1", broker.port, f"plant/{name}/+", client_id=f"test-{name}",
                      username=broker.USER, password=broker.PASSWORD, **kwargs)


def read(source, count: int, after=None) -> list:
    """The next ``count`` rows."""
    rows = []
    for row in source.rows(after=after):
        rows.append(row)
        if len(rows) == count:
            break
    return rows


def until_quiet(source, after=None) -> list:
    """Rows until none came for a while (then stop()): what the broker had. A resume holds
    redelivered messages up to ``SETTLE`` seconds, so it gets longer."""
    rows, last = [], [time.monotonic()]
    quiet = 1.0 if after is None else SETTLE + 1.5

    def watch():
        while time.monotonic() - last[0] < quiet:
            time.sleep(0.05)
        source.stop()
    threading.Thread(target=watch, daemon=True).start()
    for row in source.rows(after=after):
        rows.append(row)
        last[0] = time.monotonic()
    return rows


def numbers(rows):
    return [row.record["n"] for row in rows]


def publish(broker, name, values, sensor="s1"):
    broker.publish(f"plant/{name}/{sensor}",
                   [v if isinstance(v, (str, bytes)) else json.dumps({"n": v}) for v in values])


def test_messages_become_rows_and_stop_ends_them_cleanly(mosquitto):
    with make(mosquitto, "basic") as source:
        publish(mosquitto, "basic", [0, 1, 2, "not json", "[1]", 5])
        rows = read(source, 6)
        assert [r.record for r in rows[:3]] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert rows[3].record is None and "must be JSON" in rows[3].error
        assert rows[3].where == "topic plant/basic/s1 message 4"
        assert rows[4].error == "topic plant/basic/s1 message 5 is a JSON list, not an object"
        assert rows[5].record == {"n": 5}
        assert source.source_id() == "mqtt.127.0.0.1.plant.basic.any"
        threading.Timer(0.3, source.stop).start()  # from another thread, while waiting
        started = time.monotonic()
        assert list(source.rows()) == []  # ends, no exception
        assert time.monotonic() - started < 3
        source.stop()  # before rows(): the next rows() ends at once
        assert list(source.rows()) == []
        publish(mosquitto, "basic", [6])
        assert numbers(read(source, 1)) == [6]  # and the one after reads again
        source.committed(rows[-1].position)


def test_only_committed_messages_are_acknowledged_the_rest_come_again(mosquitto):
    with make(mosquitto, "acks") as first:
        publish(mosquitto, "acks", range(10))
        rows = read(first, 10)
        assert numbers(rows) == list(range(10))
        first.committed(rows[3].position)  # 0..3 committed; 4..9 not
        time.sleep(0.3)  # let the acknowledgements reach the broker
    with make(mosquitto, "acks") as second:  # same client id: the same session
        again = until_quiet(second)
        assert numbers(again) == list(range(4, 10))
        second.committed(again[-1].position)
        time.sleep(0.3)
    with make(mosquitto, "acks") as third:
        assert until_quiet(third) == []
        publish(mosquitto, "acks", [10])
        assert numbers(read(third, 1)) == [10]  # the subscription lives on in the session


READER = """
import json, sys
from ledgerlake.client.ingest.mqtt import SETTLE, MqttSource
port, name, user, password = sys.argv[1:5]
source = MqttSource("127.0.0.1", int(port), f"plant/{name}/+", client_id=f"test-{name}",
                    username=user, password=password)
print("ready", flush=True)
for row in source.rows():
    print(json.dumps(row.position), flush=True)
"""


def test_a_source_killed_after_its_position_was_recorded_resumes_without_duplicates(mosquitto):
    """The pipeline records a position after its batch commits, then calls committed(): a
    SIGKILL between the two leaves committed messages unacknowledged. The broker gives them
    again; given the position, the next source drops them and reads only the rest."""
    name = "killed"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(mosquitto.port), name,
                               mosquitto.USER, mosquitto.PASSWORD],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "ready"
        publish(mosquitto, name, range(8))
        positions = [json.loads(reader.stdout.readline()) for _ in range(8)]
    finally:
        os.kill(reader.pid, signal.SIGKILL)
        reader.wait(timeout=10)
    recorded = positions[4]  # messages 0..4 "committed", never acknowledged
    with make(mosquitto, name) as source:
        rows = until_quiet(source, after=recorded)
        assert numbers(rows) == [5, 6, 7]
        publish(mosquitto, name, [8])
        assert numbers(read(source, 1)) == [8]
        source.committed(rows[1].position)  # 5, 6 acknowledged; 7 and 8 not
        time.sleep(0.3)
    with make(mosquitto, name) as source:
        assert numbers(until_quiet(source)) == [7, 8]
    with make(mosquitto, name) as source:  # a position matching nothing drops nothing
        assert numbers(until_quiet(source, after=recorded)) == [7, 8]


def test_refused_credentials_and_an_unreachable_broker_are_clear_errors(mosquitto):
    with pytest.raises(ConfigError, match="refused: Not authorized") as caught:
        MqttSource("127.0.0.1", mosquitto.port, "t", username=mosquitto.USER,
                   password="wrong-hunter2")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(SourceError, match="cannot reach the MQTT broker 127.0.0.1:1:"):
        MqttSource("127.0.0.1", 1, "t")


def test_open_source_reads_an_mqtt_url_with_credentials(mosquitto):
    spec = f"mqtt://{mosquitto.USER}:{mosquitto.PASSWORD}@127.0.0.1:{mosquitto.port}/plant/url/#"
    with open_source(spec, {"client_id": "test-url", "keepalive": "20"}) as source:
        publish(mosquitto, "url", [1], sensor="a/b")
        rows = read(source, 1)
        assert numbers(rows) == [1] and rows[0].where.startswith("topic plant/url/a/b ")
        source.committed(rows[0].position)


def test_messages_resent_after_a_reconnect_are_not_read_twice(mosquitto):
    """After a lost connection the broker resends what is unacknowledged (DUP); the rows
    already handed on are not handed on again, and their acknowledgements still count."""
    with make(mosquitto, "blip") as source:
        publish(mosquitto, "blip", range(5))
        rows = read(source, 5)
        source.committed(rows[1].position)  # 0, 1 acknowledged; 2..4 handed on, pending
        time.sleep(0.3)
        source._client.reconnect()  # a network blip: a new connection into the same session
        publish(mosquitto, "blip", [5])
        assert numbers(until_quiet(source)) == [5]
        source.committed(rows[-1].position)
        time.sleep(0.3)
    with make(mosquitto, "blip") as source:
        assert numbers(until_quiet(source)) == [5]  # 2..4 were acknowledged after the blip


def test_a_retained_message_is_read_once_not_at_every_run(mosquitto):
    mosquitto.publish("plant/retained/s1", [json.dumps({"n": 1})], retain=True)
    with make(mosquitto, "retained") as source:
        rows = until_quiet(source)
        assert numbers(rows) == [1]
        source.committed(rows[-1].position)
        time.sleep(0.3)
    with make(mosquitto, "retained") as source:  # the session's subscription stays
        assert until_quiet(source) == []
