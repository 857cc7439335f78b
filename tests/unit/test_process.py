import os
import socket

import pytest

from ledgerlake.errors import PortInUseError
from ledgerlake.network import process


def test_taken_port_error_names_the_port_and_this_process():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError) as err:
            process.check_port_free(port, "peer0.org1")
    assert err.value.port == port
    assert f"pid {os.getpid()}" in str(err.value) and "peer0.org1" in str(err.value)


def test_free_port_passes():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process.check_port_free(port, "x")


def test_start_and_stop_a_detached_process(tmp_path):
    pid_file = tmp_path / "run/sleeper.pid"
    pid = process.start(["sleep", "30"], env={"PATH": os.environ["PATH"]}, cwd=tmp_path,
                        log=tmp_path / "logs/sleeper.log", pid_file=pid_file)
    assert process.running_pid(pid_file) == pid
    assert process.stop(pid_file) is True
    assert process.running_pid(pid_file) is None and not pid_file.exists()
    assert process.stop(pid_file) is False


def test_log_tail_returns_the_last_lines(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert process.log_tail(log, 3) == "line 97\nline 98\nline 99\n"


def test_a_recycled_pid_is_not_taken_for_the_node(tmp_path):
    pid_file = tmp_path / "run/x.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{os.getpid()} 1\n")  # this pid, but a different start time
    assert process.running_pid(pid_file) is None
    assert process.stop(pid_file) is False  # and nothing is signalled
