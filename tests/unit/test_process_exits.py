"""How a node ended is recorded by its watcher, so a later command can say why it is down."""

import os
import signal
import time

from ledgerlake.network import process


def _start(tmp_path, script: str):
    pid_file = tmp_path / "run/node.pid"
    pid = process.start(["sh", "-c", script], env={"PATH": os.environ["PATH"]},
                        cwd=tmp_path, log=tmp_path / "logs/node.log", pid_file=pid_file)
    return pid, pid_file


def _wait_exit(pid_file, timeout=10.0):
    deadline = time.monotonic() + timeout
    while process.exit_status(pid_file) is None:
        assert time.monotonic() < deadline, "no exit recorded"
        time.sleep(0.02)
    return process.exit_status(pid_file)


def test_the_exit_code_of_a_node_that_fails_is_recorded_with_its_log(tmp_path):
    pid, pid_file = _start(tmp_path, "echo broken config; exit 3")
    code, when = _wait_exit(pid_file)
    assert code == 3 and when.endswith("Z")
    assert process.running_pid(pid_file) is None
    log = (tmp_path / "logs/node.log").read_text()
    assert "broken config" in log and "exited: code 3" in log
    assert process.describe_exit(code) == "exit code 3"


def test_a_killed_node_is_reported_with_its_signal(tmp_path):
    pid, pid_file = _start(tmp_path, "sleep 30")
    assert process.running_pid(pid_file) == pid
    assert process.exit_status(pid_file) is None  # still running: nothing recorded
    os.kill(pid, signal.SIGKILL)
    code, _ = _wait_exit(pid_file)
    assert process.describe_exit(code) == "killed by SIGKILL"


def test_a_new_start_clears_the_previous_exit(tmp_path):
    _, pid_file = _start(tmp_path, "exit 1")
    _wait_exit(pid_file)
    pid, pid_file = _start(tmp_path, "sleep 30")
    assert process.exit_status(pid_file) is None
    assert process.stop(pid_file) is True
    assert process.describe_exit(_wait_exit(pid_file)[0]) == "killed by SIGTERM"


def test_a_node_gets_the_raised_open_files_limit(tmp_path):
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = process.NOFILE_LIMIT if hard == resource.RLIM_INFINITY else min(
        process.NOFILE_LIMIT, hard)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # inherited by the watcher
    try:
        _, pid_file = _start(tmp_path, "echo limit=$(ulimit -n)")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    _wait_exit(pid_file)
    line = next(l for l in (tmp_path / "logs/node.log").read_text().splitlines()
                if l.startswith("limit="))
    assert int(line.split("=")[1]) >= want
