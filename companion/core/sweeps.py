"""Grids of runs through joblib.

Processes on one machine by default; with a Dask or Ray cluster registered as a joblib backend, pass
``backend="dask"`` or ``backend="ray"`` and the same grid runs there. No scheduler of our own.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable

from joblib import Parallel, delayed, parallel_config

from .cache import entry_path

# loky replaces a worker whose memory has grown a lot (a large run's tensors) and says so from a
# background thread, on stderr; no job is lost, and in a notebook the notice fails the book's build
warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)


def grid(**axes) -> list[dict]:
    """Every combination of the given axes: ``grid(width=[10, 100], seed=[0, 1])`` has four points."""
    for name, values in axes.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"{name} must be a non-empty list of values, got {values!r}")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*axes.values())]


def sweep(fn: Callable, points: list[dict], n_jobs: int = -1, backend: str = "loky") -> list:
    """``[fn(**point) for point in points]``, run in parallel; results come back in order."""
    if len(points) == 1 or n_jobs == 1:
        return [fn(**point) for point in points]
    with parallel_config(backend=backend, n_jobs=n_jobs):
        return Parallel()(delayed(fn)(**point) for point in points)


def _fill(run: Callable, config) -> None:
    run(config)  # the result lands in the cache; nothing travels back between processes


def run_cached(run: Callable, configs: list, name: str, version: int, n_jobs: int = 2) -> list:
    """``[run(c) for c in configs]`` for a cached experiment: the configs missing from the cache are
    trained first, in parallel processes, and then every result is read back from the cache."""
    missing = list(dict.fromkeys(c for c in configs if not entry_path(name, version, c).exists()))
    if len(missing) > 1:
        sweep(_fill, [{"run": run, "config": c} for c in missing], n_jobs=n_jobs)
    return [run(c) for c in configs]
