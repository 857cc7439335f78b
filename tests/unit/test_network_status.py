"""What ``status`` says about nodes that are down: how each ended and the end of its log,
without any Fabric process (a state directory with pid, exit and log files)."""

import json
import os
import signal
import time

from ledgerlake.cli import main
from ledgerlake.network import LocalNetwork, NetworkSpec, process


def _network(tmp_path) -> LocalNetwork:
    state = tmp_path / "state"
    state.mkdir()
    (state / "network.json").write_text(json.dumps({"spec": NetworkSpec(base_port=31000)
                                                    .to_mapping()}))
    return LocalNetwork(state)


def _ended(net, name, script):
    node = net.layout.node(name)
    process.start(["sh", "-c", script], env={"PATH": os.environ["PATH"]},
                  cwd=net.layout.node_dir(node), log=net.layout.log_file(node),
                  pid_file=net.layout.pid_file(node))
    deadline = time.monotonic() + 10
    while process.exit_status(net.layout.pid_file(node)) is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_stopped_network_reports_every_node_down_and_why(tmp_path, capsys):
    net = _network(tmp_path)
    _ended(net, "orderer2", "echo panic: WAL is corrupt; exit 2")
    rows = {r.name: r for r in net.status()}
    assert rows["orderer2"].down.startswith("exit code 2 at ")
    assert "panic: WAL is corrupt" in rows["orderer2"].log_tail
    assert rows["peer0.org1"].down == "not running" and rows["peer0.org1"].log_tail == ""
    assert all(r.pid is None and r.height is None and r.leader is None for r in rows.values())
    assert main(["network", "status", "--state-dir", str(net.state_dir)]) == 0
    assert "The network is stopped" in capsys.readouterr().out


def test_a_partly_running_network_shows_the_log_of_what_is_down(tmp_path, capsys):
    net = _network(tmp_path)
    _ended(net, "chaincode.org2", "echo chaincode gone; kill -9 $$")
    node = net.layout.node("ca.orderer")
    pid = process.start(["sleep", "30"], env={"PATH": os.environ["PATH"]}, cwd=tmp_path,
                        log=net.layout.log_file(node), pid_file=net.layout.pid_file(node))
    try:
        assert main(["network", "status", "--state-dir", str(net.state_dir)]) == 0
        out = capsys.readouterr().out
        assert "chaincode.org2 is down (killed by SIGKILL at" in out
        assert "chaincode gone" in out
        assert "orderer1 is down" not in out  # never started: no log to show
    finally:
        os.kill(pid, signal.SIGKILL)


def test_status_as_json_carries_why_a_node_is_down(tmp_path, capsys):
    net = _network(tmp_path)
    _ended(net, "peer0.org2", "echo disk full; exit 1")
    assert main(["network", "status", "--json", "--state-dir", str(net.state_dir)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["peer0.org2"]["down"].startswith("exit code 1 at ")
    assert "disk full" in rows["peer0.org2"]["log_tail"]
    assert rows["orderer1"]["leader"] is None and rows["orderer1"]["down"] == "not running"
