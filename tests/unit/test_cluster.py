"""The cluster rule, Dask's own: an argument beats configuration (and the environment),
which beats a local cluster."""

from __future__ import annotations

import dask
import pytest

from ledgerlake.analytics import cluster
from ledgerlake.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_configured_scheduler(monkeypatch):
    monkeypatch.delenv(cluster.ENV_VAR, raising=False)
    with dask.config.set({cluster.CONFIG_KEY: None}):
        yield


def test_nothing_given_means_a_local_cluster():
    assert cluster.choose() == cluster.Choice("local", None, "no scheduler given or configured")


def test_the_environment_variable_picks_a_remote_scheduler(monkeypatch):
    monkeypatch.setenv(cluster.ENV_VAR, "tcp://10.0.0.9:8786")
    choice = cluster.choose()
    assert (choice.kind, choice.address, choice.why) == \
        ("remote", "tcp://10.0.0.9:8786", cluster.ENV_VAR)


def test_dask_configuration_picks_a_remote_scheduler():
    with dask.config.set({cluster.CONFIG_KEY: "tcp://10.0.0.8:8786"}):
        assert cluster.choose().address == "tcp://10.0.0.8:8786"
        assert "configuration" in cluster.choose().why


def test_configuration_beats_the_environment(monkeypatch):
    monkeypatch.setenv(cluster.ENV_VAR, "tcp://env:1")
    with dask.config.set({cluster.CONFIG_KEY: "tcp://config:1"}):
        assert cluster.choose().address == "tcp://config:1"


def test_the_argument_beats_configuration_and_environment(monkeypatch):
    monkeypatch.setenv(cluster.ENV_VAR, "tcp://env:1")
    with dask.config.set({cluster.CONFIG_KEY: "tcp://config:1"}):
        choice = cluster.choose("tcp://arg:1")
    assert (choice.kind, choice.address, choice.why) == ("remote", "tcp://arg:1", "--scheduler")


@pytest.mark.parametrize("cpus, memory, expected", [
    (2, 24 * 2**30, (2, 4 * 2**30)),      # capped at 4 GiB a worker
    (8, 16 * 2**30, (4, 2 * 2**30)),      # at most 4 workers; half the memory shared out
    (1, 1 * 2**30, (1, 2**30)),           # never below 1 GiB
])
def test_a_local_cluster_is_sized_for_the_machine(cpus, memory, expected):
    assert cluster.local_size(cpus, memory) == expected


def test_an_unreachable_scheduler_is_a_one_line_config_error():
    import socket

    with socket.socket() as s:                  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match=r"cannot reach the Dask scheduler at "
                                          rf"tcp://127\.0\.0\.1:{port} \(from --scheduler\)"):
        with cluster.client(f"tcp://127.0.0.1:{port}", timeout="1s"):
            pass
