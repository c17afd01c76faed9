"""Grids of runs through joblib: processes on one machine, or a Dask cluster.

By default a sweep runs in processes on this machine (joblib's loky), which share the result cache:
each worker stores what it computes, and the caller reads it back. Inside `on_cluster(address)` every
sweep runs on a ``dask.distributed`` cluster instead (joblib's dask backend, no scheduler of our own).
Its workers may have disks of their own, so each job sends back every cache entry it read or stored,
as the files lie on disk (the safetensors bytes, never a pickled tensor), and the caller stores them
in its own cache; a worker that shares the caller's cache root sends nothing.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from contextlib import contextmanager

from joblib import Parallel, delayed, parallel_config

from .cache import cache_root, entry_files, entry_path, store_entry_files, touched_entries
from .config import InputError

# loky replaces a worker whose memory has grown a lot (a large run's tensors) and says so from a
# background thread, on stderr; no job is lost, and in a notebook the notice fails the book's build
warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)

CLUSTER_SCHEMES = ("dask://", "tcp://")
_cluster: list = []  # the dask client of the active `on_cluster` block, if any


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


def sweep(fn: Callable, points: list[dict], n_jobs: int = -1, backend: str = "loky") -> list:
    """``[fn(**point) for point in points]``, run in parallel; results come back in order, and so do
    the cache entries the jobs made (see the module's docstring)."""
    if not _cluster and (len(points) == 1 or n_jobs == 1):
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
    trained first, in parallel processes, and then every result is read back from the cache."""
    missing = list(dict.fromkeys(c for c in configs if not entry_path(name, version, c).exists()))
    if len(missing) > 1 or (missing and _cluster):
        sweep(_fill, [{"run": run, "config": c} for c in missing], n_jobs=n_jobs)
    return [run(c) for c in configs]
