"""Records from an MQTT topic: a live source that runs until ``stop()``.

``MqttSource(host, port, topic)`` subscribes (MQTT 5, paho-mqtt 2) with a persistent
session (clean start off, a session expiry) and manual acknowledgements: a message is
acknowledged to the broker only in ``committed(position)``, once the batch holding it is on
the ledger and the position recorded. Each message's payload is one JSON object, the record;
a payload that is not yields a Row with the error, ``where`` = "topic T message N".

``rows()`` blocks while no message comes (the pipeline flushes batches by time in its own
thread) and ends when ``stop()`` is called, from any thread. The client reconnects by
itself after a lost connection, into the same session.

What is guaranteed, and how:

- From the broker: at least once. A message not acknowledged (the ingest stopped or was
  killed before its batch committed) is redelivered to the next source with the same
  ``client_id`` while the session lives (``session_expiry`` seconds, as the broker allows;
  the broker's queue limits, e.g. Mosquitto's ``max_queued_messages``, still apply).
  Use QoS 1: QoS 0 is at most once, and QoS 2 hands the message over at PUBREC, before any
  commit, so it is refused.
- Exactly once on the ledger, when the ingest is killed between recording a position and
  acknowledging: the broker resends the unacknowledged messages in order, with their
  original packet ids and the DUP flag. The position is that message's packet id and a
  digest of its topic and payload; given it, ``rows(after=position)`` drops redelivered (DUP)
  messages up to and including the one that matches, acknowledging them, and yields the
  rest. Within one run, a message redelivered after a reconnect while still pending is
  dropped the same way. A packet id is reused only after its message is acknowledged, so a
  wrong match needs a redelivered message with the same id and the same payload as the
  committed one, which the broker cannot have in flight at once.
- A retained message is read when the session's subscription is made, not again at each
  resubscription (retain handling 1).
- Not covered: a broker that loses its session (restart without persistence, session
  expired) loses unacknowledged messages; a position recorded elsewhere than the batch's
  commit (the pipeline's own rule) is outside this source.

MQTT allows at most 65,535 unacknowledged messages per client (``receive_maximum``, sent to
the broker; Mosquitto also caps MQTT 3 clients with ``max_inflight_messages``): a batch can
hold no more messages than that before it is committed and acknowledged, so size batches
below it or let the time flush commit them.
"""

from __future__ import annotations

import collections
import hashlib
import os
import queue
import threading
import time
from typing import Any, Iterator, Mapping
from urllib.parse import unquote, urlsplit

from ledgerlake.errors import ConfigError, RecordError, SourceError
from ledgerlake.records import parse_json

from .source import Row, derived_source_id

KIND = "mqtt"
SCHEMES = ("mqtt", "mqtts")
#: the options ``from_cli`` takes (CLI: --qos, --client-id, --username, --password,
#: --ca-file, --keepalive)
CLI_OPTIONS = ("qos", "client_id", "username", "password", "ca_file", "keepalive")
MAX_RECEIVE = 65_535
#: seconds without a message after which redelivered messages held while looking for the
#: resume position are known not to contain it
SETTLE = 1.0


def fingerprint(topic: str, payload: bytes) -> str:
    """What identifies a message's content in a position (with its packet id)."""
    digest = hashlib.sha256()
    digest.update(topic.encode())
    digest.update(b"\0")
    digest.update(payload)
    return digest.hexdigest()[:32]


def parse_record(payload: bytes, where: str) -> tuple[dict | None, str | None]:
    """The payload's record, or None and why not."""
    try:
        value = parse_json(payload, where)
    except RecordError as exc:
        return None, str(exc)
    if not isinstance(value, dict):
        return None, f"{where} is a JSON {type(value).__name__}, not an object"
    return value, None


