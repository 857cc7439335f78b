"""Run mutmut over the record format, the contract and the block decoder; print the score.

mutmut names a mutant after its file's path (``client/blocks.py`` → ``client.blocks``) and
imports the mutated copy from ``mutants/``, but this repository maps folders onto packages
(``client/`` is ``ledgerlake.client``), so the tests would import the unmutated code. This
script therefore lays the package out as it is installed, in ``.mutation/`` (``ledgerlake/``,
``ledgerlake/client/``, ``ledgerlake/chaincode/``, …, plus ``tests/`` and pyproject.toml),
and runs ``mutmut run`` there with the unit tests only ([tool.mutmut] in pyproject.toml).
Each run starts afresh, so the score is reproducible.

mutmut leaves decorated functions alone, and every contract function (in the modules of
``chaincode/contract/``) is registered by a decorator (``@transaction(Function.SUBMIT_BATCH)``,
defined in ``chaincode/contract/common.py``), so in the copy only, each such decorator is
moved to a plain call at the end of its module (``transaction(Function.SUBMIT_BATCH)
(submit_batch)``), which registers the same function in the same order and lets mutmut
mutate its body. The registering call runs at import, before any mutant is active, so
mutants of ``transaction`` itself (the wrapper) survive; tests cover the wrapper directly.

The interop tests run JavaScript's ``canonicalize`` from ``.node/`` (scripts/install): the
copy links it, and mutmut copies it on into ``mutants/`` (``also_copy``).

    scripts/mutation                   # records, contract, blocks
    scripts/mutation records           # one module (records | contract | blocks)
    scripts/mutation --keep            # reuse .mutation/ (mutmut's cache) after a change
    scripts/mutation --show            # also print the change each survivor makes
    cd .mutation && ../.venv/bin/mutmut show NAME   # the diff of one surviving mutant

Exit status 0 either way: the score is a number to read, not a gate (yet).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from textwrap import indent

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
#: folder in this repository → where the installed package has it
LAYOUT = {"ledgerlake": "ledgerlake", "client": "ledgerlake/client",
          "chaincode": "ledgerlake/chaincode", "network": "ledgerlake/network",
          "analytics": "ledgerlake/analytics"}
#: decorators that only register a function: moved out of the way in the copy (see above)
REGISTERING_DECORATORS = ("transaction",)
_DECORATED = re.compile(r"^@(%s)\((.*)\)\n((?:async )?def (\w+)\()" % "|".join(REGISTERING_DECORATORS),
                        re.MULTILINE)
#: module → the mutant-name prefix mutmut gives its functions
MODULES = {"records": "ledgerlake.records", "contract": "ledgerlake.chaincode.contract",
           "blocks": "ledgerlake.client.blocks"}


def lay_out() -> None:
    """The installed package's layout in WORK, with the tests and the configuration."""
    if WORK.exists():
        shutil.rmtree(WORK)
    for folder, target in LAYOUT.items():
        source = ROOT / folder
        if source.is_dir():
            shutil.copytree(source, WORK / target, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", WORK / "tests",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", WORK / "pyproject.toml")
    node = ROOT / ".node"  # the npm package the interop tests run (scripts/install)
    if node.is_dir():  # mutmut copies it on into mutants/ (also_copy in pyproject)
        (WORK / ".node").symlink_to(node, target_is_directory=True)
    contract = WORK / "ledgerlake" / "chaincode"
    for module in contract.glob("contract/**/*.py"):
        undecorate(module)


def undecorate(module: Path) -> None:
    """Turn ``@transaction(args)`` + ``def f`` into ``def f`` + ``transaction(args)(f)`` at
    the module's end, so that mutmut mutates ``f``."""
    text = module.read_text()
    calls = [f"{m.group(1)}({m.group(2)})({m.group(4)})" for m in _DECORATED.finditer(text)]
    if calls:
        text = _DECORATED.sub(r"\3", text)
        module.write_text(text.rstrip("\n") + "\n\n\n# registered here (scripts/mutation)\n"
                          + "\n".join(calls) + "\n")


