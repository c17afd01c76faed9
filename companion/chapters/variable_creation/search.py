"""Variable creation: the search for the critical sample size m*.

m* of a (model, T) is the smallest training-set size at which at least half the seeds succeed. A scan
trains cells of the grid of m around where m* should be, stepping down until most seeds fail and up
until half succeed, then halves the last step in log m; a chain of scans at growing T starts each scan
from what the previous T's m* predicts.
"""
from __future__ import annotations

import math

import numpy as np

from companion.core.cache import Result
from companion.core.config import resolve_scale

from .experiment import BISECTIONS, M_GRID, SCALES, config_for, run


def success_rate(result: Result) -> float:
    return float(np.mean(result.metrics["success"]))


def scan(model: str, T: int, scale: str | None = None, seed: int = 0, start: int | None = None,
         past: int = 0, **changes) -> list[Result]:
    """The cells of one (model, T) around m*, sorted by m.

    From the grid point at or above `start` (the bottom of the grid without one) the scan first steps
    down until fewer than half the seeds succeed, so that the first m where at least half do is seen
    from below; then up until at least half succeed, and `past` grid steps further (cells above m* cost
    most and decide nothing about m*, but they bound its interval; attention's rare seeds that never
    succeed would keep a scan for "all" going); then BISECTIONS halvings (in log m) of the step below m*."""
    plan = SCALES[resolve_scale(scale)]
    grid = [m for m in M_GRID if m <= plan["max_m"]]
    cells: dict[int, Result] = {}

    def cell(m: int) -> Result:
        cells[m] = run(config_for(scale, model, T, m, seed, **changes))
        return cells[m]

    def ordered() -> list[Result]:
        return [cells[m] for m in sorted(cells)]

    index = next((i for i, m in enumerate(grid) if m >= start), len(grid) - 1) if start else 0
    top = index
    while success_rate(cell(grid[index])) >= 0.5 and index > 0:
        index -= 1
    index = top
    while critical_m(ordered()) is None and index < len(grid) - 1:
        index += 1
        cell(grid[index])
    for beyond in range(index + 1, min(index + 1 + past, len(grid))):
        cell(grid[beyond])
    star = critical_m(ordered())
    below = [m for m in cells if m < (star or 0)]
    if below:
        low, high = max(below), star
        for _ in range(BISECTIONS):
            middle = int(round(math.sqrt(low * high)))
            if middle in (low, high):
                break
            low, high = (low, middle) if success_rate(cell(middle)) >= 0.5 else (middle, high)
    return ordered()


def critical_m(results: list[Result]) -> int | None:
    """m*: the smallest m at which at least half the seeds succeed (None: not within the scan)."""
    return next((r.metrics["config"]["m"] for r in results if success_rate(r) >= 0.5), None)


# Where scans start, a little below where m* should be: at the first T, from what the recipe needs at
# the book's shortest contexts; then from the previous T's m* times its growth per doubling of T
# (attention's grows by about a fifth, the MLP's about doubles); a variant of the recipe starts from
# the recipe's own m* at the same T (`guide`). A scan that starts too high steps down first.
FIRST_START = {"attention": 20, "mlp": 57}
START_GROWTH = {"attention": 1.2, "mlp": 2.0}
START_BELOW = 0.85


def chain(model: str, Ts, scale: str | None = None, seed: int = 0, guide: dict[int, int] | None = None,
          past: int = 0, **changes) -> dict[int, list[Result]]:
    """Scans at growing T, each started a little below the m* that `guide` or the previous T predicts:
    {T: results}."""
    found, previous = {}, None
    for T in sorted(Ts):
        if guide and guide.get(T):
            start = START_BELOW * guide[T]
        elif previous is not None:
            start = START_BELOW * previous[1] * START_GROWTH[model] ** math.log2(T / previous[0])
        else:
            start = FIRST_START[model]
        found[T] = scan(model, T, scale, seed, start=start, past=past, **changes)
        star = critical_m(found[T])
        if star is not None:
            previous = (T, star)
    return found
