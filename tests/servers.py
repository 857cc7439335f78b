"""Real servers for the ingestion sources' tests: PostgreSQL, Mosquitto and a paginated JSON
HTTP API, each started in a temporary directory on this checkout's shifted ports
(``base_port(23900) + 0..99``) and torn down after.

PostgreSQL and Mosquitto are Debian's packages (``scripts/install`` installs them). Their
binaries are found the way Debian lays them out; PostgreSQL refuses to run as root, so under
root its processes run as the ``postgres`` user that Debian's package creates.

Use the fixtures by importing them into a test module (``from servers import postgres``).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from ports import base_port

SERVER_BLOCK = 23900
POSTGRES_PORT_OFFSET = 0
MOSQUITTO_PORT_OFFSET = 1
HTTP_PORT_OFFSET = 2


def server_port(offset: int) -> int:
    return base_port(SERVER_BLOCK) + offset


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_for(check, timeout: float, process: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{_log_tail(log)}")
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout} s:\n{_log_tail(log)}")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _die_with_parent(sig: int):
    """A preexec_fn: the server gets ``sig`` when the test process dies, even by SIGKILL,
    so an interrupted run leaves no server behind (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes
    prctl = ctypes.CDLL(None).prctl  # looked up here: the child only calls it

    def arrange() -> None:
        prctl(1, sig, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    return arrange


def _stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# -- PostgreSQL ------------------------------------------------------------------------------
def postgres_bindir() -> Path:
    """The directory holding initdb and postgres: next to ``initdb`` on PATH, else
    ``pg_config --bindir``, else the newest ``/usr/lib/postgresql/<v>/bin`` (Debian)."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidate = Path(out.stdout.strip())
        if out.returncode == 0 and (candidate / "initdb").exists():
            return candidate
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if versions:
        return Path(versions[-1]).parent
    raise RuntimeError("PostgreSQL server binaries not found: run scripts/install "
                       "(Debian package postgresql)")


class PostgresServer:
    """A throw-away PostgreSQL cluster listening on 127.0.0.1:``port`` only, with password
    (scram) authentication over TCP and a database ``ledgerlake_test``; durability off."""

    USER = "ledgerlake"
    PASSWORD = "s3cret-pg-password"
    DATABASE = "ledgerlake_test"

    def __init__(self, port: int):
        self.port = port
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """A SQLAlchemy URL of the test database (with the password)."""
        return (f"postgresql://{self.USER}:{self.PASSWORD}@127.0.0.1:{self.port}/"
                f"{self.DATABASE}")

    def _as_owner(self) -> dict:
        """Popen arguments that run a command as the cluster's owner: ourselves, or under
        root (which PostgreSQL refuses) the ``postgres`` user of Debian's package."""
        if os.getuid() != 0:
            return {}
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root and there is no 'postgres' user to run "
                               "PostgreSQL as: run scripts/install (Debian package "
                               "postgresql creates it)") from None
        return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}

    def start(self) -> "PostgresServer":
        if _port_open(self.port):
            raise RuntimeError(f"port {self.port} for PostgreSQL is taken")
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> "PostgresServer":
        bindir = postgres_bindir()
        owner = self._as_owner()
        self.dir = Path(tempfile.mkdtemp(prefix="ledgerlake-pg-"))
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.PASSWORD + "\n")
        if owner:
            for path in (self.dir, pwfile):
                os.chown(path, owner["user"], owner["group"])
        log = self.dir / "postgres.log"
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        with open(log, "wb") as out:
            if owner:
                os.chown(log, owner["user"], owner["group"])
            done = subprocess.run(
                [str(bindir / "initdb"), "-D", str(self.dir / "data"), "-U", self.USER,
                 "--pwfile", str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256",
                 "-E", "UTF8", "--locale=C", "--no-sync"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.dir, **owner)
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed:\n{_log_tail(log)}")
            self.process = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(self.dir / "data"), "-p", str(self.port),
                 "-h", "127.0.0.1", "-k", str(self.dir), "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=30", "-c", "shared_buffers=16MB"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                start_new_session=True, preexec_fn=_die_with_parent(signal.SIGINT), **owner)
        _wait_for(self._accepts, 60, self.process, "PostgreSQL", log)
        import psycopg
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.DATABASE}"')
        return self

    def _dsn(self, database: str) -> str:
        return (f"host=127.0.0.1 port={self.port} user={self.USER} "
                f"password={self.PASSWORD} dbname={database} connect_timeout=2 "
                f"options='-c lock_timeout=10s'")  # a read left open fails a DROP, no hang

    def _accepts(self) -> bool:
        import psycopg
        try:
            psycopg.connect(self._dsn("postgres")).close()
            return True
        except psycopg.OperationalError:
            return False

    def execute(self, sql: str, params=None) -> None:
        """Run one statement on the test database (autocommit)."""
        import psycopg
        with psycopg.connect(self._dsn(self.DATABASE), autocommit=True) as conn:
            conn.execute(sql, params)

    def stop(self) -> None:
        _stop(self.process, signal.SIGINT)  # PostgreSQL's "fast" shutdown
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


