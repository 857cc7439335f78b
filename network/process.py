"""Native processes of the network: start detached, find again by pid file, stop gently.

A node outlives the command that started it (its own session, output appended to its log),
so every later command finds it through ``run/<node>.pid`` and ``/proc``.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from collections import deque
from pathlib import Path

from ledgerlake.errors import ConfigError, PortInUseError

NOFILE_LIMIT = 65536


#: The node's parent while it runs: starts it, hands its pid over on its standard input
#: (the write end of a pipe; the node itself reads /dev/null), waits for it
#: and records how it ended (exit code; 128 + N when signal N killed it) in the exit file
#: and the log, so ``status`` can say why a node is down after the command that started
#: it has gone. It also raises the node's open-files limit (Fabric keeps many files and
#: sockets open) in the shell, so no Python runs between fork and exec.
_WATCH = ('exit_file=$1; shift; rm -f "$exit_file"; '
          f'want={NOFILE_LIMIT}; hard=$(ulimit -Hn); '
          '[ "$hard" != unlimited ] && [ "$hard" -lt "$want" ] && want=$hard; '
          '[ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ] && ulimit -n "$want"; '
          '"$@" </dev/null & child=$!; '
          'echo "$child" >&0; exec 0</dev/null; wait "$child"; code=$?; '
          'echo "$code $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$exit_file"; '
          'echo "==== $(date -u \'+%Y-%m-%d %H:%M:%S\') exited: code $code"')


def exit_file(pid_file: Path) -> Path:
    """Where the watcher records how the node behind ``pid_file`` ended."""
    return pid_file.with_suffix(".exit")


def start(argv: list[str], *, env: dict[str, str], cwd: Path, log: Path, pid_file: Path) -> int:
    """Start a detached process whose output goes to ``log``; record its pid (and, once it
    ends, its exit code in ``exit_file(pid_file)``)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    try:
        with open(log, "ab") as out:
            out.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(argv)}\n"
                      .encode())
            out.flush()
            watcher = subprocess.Popen(
                ["/bin/sh", "-c", _WATCH, "watch", str(exit_file(pid_file)), *argv],
                env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                stdin=write_end, start_new_session=True)
        os.close(write_end)
        write_end = -1
        with os.fdopen(read_end, "rb") as handover:
            read_end = -1
            line = handover.readline().strip()
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    if not line:
        raise OSError(f"could not start {argv[0]} (its watcher ended with code "
                      f"{watcher.wait()}; see {log})")
    pid = int(line)
    pid_file.write_text(f"{pid} {_start_time(pid)}\n")
    _children[pid] = watcher
    return pid


def exit_status(pid_file: Path) -> tuple[int, str] | None:
    """How the node last ended: (code, UTC time), or None if no end was recorded."""
    try:
        code, when = exit_file(pid_file).read_text().split()
        return int(code), when
    except (OSError, ValueError):
        return None


def describe_exit(code: int) -> str:
    """``exit code 2`` or ``killed by SIGKILL`` (a shell reports signal N as 128 + N)."""
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return f"exit code {code}"


#: Processes started by this Python process, so they can be reaped (no zombies in tests).
_children: dict[int, subprocess.Popen] = {}


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (field 3, the state, comes first)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str:
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else "0"  # field 22: start time in clock ticks


def _alive(pid: int, start_time: str | None = None) -> bool:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    fields = _stat(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False
    # a pid recorded before a crash or reboot may now belong to an unrelated process
    return start_time is None or fields[19] == start_time


def running_pid(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` if that same process (same start time) still runs."""
    try:
        parts = pid_file.read_text().split()
        pid, start_time = int(parts[0]), (parts[1] if len(parts) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid, start_time) else None


def stop(pid_file: Path, timeout: float = 20.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; True if a process was running."""
    pid = running_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        while _alive(pid):
            time.sleep(0.05)
    child = _children.pop(pid, None)
    if child is not None:
        child.wait()
    pid_file.unlink(missing_ok=True)
    return True


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        with open(log, "rb") as fh:
            return b"".join(deque(fh, maxlen=lines)).decode(errors="replace")
    except OSError:
        return ""


# -- ports --------------------------------------------------------------------------------
def port_owner(port: int) -> str | None:
    """``pid N (name)`` of the process listening on a local TCP port, if it can be seen."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    if not inodes:
        return None
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            for fd in (proc_dir / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    name = (proc_dir / "comm").read_text().strip()
                    return f"pid {proc_dir.name} ({name})"
        except OSError:
            continue
    return None


def check_port_free(port: int, node: str, host: str = "127.0.0.1") -> None:
    """Raise PortInUseError naming the owner when ``port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"{node} is to listen on {host}, which is no address of "
                                  f"this machine; add it to an interface or fix the spec's "
                                  f"hosts") from None
            raise PortInUseError(port, port_owner(port), node) from None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
