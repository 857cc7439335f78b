"""The chaincode package and the external builder programs (pure file logic)."""

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ledgerlake.network import lifecycle
from ledgerlake.network.layout import Layout
from ledgerlake.network.spec import NetworkSpec

BUILDER = Path(lifecycle.__file__).with_name("ccaas_builder.py")


def test_same_sources_give_the_same_package_id(tmp_path):
    layout = Layout(NetworkSpec(), tmp_path)
    first = lifecycle.build_package(layout, "ab" * 32)
    second = lifecycle.build_package(layout, "ab" * 32)
    other = lifecycle.build_package(layout, "cd" * 32)
    assert first.package_id == second.package_id
    assert other.package_id != first.package_id
    assert first.label == "ledgerlake_" + "ab" * 8 and first.version == "ab" * 8


def test_package_holds_only_regular_files_with_ccaas_metadata(tmp_path):
    pkg = lifecycle.build_package(Layout(NetworkSpec(), tmp_path), "ef" * 32)
    with tarfile.open(pkg.path) as outer:
        members = {m.name: m for m in outer.getmembers()}
        assert set(members) == {"code.tar.gz", "metadata.json"}
        assert all(m.isfile() for m in members.values())
        meta = json.load(outer.extractfile("metadata.json"))
        code = tarfile.open(fileobj=io.BytesIO(outer.extractfile("code.tar.gz").read()))
        assert sorted(code.getnames()) == ["chaincode.sha256", "connection.json"]
    assert meta == {"label": pkg.label, "type": "ccaas"}


def test_source_digest_changes_with_the_sources(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    before = lifecycle.source_digest(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    assert lifecycle.source_digest(tmp_path) != before


def _run(step, *args, env=None):
    return subprocess.run([sys.executable, "-c",
                           f"import sys; sys.argv[0] = {step!r}; "
                           f"exec(open({str(BUILDER)!r}).read())", *args],
                          env=env, capture_output=True, text=True)


@pytest.fixture
def unpacked(tmp_path):
    source, meta = tmp_path / "src", tmp_path / "meta"
    source.mkdir(), meta.mkdir()
    (source / "connection.json").write_text(json.dumps({"address": "x", "dial_timeout": "10s"}))
    (meta / "metadata.json").write_text(json.dumps({"type": "CCaaS", "label": "l"}))
    return source, meta


def test_builder_detects_only_ccaas(unpacked, tmp_path):
    source, meta = unpacked
    assert _run("detect", str(source), str(meta)).returncode == 0
    (meta / "metadata.json").write_text(json.dumps({"type": "golang"}))
    assert _run("detect", str(source), str(meta)).returncode == 1


def test_builder_overlays_the_peer_config_and_releases_connection_json(unpacked, tmp_path):
    source, meta = unpacked
    out, rel = tmp_path / "out", tmp_path / "rel"
    env = dict(os.environ, LEDGERLAKE_CCAAS_CONFIG=json.dumps(
        {"address": "127.0.0.1:7300", "tls_required": True, "root_cert": "PEM"}))
    assert _run("build", str(source), str(meta), str(out), env=env).returncode == 0
    assert _run("release", str(out), str(rel)).returncode == 0
    conn = json.loads((rel / "chaincode/server/connection.json").read_text())
    assert conn == {"address": "127.0.0.1:7300", "dial_timeout": "10s", "tls_required": True,
                    "root_cert": "PEM"}


def test_builder_rejects_wrong_arguments(unpacked):
    assert _run("build", "only-one").returncode == 2
