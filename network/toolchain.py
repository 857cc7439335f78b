"""Install and locate the pinned Fabric binaries, built from the Go module proxy.

Each Go module is built from a small generated module of its own (so Fabric and Fabric CA
keep their own dependency versions) into a tools folder outside the repository, by default
``~/.cache/ledgerlake/tools/<pin>`` (``LEDGERLAKE_TOOLS_DIR`` changes it). Go's module and
build caches are left where Go keeps them, so a rebuild after a purge is quick.
A second ``install()`` with everything present only reads ``versions.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ledgerlake.errors import ToolchainError
from ledgerlake.network import versions

TOOLS_ENV = "LEDGERLAKE_TOOLS_DIR"


def default_tools_dir() -> Path:
    if os.environ.get(TOOLS_ENV):
        return Path(os.environ[TOOLS_ENV]).expanduser().resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = f"fabric-{versions.FABRIC_VERSION}-ca-{versions.FABRIC_CA_VERSION}"
    return cache / "ledgerlake" / "tools" / tag


@dataclass(frozen=True)
class Toolchain:
    """Where the installed binaries and Fabric's sample config live."""

    root: Path

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def config_dir(self) -> Path:
        """A writable copy of Fabric's ``sampleconfig`` (core.yaml, orderer.yaml, configtx.yaml)."""
        return self.root / "config"

    def bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    @property
    def record(self) -> Path:
        return self.root / "versions.json"

    def is_installed(self) -> bool:
        try:
            recorded = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return False
        names = versions.FABRIC_COMMANDS + versions.FABRIC_CA_COMMANDS
        return (
            all(recorded.get(k) == v for k, v in versions.pins().items())
            and all((self.bin_dir / n).is_file() for n in names)
            and (self.config_dir / "core.yaml").is_file()
        )