def scores(prefixes: dict[str, str]) -> tuple[dict[str, Counter], dict[str, list[str]]]:
    """Per module: how many mutants ended in each status, read from mutmut's meta files."""
    from mutmut.stats import status_by_exit_code

    found: dict[str, Counter] = {name: Counter() for name in prefixes}
    survivors: dict[str, list[str]] = {name: [] for name in prefixes}
    for meta in (WORK / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        for mutant, code in data.get("exit_code_by_key", {}).items():
            for name, prefix in prefixes.items():
                if mutant.startswith(prefix + "."):
                    status = status_by_exit_code[code]
                    found[name][status] += 1
                    if status == "survived":
                        survivors[name].append(mutant)
    return found, survivors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", choices=[[], *MODULES], default=[],
                        help="modules to mutate (default: all of " + ", ".join(MODULES) + ")")
    parser.add_argument("--keep", action="store_true", help="reuse .mutation/ and its cache")
    parser.add_argument("--max-children", type=int, default=2, help="parallel test runs")
    parser.add_argument("--show", action="store_true", help="print each survivor's change")
    args = parser.parse_args()
    chosen = {m: MODULES[m] for m in (args.modules or MODULES)}

    if args.keep and WORK.exists():  # the same mutants; the tests as they are now
        shutil.copytree(ROOT / "tests", WORK / "tests", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    else:
        lay_out()
    names = [f"{prefix}.*" for prefix in chosen.values()]
    mutmut = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children),
              *names]
    print("$ cd .mutation &&", " ".join(["mutmut", *mutmut[3:]]), flush=True)
    run = subprocess.run(mutmut, cwd=WORK)
    if run.returncode != 0:
        print(f"mutmut failed (exit {run.returncode})", file=sys.stderr)
        return run.returncode

    counts, survivors = scores(chosen)
    print("\nmutation score (killed / mutants; the unit tests)")
    total_killed = total = 0
    for name, counter in counts.items():
        n = sum(counter.values())
        killed = counter["killed"] + counter["timeout"]
        total_killed, total = total_killed + killed, total + n
        rest = ", ".join(f"{k} {v}" for k, v in sorted(counter.items())
                         if k not in ("killed", "timeout"))
        print(f"  {name:9} {killed:4d} / {n:4d}  {100 * killed / max(n, 1):5.1f} %"
              + (f"   ({rest})" if rest else ""))
    print(f"  {'all':9} {total_killed:4d} / {total:4d}  {100 * total_killed / max(total, 1):5.1f} %")
    listed = [m for found in survivors.values() for m in sorted(found)]
    if listed:
        print(f"\n{len(listed)} surviving mutants (see one: cd .mutation && "
              f"../.venv/bin/python -m mutmut show NAME):")
        for mutant in listed:
            print("  " + mutant)
            if args.show:
                print(indent(changed_lines(mutant), "      "))
    return 0


def changed_lines(mutant: str) -> str:
    """The lines a mutant changes, as -/+ lines (from mutmut's copy in WORK)."""
    import os

    from mutmut.mutation.diff_apply import get_diff_for_mutant

    module = re.split(r"\.x_|\.x\u01c1", mutant)[0]
    candidates = [Path(*module.split(".")).with_suffix(".py"),
                  Path(*module.split("."), "__init__.py")]
    path = next((p for p in candidates if (WORK / p).exists()), candidates[0])
    here = os.getcwd()
    os.chdir(WORK)
    try:
        diff = get_diff_for_mutant(mutant, path=path)
    except Exception as exc:  # a mutant mutmut cannot show: say so, keep listing
        return f"(cannot show: {exc})"
    finally:
        os.chdir(here)
    return "\n".join(line for line in diff.splitlines()
                     if line[:1] in "+-" and line[:3] not in ("+++", "---"))


if __name__ == "__main__":
    sys.exit(main())
