"""Grids of runs through joblib: processes on one machine, or a Dask cluster.

By default a sweep runs in processes on this machine (joblib's loky), which share the result cache:
each worker stores what it computes, and the caller reads it back. Inside `on_cluster(address)` every
sweep runs on a ``dask.distributed`` cluster instead (joblib's dask backend, no scheduler of our own).
Its workers may have disks of their own, so each job sends back every cache entry it read or stored,
as the files lie on disk (the safetensors bytes, never a pickled tensor), and the caller stores them
in its own cache; a worker that shares the caller's cache root sends nothing.

Inside `at_most_jobs(n)`, or where ``COMPANION_JOBS`` is set, a local sweep uses at most that many
processes; with one it runs in the calling process. Work that is already spread over the cores (the
capstone training chapters side by side) gives each chapter one core this way, instead of starting
processes that would only compete for the same cores. A cached sweep in the calling process leaves for
last the runs another process is computing (`run_cached`), so two such processes share their runs out.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

from joblib import Parallel, delayed, parallel_config

from .cache import being_computed, cache_root, entry_files, entry_path, store_entry_files, touched_entries
from .config import InputError

# loky replaces a worker whose memory has grown a lot (a large run's tensors) and says so from a
# background thread, on stderr; no job is lost, and in a notebook the notice fails the book's build
warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)

CLUSTER_SCHEMES = ("dask://", "tcp://")
_cluster: list = []  # the dask client of the active `on_cluster` block, if any
JOBS_VARIABLE = "COMPANION_JOBS"
_job_limit: ContextVar[int | None] = ContextVar("job_limit", default=None)


def job_limit() -> int | None:
    """The most processes a local sweep may use: the innermost `at_most_jobs` block's limit, else
    ``COMPANION_JOBS`` where it is set, else None (no limit)."""
    limit = _job_limit.get()
    if limit is not None:
        return limit
    text = os.environ.get(JOBS_VARIABLE, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"{JOBS_VARIABLE} must be a positive integer (the most processes a sweep uses), "
                         f"got {text!r}")
    return int(text)


@contextmanager
def at_most_jobs(n: int):
    """Every local sweep inside the block uses at most `n` processes (one: the calling process)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"the job limit must be a positive integer, got {n!r}")
    token = _job_limit.set(n)
    try:
        yield
    finally:
        _job_limit.reset(token)


def grid(**axes) -> list[dict]:
    """Every combination of the given axes: ``grid(width=[10, 100], seed=[0, 1])`` has four points."""
    for name, values in axes.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"{name} must be a non-empty list of values, got {values!r}")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*axes.values())]


def _on_worker(fn: Callable, point: dict, caller_root: str) -> tuple:
    """Run one job and pack the cache entries it touched, unless this worker shares the caller's cache."""
    with touched_entries() as touched:
        value = fn(**point)
    if str(cache_root().resolve()) == caller_root:
        return value, []
    return value, [entry_files(path) for path in dict.fromkeys(touched)]


def _limited_jobs(n_jobs: int) -> int:
    """`n_jobs` within the job limit, if any (see `job_limit`)."""
    limit = job_limit()
    if limit is not None and not _cluster:
        return limit if n_jobs < 1 else min(n_jobs, limit)  # joblib reads n_jobs = -1 as every core
    return n_jobs


def _in_this_process(n_jobs: int, count: int) -> bool:
    return not _cluster and (count == 1 or _limited_jobs(n_jobs) == 1)


def sweep(fn: Callable, points: list[dict], n_jobs: int = -1, backend: str = "loky") -> list:
    """``[fn(**point) for point in points]``, run in parallel; results come back in order, and so do
    the cache entries the jobs made (see the module's docstring)."""
    n_jobs = _limited_jobs(n_jobs)
    if _in_this_process(n_jobs, len(points)):
        return [fn(**point) for point in points]
    if _cluster:
        backend, n_jobs = "dask", -1  # as many jobs at once as the cluster has workers
    caller_root = str(cache_root().resolve())
    with parallel_config(backend=backend, n_jobs=n_jobs):
        outputs = Parallel()(delayed(_on_worker)(fn, point, caller_root) for point in points)
    for _, entries in outputs:
        for entry in entries:
            store_entry_files(**entry)
    return [value for value, _ in outputs]


@contextmanager
def on_cluster(address):
    """Run every sweep inside the block on the dask cluster at `address` ("dask://HOST:PORT" or
    "tcp://HOST:PORT"), or through an existing ``distributed.Client``."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--cluster needs dask.distributed: pip install 'companion[cluster]'") from None
    if isinstance(address, str):
        if not address.startswith(CLUSTER_SCHEMES):
            raise InputError(f"--cluster must be an address starting with one of {list(CLUSTER_SCHEMES)}, "
                             f"got {address!r}")
        try:
            client = Client("tcp://" + address.split("://", 1)[1], timeout=30)
        except (OSError, TimeoutError) as err:
            raise InputError(f"--cluster: no dask scheduler answers at {address} ({err})") from None
    else:
        client = address
    _cluster.append(client)
    try:
        with client.as_current():
            yield client
    finally:
        _cluster.remove(client)
        if client is not address:
            client.close()


def _fill(run: Callable, config) -> None:
    run(config)  # the result lands in the cache (the caller's, or sent back to it from a cluster)


def run_cached(run: Callable, configs: list, name: str, version: int, n_jobs: int = 2) -> list:
    """``[run(c) for c in configs]`` for a cached experiment: the configs missing from the cache are
    trained first, in parallel processes (with one job, in this process, see `_fill_in_turn`), and then
    every result is read back from the cache."""
    missing = list(dict.fromkeys(c for c in configs if not entry_path(name, version, c).exists()))
    if len(missing) > 1 and _in_this_process(n_jobs, len(missing)):
        _fill_in_turn(run, missing, name, version)
    elif len(missing) > 1 or (missing and _cluster):
        sweep(_fill, [{"run": run, "config": c} for c in missing], n_jobs=n_jobs)
    return [run(c) for c in configs]


def _fill_in_turn(run: Callable, configs: list, name: str, version: int) -> None:
    """Fill the entries one after another, passing over those another process is computing and waiting
    for them at the end. Two processes that need the same runs (the capstone beside the chapter it
    reads, each on one core) then share them out instead of queueing behind each other's locks."""
    passed_over = []
    for config in configs:
        if entry_path(name, version, config).exists():
            continue
        if being_computed(name, version, config):
            passed_over.append(config)
        else:
            run(config)
    for config in passed_over:
        run(config)  # waits on the entry's lock, then reads what the other process stored
