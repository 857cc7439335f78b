"""The ingest and submit commands without a network: help, one-line mistakes caught before
any connection, and the progress line."""

from __future__ import annotations

import pytest

from ledgerlake.cli import cli, main
from ledgerlake.client.ingest.pipeline import IngestSummary, SourceSummary
from ledgerlake.commands.ingest import _status


def test_the_commands_are_registered_and_documented():
    for name in ("ingest", "submit"):
        command = cli.commands[name]
        assert command.help and all(p.help for p in command.params if hasattr(p, "help")
                                    and p.param_type_name == "option"), name


@pytest.mark.parametrize("argv, line", [
    (["ingest", "nope.csv", "--stream", "s"], "ConfigError: no such file or directory: nope.csv"),
    (["ingest", "ftp://h/x", "--stream", "s"], "ConfigError: unknown source scheme in ftp://"),
    (["submit", "{bad", "--stream", "s"], "ConfigError: RECORD must be JSON"),
    (["submit", "[1]", "--stream", "s"], "ConfigError: RECORD must be a JSON object"),
])
def test_mistakes_are_one_line_before_connecting(argv, line, capsys, tmp_path):
    assert main([*argv, "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(line) and len(err.splitlines()) == 1, err


def test_the_progress_line_shows_rate_committed_rejected_and_in_flight():
    summary = IngestSummary("plant", [SourceSummary("a", "file", read=1200, committed=1000,
                                                    rejected=3, batches=2)], seconds=2.0,
                            in_flight=1)
    text = _status(summary, None).plain
    assert text == ("1,000 committed · 1,200 read · 3 rejected · 1 batch(es) in flight · "
                    "500 rec/s · 2 s")


@pytest.mark.parametrize("options, line", [
    (["--batch-rows", "abc", "--cursor", "id", "--table", "t"],
     "ConfigError: --batch-rows must be a positive integer"),
    (["--cursor", "id", "--table", "t"], "ConfigError: no such database file: "),
])
def test_sql_option_mistakes_are_one_line_and_create_no_database(options, line, capsys,
                                                                 tmp_path):
    db = tmp_path / "x.db"
    argv = ["ingest", f"sqlite:///{db}", *options, "--stream", "s", "--state-dir",
            str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(line) and len(err.splitlines()) == 1, err
    assert not db.exists()


@pytest.mark.parametrize("timeout", ["abc", "-1", "0", "nan"])
def test_a_bad_http_timeout_is_one_line_naming_the_option(timeout, capsys, tmp_path):
    argv = ["ingest", "http://x/", "--timeout", timeout, "--stream", "s", "--state-dir",
            str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ConfigError: ") and "--timeout" in err \
        and len(err.splitlines()) == 1, err
