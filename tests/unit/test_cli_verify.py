"""``ledgerlake verify``: user mistakes are one line naming what to fix, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ledgerlake.cli import main


def _one_line_error(capsys, *args) -> str:
    assert main(list(args)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize("command", [["chain"], ["batch", "s1", "a" * 64],
                                     ["record", "s1", "a" * 64 + ":0"]])
def test_verify_without_a_network_says_to_start_one(tmp_path, capsys, command):
    line = _one_line_error(capsys, "verify", *command, "--state-dir", str(tmp_path))
    assert line.startswith("NotRunningError") and "ledgerlake network up" in line


@pytest.mark.parametrize("record_id", ["12", "a" * 64, "a" * 64 + ":x", "A" * 64 + ":1"])
def test_a_malformed_record_id_names_the_format(tmp_path, capsys, record_id):
    line = _one_line_error(capsys, "verify", "record", "s1", record_id,
                           "--state-dir", str(tmp_path))
    assert line.startswith("ConfigError: a record id is BATCH_ID:INDEX")


def test_a_bad_as_option_and_a_negative_from_are_refused(tmp_path, capsys):
    line = _one_line_error(capsys, "verify", "chain", "--peer", "peer0.org1", "--as", "Org1",
                           "--state-dir", str(tmp_path))
    assert line == "ConfigError: --as must be ORG/USER like Org1/analyst, not 'Org1'"
    assert main(["verify", "chain", "--from", "-1", "--state-dir", str(tmp_path)]) == 2
    assert "--from" in capsys.readouterr().err


def test_a_record_needs_an_id_or_a_proof_and_a_bad_proof_file_is_named(tmp_path, capsys):
    line = _one_line_error(capsys, "verify", "record", "s1", "--state-dir", str(tmp_path))
    assert line == "ConfigError: name the record (BATCH_ID:INDEX) or pass --proof FILE"
    proof = tmp_path / "proof.json"
    for text, named in [("[1, 2]", "it must be a JSON object"),
                        ('{"proof": {"record_id": "x"}}', "a record id is BATCH_ID:INDEX"),
                        ("{not json", "proof.json")]:
        proof.write_text(text)
        line = _one_line_error(capsys, "verify", "record", "s1", "--proof", str(proof),
                               "--state-dir", str(tmp_path))
        assert named in line, line


def test_a_genesis_hash_is_64_hex_digits_checked_from_genesis(tmp_path, capsys):
    from ledgerlake.client.verify import verify_chain
    from ledgerlake.errors import ConfigError

    for options in ({"genesis_hash": "abc"}, {"genesis_hash": "ab" * 32, "start": 3}):
        with pytest.raises(ConfigError, match="--genesis-hash is 64 hex digits"):
            verify_chain(None, **options)  # refused before any I/O


def test_every_verify_command_has_help():
    for args in (["verify", "--help"], ["verify", "chain", "--help"],
                 ["verify", "batch", "--help"], ["verify", "record", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "ledgerlake", *args],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and "Usage:" in proc.stdout, args
