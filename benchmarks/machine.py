"""Who measured what, where: the machine description every benchmark result carries."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
_TICK = os.sysconf("SC_CLK_TCK")


def base_port(default: int = 26000) -> int:
    """The benchmarks' base port, moved by ``LEDGERLAKE_TEST_PORT_SHIFT`` like the tests'."""
    return default + int(os.environ.get("LEDGERLAKE_TEST_PORT_SHIFT", "0"))


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (every process, every core), from /proc/stat."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in parts]
    return (sum(values[:8]) - values[3] - values[4]) / _TICK  # minus idle, iowait


def describe() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    go = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu,
            "cores": os.cpu_count(), "memory_gib": round(mem, 1),
            "python": platform.python_version(), "go": go or "none"}


def speed() -> str:
    """How fast one core of this machine is right now, on two fixed pieces of work: the
    same code measured here ran up to 1.6× slower at some hours than at others (a shared
    host), so a result is comparable with another only next to this."""
    import hashlib

    block, rounds = b"x" * 1024, 100_000
    began = time.perf_counter()
    for _ in range(rounds):
        hashlib.sha256(block).digest()
    sha = rounds * len(block) / (time.perf_counter() - began) / 2**20
    began, total = time.perf_counter(), 0
    for i in range(1_000_000):
        total += i
    loop = (time.perf_counter() - began) / 1_000_000 * 1e9
    return f"SHA-256 {sha:,.0f} MiB/s, a Python loop {loop:.0f} ns per iteration (one core)"


def append(title: str, lines: list[str]) -> None:
    """Append one result section to benchmarks/results.md."""
    m = describe()
    header = (f"\n## {title} — {m['date']}\n\nMachine: {m['cpu']}, {m['cores']} cores, "
              f"{m['memory_gib']} GiB; Python {m['python']}, {m['go']}. Speed at the end "
              f"of the run: {speed()}.\n\n")
    with open(RESULTS, "a") as fh:
        fh.write(header + "\n".join(lines) + "\n")
