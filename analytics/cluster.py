"""Which Dask cluster an analysis runs on: one rule, Dask's own.

1. an address given by the caller (``ledgerlake analyze --scheduler tcp://host:8786``);
2. else Dask's configuration: the ``scheduler-address`` key (a YAML file under
   ``~/.config/dask`` or ``DASK_SCHEDULER_ADDRESS``, which Dask maps onto that key);
3. else a ``LocalCluster`` on this machine, sized for a laptop: worker processes (pandas
   and scikit-learn hold the GIL), one thread each, a memory limit per worker so a large
   lake spills to disk instead of exhausting memory, no dashboard port. For work too small
   to repay starting worker processes (the caller says so: ``in_process``), the
   LocalCluster runs one worker thread in this process instead.

Only the lake's file paths and plain parameters ever travel to the workers: no gRPC
channel, wallet or key goes into a task (the analysis reads only the lake).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from ledgerlake.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

ENV_VAR = "DASK_SCHEDULER_ADDRESS"
CONFIG_KEY = "scheduler-address"
MAX_LOCAL_WORKERS = 4
MAX_WORKER_MEMORY = 4 * 2**30   # bytes; a worker above this spills, pauses, then restarts
MIN_WORKER_MEMORY = 2**30
IN_PROCESS_ROWS = 300_000       # an analysis of fewer rows: a LocalCluster in the process


@dataclass(frozen=True)
class Choice:
    """The cluster the rule picked: ``kind`` "remote" (with its ``address``) or "local",
    and ``why`` (which step of the rule decided)."""
    kind: str
    address: str | None
    why: str


def choose(scheduler: str | None = None) -> Choice:
    """The rule above, without side effects (the argument beats configuration and
    ``DASK_SCHEDULER_ADDRESS``, which beat a local cluster)."""
    import dask

    if scheduler:
        return Choice("remote", scheduler, "--scheduler")
    configured = dask.config.get(CONFIG_KEY, None)
    if configured:
        return Choice("remote", str(configured), f"Dask configuration ({CONFIG_KEY})")
    # Dask reads the environment once, at import: a variable set later still counts.
    if os.environ.get(ENV_VAR):
        return Choice("remote", os.environ[ENV_VAR], ENV_VAR)
    return Choice("local", None, "no scheduler given or configured")


def local_size(cpus: int | None = None, memory: int | None = None) -> tuple[int, int]:
    """Workers and memory limit per worker for a LocalCluster on this machine: one
    single-threaded process per core (at most 4), each allowed half the machine's memory
    shared out (between 1 and 4 GiB)."""
    import psutil

    cpus = cpus or os.cpu_count() or 1
    memory = memory or psutil.virtual_memory().total
    workers = max(1, min(MAX_LOCAL_WORKERS, cpus))
    limit = min(MAX_WORKER_MEMORY, max(MIN_WORKER_MEMORY, memory // 2 // workers))
    return workers, limit


@contextmanager
def client(scheduler: str | None = None, *, n_workers: int | None = None,
           timeout: str = "10s", progress: Callable[[str], None] | None = None,
           in_process: bool = False) -> Iterator["Client"]:
    """A ``distributed.Client`` on the cluster :func:`choose` picks, closed on exit (a
    LocalCluster it started is shut down with it). ``n_workers`` sizes a LocalCluster
    only; ``in_process`` makes a LocalCluster one worker thread in this process (small
    work: no worker processes to start); ``timeout`` bounds reaching a remote scheduler;
    ``progress`` hears which cluster was chosen and why."""
    import logging

    from distributed import Client, LocalCluster

    choice = choose(scheduler)
    if choice.kind == "remote":
        try:
            dask_client = Client(choice.address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {choice.address} (from "
                              f"{choice.why}): {str(exc).splitlines()[0] if str(exc) else exc}"
                              f"; start one with 'dask scheduler' or unset it to run on a "
                              f"local cluster") from None
        if progress:
            progress(f"Dask: scheduler {choice.address} (from {choice.why}), "
                     f"{len(dask_client.nthreads())} workers")
        with dask_client:
            yield dask_client
        return
    workers, limit = local_size()
    workers = 1 if in_process else n_workers or workers
    where = {} if in_process else {"host": "127.0.0.1"}   # in process: no socket at all
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                           processes=not in_process, memory_limit=limit,
                           dashboard_address=None, scheduler_kwargs={"dashboard": False},
                           silence_logs=logging.CRITICAL, **where)
    if progress:
        kind = "1 worker thread in this process (small work)" if in_process else \
            f"{workers} worker processes"
        progress(f"Dask: local cluster, {kind}, {limit / 2**30:.1f} GiB each "
                 f"({choice.why})")
    with cluster, Client(cluster) as dask_client:
        yield dask_client


def describe(dask_client: "Client") -> dict:
    """What results.json records of the cluster: kind, scheduler address, worker count."""
    return {"kind": "local" if dask_client.cluster is not None else "remote",
            "address": dask_client.scheduler.address,
            "workers": len(dask_client.nthreads())}
