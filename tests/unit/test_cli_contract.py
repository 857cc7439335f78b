"""The CLI's read-only contract commands: help texts and one-line errors on bad input
(no network needed; the commands themselves run in tests/integration/test_contract_api.py)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ledgerlake.commands import audit as audit_module
from ledgerlake.cli import _nanos_option, _one_line, _when, cli, main
from ledgerlake.errors import EndorseError, ErrorDetail

COMMANDS = (["stream"], ["stream", "list"], ["stream", "show"], ["stream", "batches"],
            ["audit"], ["lineage"], ["lineage", "show"], ["demo"])


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_contract_command_has_help(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    if command[0] not in ("stream", "lineage") or len(command) > 1:
        assert "--state-dir" in result.output


def test_reads_name_the_identity_option_and_its_default():
    assert "Org1/analyst" in CliRunner().invoke(cli, ["stream", "list", "--help"]).output
    assert "Org1/auditor" in CliRunner().invoke(cli, ["audit", "--help"]).output


@pytest.mark.parametrize("args, expected", [
    (["audit", "--since", "2026-02-01", "--until", "2026-01-01"], "--since is after --until"),
    (["audit", "--format", "xml"], "Invalid value for '--format'"),
    (["audit", "--by", "stream"], "No such option '--by'"),
    (["audit", "--since", "yesterday"], "neither nanoseconds nor ISO-8601"),
    (["audit", "--limit", "0"], "Invalid value for '--limit'"),
    (["stream", "list", "--limit", "-1"], "Invalid value for '--limit'"),
    (["stream", "show"], "Missing argument 'NAME'"),
])
def test_bad_options_are_usage_errors(tmp_path, args, expected):
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert expected in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args, expected", [
    (["stream", "list", "--as", "Org1"], "--as must be ORG/USER like Org1/analyst"),
    (["stream", "show", "s", "--as", "Org1/analyst/x"], "--as must be ORG/USER"),
    (["stream", "list"], "no network is running"),
    (["audit", "--stream", "s"], "ledgerlake network up"),
])
def test_errors_are_one_line(tmp_path, capsys, args, expected):
    assert main([*args, "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_contract_refusal_is_the_chaincodes_own_words(monkeypatch, tmp_path, capsys):
    def refuse(state_dir, who):
        raise EndorseError("Evaluate failed: evaluate call to endorser returned error: "
                           "chaincode response 500, ACCESS_DENIED: access denied by rule "
                           "'audit.read': x",
                           details=(ErrorDetail("127.0.0.1:7201", "Org1MSP", "chaincode "
                                    "response 500, ACCESS_DENIED: access denied by rule "
                                    "'audit.read': x"),))
    monkeypatch.setattr(audit_module, "_contract", refuse)
    assert main(["audit", "--as", "Org1/analyst", "--state-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == \
        "EndorseError: ACCESS_DENIED: access denied by rule 'audit.read': x"


def test_one_line_keeps_errors_without_details():
    assert _one_line(EndorseError("Evaluate failed: connection refused")) == \
        "Evaluate failed: connection refused"


def test_times_are_shown_and_read_in_utc():
    assert _when(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123Z"
    assert _when(0) == "-"
    assert _nanos_option("1700000000123456789", "--since") == 1_700_000_000_123_456_789
    assert _nanos_option("2023-11-14T22:13:20Z", "--since") == 1_700_000_000 * 10**9
    assert _nanos_option("2023-11-14T23:13:20+01:00", "--since") == 1_700_000_000 * 10**9
    assert _nanos_option("2023-11-14T22:13:20", "--since") == 1_700_000_000 * 10**9
    assert _nanos_option(None, "--since") is None
