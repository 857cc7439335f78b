"""The installer's one-line errors (no Fabric is built here: each case fails first)."""

import os
import shutil
from pathlib import Path

import pytest

from ledgerlake.errors import ToolchainError
from ledgerlake.network import toolchain, versions


def _path_with(tmp_path: Path, *tools: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        os.symlink(shutil.which(tool), bin_dir / tool)
    return str(bin_dir)


def test_missing_go_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _path_with(tmp_path))
    with pytest.raises(ToolchainError, match="Go is not installed"):
        toolchain.install(tmp_path / "tools")


def test_too_old_go_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(versions, "MIN_GO", (9, 99))
    with pytest.raises(ToolchainError, match="too old.*needs Go >= 9.99"):
        toolchain.install(tmp_path / "tools")


@pytest.mark.skipif(not shutil.which("go"), reason="needs Go to reach the gcc check")
def test_missing_gcc_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _path_with(tmp_path, "go"))
    with pytest.raises(ToolchainError, match="gcc is missing.*gcc libc6-dev"):
        toolchain.install(tmp_path / "tools")


def test_unreachable_proxy_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("GOPROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "mod"))
    monkeypatch.setenv("GOCACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GOSUMDB", "off")
    try:
        with pytest.raises(ToolchainError, match="cannot reach the Go module proxy"):
            toolchain.install(tmp_path / "tools")
    finally:
        if (tmp_path / "mod").exists():
            os.system(f"chmod -R u+w {tmp_path / 'mod'}")


def test_installed_toolchain_is_found_without_building(tmp_path):
    chain = toolchain.Toolchain(tmp_path)
    for name in versions.FABRIC_COMMANDS + versions.FABRIC_CA_COMMANDS:
        (chain.bin_dir).mkdir(exist_ok=True)
        (chain.bin_dir / name).write_text("")
    chain.config_dir.mkdir()
    (chain.config_dir / "core.yaml").write_text("")
    chain.record.write_text(__import__("json").dumps(versions.pins()))
    assert toolchain.install(tmp_path) == chain  # no Go needed: nothing to do
    chain.record.write_text('{"fabric_version": "2.5.0"}')
    with pytest.raises(ToolchainError, match="not installed"):
        toolchain.find(tmp_path)
