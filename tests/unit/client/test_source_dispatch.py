"""Which SOURCE string opens which source kind (``open_source``), the MQTT URL form, and the
MQTT source's checks that need no broker."""

from __future__ import annotations

import pytest

from ledgerlake.client.ingest import open_source
from ledgerlake.client.ingest.mqtt import MqttSource, fingerprint, parse_record, parse_spec
from ledgerlake.client.ingest.source import Source, derived_source_id
from ledgerlake.errors import ConfigError


def test_a_sqlite_url_opens_a_sql_source_and_options_for_other_kinds_are_refused(tmp_path):
    import sqlite3
    path = tmp_path / "d.db"
    sqlite3.connect(path).execute("CREATE TABLE t (id INTEGER PRIMARY KEY)").connection.commit()
    with open_source(f"sqlite:///{path}", {"table": "t", "cursor": "id", "query": None,
                                           "header": ()}) as source:
        assert source.kind == "sql" and isinstance(source, Source)
    with pytest.raises(ConfigError, match="--items-path does not apply to SQL sources"):
        open_source(f"sqlite:///{path}", {"table": "t", "cursor": "id", "items_path": "x"})
    with pytest.raises(ConfigError, match="--table does not apply to HTTP sources"):
        open_source("https://example.com/x", {"table": "t"})
    with pytest.raises(ConfigError, match="--cursor does not apply to MQTT sources"):
        open_source("mqtt://h/t", {"cursor": "c"})


def test_an_http_url_opens_an_http_source_without_any_request():
    with open_source("HTTPS://api.example.com/v1/x", {"items_path": "data"}) as source:
        assert source.kind == "http" and source.items_path == "data"


@pytest.mark.parametrize("spec", ["ftp://host/file", "kafka://b/t"])
def test_another_scheme_is_no_source(spec):
    with pytest.raises(ConfigError, match="unknown source scheme"):
        open_source(spec, {})


def test_mqtt_urls_carry_host_port_topic_and_credentials():
    assert parse_spec("mqtt://broker/plant/+/temp") == {
        "host": "broker", "port": 1883, "topic": "plant/+/temp", "tls": False}
    assert parse_spec("mqtts://u%40x:p%3Aw@broker:9000/a/#") == {
        "host": "broker", "port": 9000, "topic": "a/#", "tls": True, "username": "u@x",
        "password": "p:w"}
    assert parse_spec("mqtts://broker/a")["port"] == 8883
    for bad in ("mqtt://:1883/t", "http://h/t", "mqtt://h:port/t", "mqtt:/h/t"):
        with pytest.raises(ConfigError):
            parse_spec(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"topic": ""}, "needs a topic"),
    ({"topic": "t", "qos": 2}, "qos must be 1"),
    ({"topic": "t", "receive_maximum": 70_000}, "receive_maximum"),
    ({"topic": "t", "keepalive": 0}, "keepalive"),
])
def test_mqtt_options_are_checked_before_connecting(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MqttSource("127.0.0.1", 1, **kwargs)


def test_payloads_and_fingerprints():
    assert parse_record(b'{"n": 1}', "m") == ({"n": 1}, None)
    assert parse_record(b'{"n": 1, "n": 2}', "m")[1] == "m: key 'n' appears twice in one object"
    assert parse_record(b"\xff", "m")[1] == "m must be UTF-8 text"
    assert parse_record(b"3", "m") == (None, "m is a JSON int, not an object")
    assert fingerprint("a", b"b") != fingerprint("ab", b"") != fingerprint("a", b"c")
    assert fingerprint("a", b"b") == fingerprint("a", b"b")


def test_derived_source_ids_are_identifiers():
    assert derived_source_id("mqtt.h.plant/+/x") == "mqtt.h.plant-x"
    long = derived_source_id("http." + "a" * 80)
    assert len(long) == 64 and long != derived_source_id("http." + "a" * 81)