class MqttSource:
    """The messages of ``topic`` (wildcards allowed) as records; see the module docstring.
    Raises ConfigError for bad options or a broker that refuses the credentials or the
    subscription; SourceError when the broker cannot be reached."""

    kind = KIND

    def __init__(self, host: str, port: int = 1883, topic: str = "", *, qos: int = 1,
                 client_id: str | None = None, username: str | None = None,
                 password: str | None = None, tls: bool = False, ca_file: str | None = None,
                 session_expiry: int = 7 * 86_400, receive_maximum: int = MAX_RECEIVE,
                 keepalive: int = 30, connect_timeout: float = 10.0):
        if not topic:
            raise ConfigError("an MQTT source needs a topic, e.g. mqtt://host:1883/plant/+/temp")
        if qos not in (0, 1):
            raise ConfigError("MQTT qos must be 1 (at least once) or 0 (at most once); qos 2 "
                              "is acknowledged before the batch commits")
        if not 1 <= receive_maximum <= MAX_RECEIVE:
            raise ConfigError(f"receive_maximum must be between 1 and {MAX_RECEIVE}")
        if not isinstance(keepalive, int) or keepalive < 1:
            raise ConfigError("keepalive must be a positive number of seconds")
        self.host, self.port, self.topic, self.qos = host, int(port), topic, qos
        self.client_id = client_id or derived_source_id(
            f"ledgerlake-{hashlib.sha256(f'{host}:{port}/{topic}'.encode()).hexdigest()[:16]}")
        self._inbox: queue.Queue = queue.Queue()
        self._pending: collections.deque = collections.deque()  # (seq, mid, qos, key), unacked
        self._pending_keys: set = set()
        #: keys of recently acknowledged messages: one redelivered because its ack was lost
        #: in a reconnect is acknowledged again, not read again
        self._acked: collections.OrderedDict = collections.OrderedDict()
        self._acked_limit = receive_maximum
        self._lock = threading.Lock()
        self._seq = 0
        self._run = os.urandom(6).hex()  # positions of another run are not ours to ack
        self._stopped = threading.Event()
        self._connected = threading.Event()
        self._refused: str | None = None
        self._subscribed = threading.Event()
        self._closed = False
        self._client = self._make_client(username, password, tls, ca_file, session_expiry,
                                         receive_maximum)
        self._start(keepalive, connect_timeout)

    # -- connection --------------------------------------------------------------------------
    def _make_client(self, username, password, tls, ca_file, session_expiry, receive_maximum):
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if username is not None:
            client.username_pw_set(username, password)
        if tls or ca_file:
            try:
                client.tls_set(ca_certs=ca_file)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot use the CA file for MQTT TLS: {exc}") from None
        self._props = Properties(PacketTypes.CONNECT)
        self._props.SessionExpiryInterval = int(session_expiry)
        self._props.ReceiveMaximum = int(receive_maximum)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        return client

    def _start(self, keepalive: int, timeout: float) -> None:
        where = f"MQTT broker {self.host}:{self.port}"
        try:
            self._client.connect(self.host, self.port, keepalive, clean_start=False,
                                 properties=self._props)
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot reach the {where}: {exc}") from None
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while not self._subscribed.is_set() and self._refused is None:
            if time.monotonic() > deadline:
                self._shutdown()
                raise SourceError(f"the {where} did not accept the connection and "
                                  f"subscription within {timeout:g} s")
            time.sleep(0.02)
        if self._refused is not None:
            self._shutdown()
            raise ConfigError(f"the {where} refused: {self._refused}")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = f"{reason_code} (check the user name, password and client id)"
            client.disconnect()
            return
        self._connected.set()
        # Again after every reconnect (a session may have expired); retain handling 1: the
        # broker sends a retained message for a new subscription only, not at each resubscribe
        from paho.mqtt.subscribeoptions import SubscribeOptions
        client.subscribe(self.topic, options=SubscribeOptions(qos=self.qos, retainHandling=1))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            self._refused = f"subscription to {self.topic!r}: {failed[0]}"
        else:
            self._subscribed.set()

    def _on_message(self, client, userdata, message) -> None:
        self._inbox.put(message)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()

    # -- Source protocol -----------------------------------------------------------------------
    def source_id(self) -> str:
        return derived_source_id(f"mqtt.{self.host}.{self.topic}".replace("/", ".")
                                 .replace("+", "any").replace("#", "all"))

    def rows(self, after: Any | None = None) -> Iterator[Row]:
        """Messages as rows until ``stop()`` (called before, it ends the next ``rows()`` at
        once). With ``after``, redelivered messages committed up to it are dropped."""
        resume = self._resume_key(after)
        held: list = []  # redelivered messages while looking for ``resume``
        try:
            while not self._stopped.is_set():
                try:
                    message = self._inbox.get(timeout=SETTLE)
                except queue.Empty:
                    if resume is not None:  # quiet: what was held was not committed
                        resume = None
                        yield from self._release(held)
                        held = []
                    continue
                if message is None:  # stop(), now or left over from an earlier one
                    continue
                if resume is not None:
                    if message.dup:
                        held.append(message)
                        if (message.mid, fingerprint(message.topic, message.payload)) == resume:
                            with self._lock:
                                for old in held:
                                    self._client.ack(old.mid, old.qos)  # committed last run
                            held, resume = [], None
                        continue
                    resume = None
                    yield from self._release(held)
                    held = []
                yield from self._release([message])
        finally:
            self._stopped.clear()
        # messages still held are left unacknowledged: the broker gives them again

    def _resume_key(self, after: Any) -> tuple[int, str] | None:
        if after is None:
            return None
        if (not isinstance(after, Mapping) or not isinstance(after.get("mid"), int)
                or not isinstance(after.get("fp"), str)):
            raise ConfigError(f"bad MQTT source position {after!r}: expected the position "
                              f"an MQTT source gave")
        return after["mid"], after["fp"]

    def _release(self, messages) -> Iterator[Row]:
        for message in messages:
            fp = fingerprint(message.topic, message.payload)
            key = (message.mid, fp)
            with self._lock:
                if message.dup and key in self._pending_keys:
                    continue  # resent after a reconnect while we still hold it
                if message.dup and key in self._acked:
                    self._client.ack(message.mid, message.qos)  # our ack was lost
                    continue
                self._seq += 1
                seq = self._seq
                if message.qos:
                    self._pending.append((seq, message.mid, message.qos, key))
                    self._pending_keys.add(key)
            where = f"topic {message.topic} message {seq}"
            record, error = parse_record(message.payload, where)
            position = {"run": self._run, "seq": seq, "mid": message.mid, "fp": fp}
            yield Row(record, where, position, error)

    def committed(self, position: Any) -> None:
        """Acknowledge to the broker every message up to ``position`` (in order, as MQTT
        requires); a position from another run has nothing left to acknowledge."""
        if not isinstance(position, Mapping) or position.get("run") != self._run:
            return
        upto = position["seq"]
        with self._lock:
            while self._pending and self._pending[0][0] <= upto:
                _, mid, qos, key = self._pending.popleft()
                self._pending_keys.discard(key)
                self._client.ack(mid, qos)
                self._acked[key] = None
                if len(self._acked) > self._acked_limit:
                    self._acked.popitem(last=False)

    def stop(self) -> None:
        """End ``rows()`` soon; safe from another thread or a signal handler."""
        self._stopped.set()
        self._inbox.put(None)

    def _shutdown(self) -> None:
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    def close(self) -> None:
        """Disconnect, keeping the session: unacknowledged messages wait for the next run."""
        if not self._closed:
            self._closed = True
            self.stop()
            self._shutdown()

    def __enter__(self) -> "MqttSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def parse_spec(spec: str) -> dict:
    """``mqtt://[user[:password]@]host[:port]/topic`` (``mqtts://`` for TLS, port 8883)
    → MqttSource arguments. The topic is everything after the first '/' after the host, as
    written (wildcards ``+`` and ``#`` included)."""
    scheme, sep, rest = spec.partition("://")
    authority, _, topic = rest.partition("/")
    if not sep or scheme not in SCHEMES:
        raise ConfigError("an MQTT source looks like mqtt://host:1883/some/topic")
    parts = urlsplit(f"{scheme}://{authority}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("the MQTT port must be a number") from None
    if not parts.hostname:
        raise ConfigError("an MQTT source looks like mqtt://host:1883/some/topic")
    arguments = {"host": parts.hostname, "topic": topic, "tls": scheme == "mqtts",
                 "port": port or (8883 if scheme == "mqtts" else 1883)}
    if parts.username:
        arguments["username"] = unquote(parts.username)
    if parts.password is not None:
        arguments["password"] = unquote(parts.password)
    return arguments


def from_cli(spec: str, options: Mapping[str, Any]) -> MqttSource:
    """``SOURCE`` is ``mqtt://[user[:password]@]host[:port]/topic`` (``mqtts://`` for TLS);
    options: ``qos`` (1, or 0), ``client_id`` (default: derived from host, port and topic;
    keep it to resume the session), ``username``, ``password``, ``ca_file``, ``keepalive``
    (seconds between MQTT pings)."""
    arguments = parse_spec(spec)
    for name in ("client_id", "username", "password", "ca_file"):
        if options.get(name) is not None:
            arguments[name] = options[name]
    for name, kind in (("qos", int), ("keepalive", int)):
        if options.get(name) is not None:
            try:
                arguments[name] = kind(options[name])
            except (TypeError, ValueError):
                raise ConfigError(f"--{name} must be a number") from None
    return MqttSource(**arguments)
