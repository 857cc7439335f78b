"""The stream, org, query and audit commands: help, argument handling and one-line errors
without a network (their runs on a real network are in tests/integration/test_streams_cli.py)."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from ledgerlake.cli import cli, main

COMMANDS = (["stream", "create"], ["stream", "update"], ["stream", "grant"],
            ["stream", "revoke"], ["stream", "rotate"], ["stream", "shred"], ["org"],
            ["org", "key"], ["org", "rotate-key"], ["query"], ["query", "batches"],
            ["query", "batch"], ["query", "history"], ["audit"])


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output, result.output


def test_managing_commands_act_as_the_owners_admin_by_default():
    for command in ("create", "update", "grant", "revoke", "rotate", "shred"):
        assert "Org1/admin" in CliRunner().invoke(cli, ["stream", command, "--help"]).output
    assert "Org1/auditor" in CliRunner().invoke(cli, ["query", "batches", "--help"]).output


def test_infer_schema_prints_yaml_to_edit(tmp_path):
    (tmp_path / "s.csv").write_text("sensor,temp\na,1.5\n")
    result = CliRunner().invoke(cli, ["stream", "create", "--infer-schema",
                                      str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output) == {"version": 1, "fields": [
        {"name": "sensor", "type": "string"}, {"name": "temp", "type": "float"}]}


def test_infer_schema_writes_a_file_that_create_reads(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"n": 1}\n')
    target = tmp_path / "schema.yaml"
    result = CliRunner().invoke(cli, ["stream", "create", "x", "--infer-schema",
                                      str(tmp_path / "s.jsonl"), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert f"--schema {target}" in result.output
    assert yaml.safe_load(target.read_text())["fields"] == [{"name": "n", "type": "int"}]


@pytest.mark.parametrize("args, expected", [
    (["stream", "create", "x"], "needs NAME and --schema FILE"),
    (["stream", "create", "--schema", "s.yaml"], "needs NAME and --schema FILE"),
    (["stream", "create", "x", "--schema", "a", "--infer-schema", "b"], "not both"),
    (["stream", "create", "x", "--schema", "a", "-o", "b"], "-o/--output goes with"),
    (["stream", "update", "x"], "say what to change"),
    (["stream", "update", "x", "--writer-roles", "analyst"], "--writer-roles goes with"),
    (["stream", "update", "x", "--status", "open"], "Invalid value for '--status'"),
    (["stream", "shred", "x", "0"], "Invalid value for 'EPOCH'"),
    (["stream", "grant", "x"], "Missing argument 'ORG'"),
    (["query", "batches", "s", "--format", "xml"], "Invalid value for '--format'"),
    (["query", "batches", "s", "--since", "soon"], "neither nanoseconds nor ISO-8601"),
    (["query", "history", "s"], "Missing argument 'SOURCE'"),
    (["audit", "--until", "2999-01-01"], "outside 1970..2262"),
])
def test_bad_arguments_are_usage_errors(tmp_path, args, expected):
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("files, args, expected", [
    ({"s.yaml": "fields:\n  - {name: v, type: blob}\n"},
     ["stream", "create", "x", "--schema", "s.yaml"],
     "s.yaml: schema.fields[0].type must be one of"),
    ({}, ["stream", "create", "x", "--schema", "nope.yaml"], "nope.yaml does not exist"),
    ({"s.xlsx": "x"}, ["stream", "create", "--infer-schema", "s.xlsx"],
     "cannot infer a schema from a .xlsx file"),
    ({"s.yaml": "fields:\n  - {name: v, type: int}\n"},
     ["stream", "create", "x", "--schema", "s.yaml"], "no network is running"),
    ({}, ["stream", "rotate", "x", "--as", "Org1"], "--as must be ORG/USER"),
    ({}, ["org", "rotate-key", "Org9"], "no organisation named 'Org9'"),
    ({}, ["org", "key", "Org1"], "no network is running"),
    ({}, ["audit", "--actor", "Org1MSP"], "no network is running"),
    ({}, ["query", "batch", "s", "b"], "no network is running"),
])
def test_errors_are_one_line(tmp_path, monkeypatch, capsys, files, args, expected):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main([*args, "--state-dir", str(tmp_path / "state")]) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_infer_schema_into_a_missing_folder_is_one_line(tmp_path, capsys):
    from ledgerlake.cli import main
    (tmp_path / "s.csv").write_text("sensor,temp\na,1.5\n")
    target = tmp_path / "nonexistent" / "x.yaml"
    assert main(["stream", "create", "s1", "--infer-schema", str(tmp_path / "s.csv"),
                 "-o", str(target)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ConfigError: cannot write the schema to {target}") \
        and len(err.splitlines()) == 1, err