# -- Mosquitto -------------------------------------------------------------------------------
def mosquitto_binary() -> str:
    """Debian installs the broker in /usr/sbin, which a non-root PATH often lacks."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise RuntimeError("mosquitto not found: run scripts/install (Debian package mosquitto)")
    return found


class MosquittoServer:
    """A Mosquitto broker on 127.0.0.1:``port`` that requires a user name and password,
    keeps persistent sessions in memory while it runs and queues up to 100,000 messages for
    an offline client."""

    USER = "sensor"
    PASSWORD = "s3cret-mqtt-password"

    def __init__(self, port: int):
        self.port = port
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    def start(self) -> "MosquittoServer":
        if _port_open(self.port):
            raise RuntimeError(f"port {self.port} for Mosquitto is taken")
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> "MosquittoServer":
        self.dir = Path(tempfile.mkdtemp(prefix="ledgerlake-mqtt-"))
        passwords = self.dir / "passwords"
        subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd",
                        "-c", "-b", str(passwords), self.USER, self.PASSWORD],
                       check=True, capture_output=True)
        user = pwd.getpwuid(os.getuid()).pw_name  # as root: stay root, don't drop to 'mosquitto'
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous false\npassword_file {passwords}\n"
            f"user {user}\npersistence false\n"
            "max_queued_messages 100000\nmax_inflight_messages 0\n"
            "log_dest stderr\nlog_type error\nlog_type warning\n")
        log = self.dir / "mosquitto.log"
        with open(log, "wb") as out:
            self.process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)],
                                            stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True,
                                            preexec_fn=_die_with_parent(signal.SIGTERM))
        _wait_for(lambda: _port_open(self.port), 20, self.process, "Mosquitto", log)
        return self

    def publish(self, topic: str, payloads, qos: int = 1, retain: bool = False) -> None:
        """Publish each payload (bytes or str) to ``topic`` and wait until the broker has
        acknowledged every one."""
        import paho.mqtt.client as mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.username_pw_set(self.USER, self.PASSWORD)
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        try:
            infos = [client.publish(topic, payload, qos=qos, retain=retain)
                     for payload in payloads]
            for info in infos:
                info.wait_for_publish(timeout=10)
                if not info.is_published():
                    raise RuntimeError(f"publish to {topic} not acknowledged")
        finally:
            client.disconnect()
            client.loop_stop()

    def stop(self) -> None:
        _stop(self.process)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


# -- a paginated JSON HTTP API ---------------------------------------------------------------
@dataclass
class ApiState:
    """What the test API serves and how: tests change it between requests."""

    items: list = field(default_factory=list)
    page_size: int = 3
    token: str = "s3cret-api-token"
    #: status codes to answer the next requests with, one each, before serving normally
    faults: list = field(default_factory=list)
    #: Retry-After header value sent with an injected 429 (None: no header)
    retry_after: str | None = None
    #: (path with query, Authorization header) of every request received
    requests: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _ApiHandler(BaseHTTPRequestHandler):
    """The styles of pagination the HTTP source supports, one path each:

    - ``/cursor?cursor=N``: ``{"data": {"items": [...]}, "next": "/cursor?cursor=M" | null}``
    - ``/token?after=N``: ``{"results": [...], "meta": {"next_cursor": "M" | null}}``
    - ``/link?page=N``: a bare JSON list, the next page in a ``Link: <…>; rel="next"`` header
    - ``/pages?page=N``: ``{"items": [...]}`` (pages from 1; an empty page ends)
    - ``/offset?offset=N&limit=K``: ``{"items": [...]}`` (an empty page ends)
    Every path requires ``Authorization: Bearer <token>``."""

    state: ApiState  # set per server

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass

    def _send(self, status: int, body, headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        state = self.state
        with state.lock:
            state.requests.append((self.path, self.headers.get("Authorization")))
            fault = state.faults.pop(0) if state.faults else None
            items = list(state.items)
            size = state.page_size
        if fault is not None:
            headers = {"Retry-After": state.retry_after} if fault == 429 and state.retry_after else {}
            return self._send(fault, {"error": f"injected {fault}"}, headers)
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            return self._send(401, {"error": "missing or wrong token"})
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        try:
            if url.path == "/cursor":
                start = int(query.get("cursor", 0))
                end = start + size
                nxt = f"/cursor?cursor={end}" if end < len(items) else None
                return self._send(200, {"data": {"items": items[start:end]}, "next": nxt})
            if url.path == "/token":
                start = int(query.get("after", 0))
                end = start + size
                return self._send(200, {"results": items[start:end],
                                        "meta": {"next_cursor": str(end) if end < len(items) else None}})
            if url.path == "/link":
                page = int(query.get("page", 1))
                start = (page - 1) * size
                headers = {}
                if start + size < len(items):
                    host = f"http://127.0.0.1:{self.server.server_address[1]}"
                    headers["Link"] = (f'<{host}/link?page={page + 1}>; rel="next", '
                                       f'<{host}/link?page=1>; rel="first"')
                return self._send(200, items[start:start + size], headers)
            if url.path == "/pages":
                page = int(query.get("page", 1))
                return self._send(200, {"items": items[(page - 1) * size:page * size]})
            if url.path == "/offset":
                offset, limit = int(query.get("offset", 0)), int(query.get("limit", size))
                return self._send(200, {"items": items[offset:offset + limit]})
            if url.path == "/broken":
                return self._send(200, b"{not json")
        except ValueError:
            return self._send(400, {"error": "bad query"})
        return self._send(404, {"error": "no such path"})


class HttpApiServer:
    """A real HTTP server (``http.server`` in a thread) serving ``ApiState``."""

    def __init__(self, port: int):
        self.port = port
        self.state = ApiState()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "HttpApiServer":
        handler = type("Handler", (_ApiHandler,), {"state": self.state})
        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


# -- fixtures --------------------------------------------------------------------------------
# Module-scoped: a test module imports the fixture, which makes it that module's own (a
# session scope would start one server per importing module, on the same port).
@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer(server_port(POSTGRES_PORT_OFFSET))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mosquitto():
    server = MosquittoServer(server_port(MOSQUITTO_PORT_OFFSET))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def http_api():
    """A fresh API per test (starting one takes milliseconds)."""
    server = HttpApiServer(server_port(HTTP_PORT_OFFSET))
    try:
        yield server.start()
    finally:
        server.stop()