def find(tools_dir: Path | None = None) -> Toolchain:
    """The installed toolchain, or a ToolchainError saying how to install it."""
    chain = Toolchain(tools_dir or default_tools_dir())
    if not chain.is_installed():
        raise ToolchainError(
            f"Fabric tools are not installed in {chain.root}; run 'ledgerlake install' "
            f"(or scripts/install)"
        )
    return chain


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _go_version() -> tuple[int, int]:
    go = shutil.which("go")
    if not go:
        raise ToolchainError(
            "Go is not installed (no 'go' on PATH); install Go >= "
            f"{versions.MIN_GO[0]}.{versions.MIN_GO[1]} and retry"
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout
    m = re.match(r"go(\d+)\.(\d+)", out.strip())
    if not m:
        raise ToolchainError(f"cannot read the Go version from 'go env GOVERSION': {out!r}")
    found = (int(m.group(1)), int(m.group(2)))
    if found < versions.MIN_GO:
        raise ToolchainError(
            f"Go {found[0]}.{found[1]} is too old; Fabric CA {versions.FABRIC_CA_VERSION} "
            f"needs Go >= {versions.MIN_GO[0]}.{versions.MIN_GO[1]}"
        )
    return found


def _check_gcc() -> None:
    if not (shutil.which("gcc") or shutil.which("cc")):
        raise ToolchainError(
            "gcc is missing; fabric-ca-server needs cgo (install the Debian packages "
            "'gcc libc6-dev' and retry)"
        )


def _explain_go_failure(what: str, stderr: str) -> ToolchainError:
    lines = [ln for ln in stderr.strip().splitlines() if not ln.startswith("go: downloading")]
    text = " ".join(lines)
    proxy = os.environ.get("GOPROXY") or "the Go module proxy"
    if "403" in text or "not available" in text:
        m = re.search(r"reading (\S+)", text)
        return ToolchainError(
            f"{proxy} refuses to serve {what} ({m.group(1) if m else 'HTTP 403'}); "
            f"pin a version it serves in ledgerlake/network/versions.py"
        )
    if re.search(r"dial tcp|no such host|connection refused|i/o timeout|proxyconnect", text):
        return ToolchainError(
            f"cannot reach the Go module proxy ({proxy}) to download {what}; check "
            f"GOPROXY and the network, then retry"
        )
    tail = lines[-1] if lines else "no output"
    return ToolchainError(f"building {what} failed: {tail}")


def _go_build(module_dir: Path, out_dir: Path, packages: list[str], *, cgo: bool,
              ldflags: str = "", what: str) -> None:
    env = dict(os.environ, CGO_ENABLED="1" if cgo else "0", GOFLAGS="-mod=mod")
    env["GOBIN"] = str(out_dir)
    cmd = ["go", "build", "-trimpath", "-o", str(out_dir) + os.sep]
    if ldflags:
        cmd += ["-ldflags", ldflags]
    proc = subprocess.run(cmd + packages, cwd=module_dir, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise _explain_go_failure(what, proc.stderr)


def _module_dir(module_dir: Path, module: str, version: str, go_line: str) -> Path:
    module_dir.mkdir(parents=True, exist_ok=True)
    (module_dir / "go.mod").write_text(
        f"module ledgerlake.local/{module_dir.name}\n\ngo {go_line}\n\n"
        f"require {module} {version}\n"
    )
    return module_dir


def _copy_sampleconfig(fabric_mod: Path, dest: Path) -> None:
    env = dict(os.environ, GOFLAGS="-mod=mod")
    proc = subprocess.run(["go", "list", "-m", "-json", versions.FABRIC_MODULE],
                          cwd=fabric_mod, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise _explain_go_failure("Fabric's sampleconfig", proc.stderr)
    src = Path(json.loads(proc.stdout)["Dir"]) / "sampleconfig"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


def install(tools_dir: Path | None = None, *, force: bool = False) -> Toolchain:
    """Build the pinned binaries unless they are already installed; return the toolchain.

    Raises ToolchainError when Go or gcc is missing or too old, or the module proxy
    cannot serve a pinned module.
    """
    chain = Toolchain(tools_dir or default_tools_dir())
    if chain.is_installed() and not force:
        return chain
    _go_version()
    _check_gcc()
    started = time.monotonic()
    build = chain.root / "build"
    staging = chain.root / "bin.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    _say(f"[1/3] building Fabric {versions.FABRIC_VERSION} "
         f"({', '.join(versions.FABRIC_COMMANDS)}) from the Go module proxy …")
    fabric_mod = _module_dir(build / "fabric", versions.FABRIC_MODULE,
                             versions.FABRIC_MODULE_VERSION, "1.20")
    _go_build(
        fabric_mod, staging,
        [f"{versions.FABRIC_MODULE}/cmd/{c}" for c in versions.FABRIC_COMMANDS],
        cgo=False, what=f"{versions.FABRIC_MODULE}@{versions.FABRIC_MODULE_VERSION}",
        ldflags=f"-X {versions.FABRIC_MODULE}/common/metadata.Version={versions.FABRIC_VERSION}"
                f" -X {versions.FABRIC_MODULE}/common/metadata.CommitSHA="
                f"{versions.FABRIC_COMMIT[:8]}",
    )
    _say(f"[2/3] building Fabric CA {versions.FABRIC_CA_VERSION} (cgo) …")
    ca_mod = _module_dir(build / "ca", versions.FABRIC_CA_MODULE,
                         versions.FABRIC_CA_VERSION, "1.25.0")
    _go_build(
        ca_mod, staging,
        [f"{versions.FABRIC_CA_MODULE}/cmd/{c}" for c in versions.FABRIC_CA_COMMANDS],
        cgo=True, what=f"{versions.FABRIC_CA_MODULE}@{versions.FABRIC_CA_VERSION}",
        ldflags=f"-X {versions.FABRIC_CA_MODULE}/lib/metadata.Version="
                f"{versions.FABRIC_CA_VERSION.lstrip('v')}",
    )
    _say("[3/3] copying Fabric's sampleconfig …")
    _copy_sampleconfig(fabric_mod, chain.config_dir)

    shutil.rmtree(chain.bin_dir, ignore_errors=True)
    staging.rename(chain.bin_dir)
    record = dict(versions.pins(), built_seconds=round(time.monotonic() - started, 1),
                  built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    chain.record.write_text(json.dumps(record, indent=2) + "\n")
    _say(f"installed Fabric tools in {chain.root} ({record['built_seconds']} s)")
    return chain
