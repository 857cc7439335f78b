"""``ledgerlake sync`` without a network: help and one-line errors."""

from __future__ import annotations

from ledgerlake.cli import main


def _run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_says_what_the_sync_checks_and_where_rows_land(capsys):
    code, out, _ = _run(capsys, "sync", "--help")
    assert code == 0
    for words in ("verified and exactly once", "orderers' signatures", "stream=<id>/date=",
                  "lake.json", "--follow", "--until", "--org-key", "--rebuild"):
        assert words in " ".join(out.split()), words


def test_no_network_is_one_line(capsys, tmp_path):
    code, out, err = _run(capsys, "sync", "--state-dir", str(tmp_path / "state"))
    assert code == 1 and out == ""
    assert err.startswith("NotRunningError: no network is running in ") and \
        len(err.strip().splitlines()) == 1, err


def test_bad_options_are_one_line(capsys, tmp_path):
    code, _, err = _run(capsys, "sync", "--flush-records", "0", "--state-dir", str(tmp_path))
    assert code == 2 and "--flush-records" in err and "Traceback" not in err
    code, _, err = _run(capsys, "sync", "--until", "x", "--state-dir", str(tmp_path))
    assert code == 2 and "--until" in err and "Traceback" not in err
