"""The distributed path: ``analyze`` against a real ``dask scheduler`` and two ``dask worker``
processes started here on 127.0.0.1 (ports in this checkout's shifted block), chosen both
by ``scheduler=`` and by ``DASK_SCHEDULER_ADDRESS``; the results equal a LocalCluster run's."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import analyze_lakes as lakes
from ledgerlake.analytics.analyze import analyze
from ports import base_port

pytestmark = pytest.mark.integration

BLOCK = 27300     # scheduler, 2 workers, 2 nannies: BLOCK .. BLOCK + 4 (shifted)
DASK = str(Path(sys.executable).with_name("dask"))


def _wait_port(port: int, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dask exited early ({proc.returncode}):\n{log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port} after {seconds} s:\n{log.read_text()}")


def _wait_workers(address: str, n: int, seconds: float = 90) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(n, timeout=seconds)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("dask")
    port = base_port(BLOCK)
    address = f"tcp://127.0.0.1:{port}"
    procs = []

    def start(args, name):
        log = base / f"{name}.log"
        proc = subprocess.Popen([DASK, *args], stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=base)
        procs.append(proc)
        return proc, log

    try:
        sched, log = start(["scheduler", "--host", "127.0.0.1", "--port", str(port),
                            "--no-dashboard", "--no-show"], "scheduler")
        _wait_port(port, sched, log)
        for i in (1, 2):
            start(["worker", address, "--host", "127.0.0.1", "--worker-port", str(port + i),
                   "--nanny-port", str(port + 2 + i), "--nthreads", "1", "--no-dashboard",
                   "--memory-limit", "2GiB", "--name", f"w{i}",
                   "--local-directory", str(base / f"w{i}")], f"worker{i}")
        _wait_workers(address, 2)
        yield address
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("lake")
    frame = lakes.rows(0, 3 * 24 * 21, seed=11)
    frame.loc[frame.index[700], "temperature_c"] += 15
    return lakes.make_lake(base, frame, step=8)


def _comparable(results: dict) -> dict:
    """Everything but when and where it ran."""
    return {"inputs": {k: v for k, v in results["inputs"].items()},
            "streams": results["streams"], "outputs": results["outputs"]}


def test_remote_cluster_gives_the_local_clusters_results(dask_cluster, lake_dir, tmp_path,
                                                          monkeypatch):
    local = analyze(lake_dir, tmp_path / "local")
    remote = analyze(lake_dir, tmp_path / "remote", scheduler=dask_cluster)
    assert local["run"]["cluster"]["kind"] == "local"
    assert remote["run"]["cluster"] == {"kind": "remote", "address": dask_cluster,
                                        "workers": 2}
    assert _comparable(remote) == _comparable(local)
    assert remote["streams"]["weather"]["anomalies"]["count"] >= 1

    # the same scheduler found through the environment, as Dask's own rule has it
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", dask_cluster)
    by_env = analyze(lake_dir, tmp_path / "env")
    assert by_env["run"]["cluster"]["kind"] == "remote"
    assert _comparable(by_env) == _comparable(local)
