"""The client never depends on the local network's package: it reads only connection
profiles and wallets, so it serves any Fabric network."""

from __future__ import annotations

import ast
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import ledgerlake.client

CLIENT_DIR = Path(ledgerlake.client.__file__).parent


def _client_modules() -> list[str]:
    return ["ledgerlake.client"] + [
        f"ledgerlake.client.{m.name}" for m in pkgutil.iter_modules([str(CLIENT_DIR)])]


def test_importing_every_client_module_loads_no_network_module():
    modules = _client_modules()
    assert len(modules) > 10  # the walk really found the package
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.startswith('ledgerlake.network')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_no_client_source_imports_the_network_package():
    offending = []
    for path in sorted(CLIENT_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n == "ledgerlake.network" or n.startswith("ledgerlake.network.")
                   for n in names):
                offending.append(f"{path.name}:{node.lineno}")
    assert offending == []


def test_the_documented_grep_finds_nothing():
    grep = shutil.which("grep")
    assert grep, "grep is needed for this check"
    result = subprocess.run([grep, "-rn", r"ledgerlake.network\|from ledgerlake import network",
                             str(CLIENT_DIR)], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (1, "")
