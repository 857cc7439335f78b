"""The CLI turns user mistakes into one line, never a traceback."""

import subprocess
import sys

from ledgerlake.cli import main


def test_bad_spec_file_is_one_line_naming_the_field(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("consensus: pow\n")
    code = main(["network", "up", "--spec", str(spec), "--state-dir", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 1
    assert "ConfigError" in err and "'consensus'" in err and "Traceback" not in err


def test_status_without_a_network_says_what_to_do(tmp_path, capsys):
    assert main(["network", "status", "--state-dir", str(tmp_path)]) == 1
    assert "ledgerlake network up" in capsys.readouterr().err


def test_logs_of_unknown_node_lists_the_nodes(tmp_path, capsys):
    assert main(["network", "logs", "peer7.org9", "--state-dir", str(tmp_path)]) == 1
    assert "peer0.org1" in capsys.readouterr().err


def test_every_command_has_help():
    for args in (["--help"], ["network", "--help"], ["network", "up", "--help"],
                 ["network", "down", "--help"], ["network", "status", "--help"],
                 ["network", "logs", "--help"], ["network", "deploy", "--help"],
                 ["identity", "register", "--help"], ["identity", "list", "--help"],
                 ["install", "--help"], ["demo", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "ledgerlake", *args],
                              capture_output=True, text=True)
        assert proc.returncode == 0, args
        assert "Usage:" in proc.stdout


def test_purge_leaves_a_directory_that_is_not_a_state_directory(tmp_path, capsys):
    keep = tmp_path / "precious.txt"
    keep.write_text("mine")
    assert main(["network", "down", "--purge", "--state-dir", str(tmp_path)]) == 1
    assert "not a ledgerlake state directory" in capsys.readouterr().err
    assert keep.read_text() == "mine"
