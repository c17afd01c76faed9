"""Exercise checks of the chapter on Pareto frontiers in feature learning. Each runs the student's
answer against the reference and prints what is right or a hint about the likeliest mistake.
"""

from __future__ import annotations

from math import comb

import torch

from companion.core.checks import attempt, exercise_check, report, within

from .analysis import first_m_reaching


@exercise_check
def check_sparse_init(fn) -> bool:
    """fn(width, n, s, generator) -> tensor (width, n): each row has exactly s non-zero entries on
    coordinates drawn uniformly at random, independently for each row."""
    weights, problem = attempt(fn, 4000, 20, 3, torch.Generator().manual_seed(0), convert=torch.as_tensor)
    again, _ = attempt(fn, 4000, 20, 3, torch.Generator().manual_seed(1), convert=torch.as_tensor)
    if problem:
        return report(False, problem)
    if tuple(weights.shape) != (4000, 20):
        return report(False, f"expected shape (width, n) = (4000, 20), got {tuple(weights.shape)}.")
    per_row = (weights != 0).sum(1)
    if not bool((per_row == 3).all()):
        bad = int((per_row != 3).nonzero()[0, 0])
        return report(False, f"row {bad} has {int(per_row[bad])} non-zero weights; every row needs exactly s = 3 "
                              "(draw the s coordinates without replacement, and no zero values on them).")
    share = (weights != 0).float().mean(0) / (3 / 20)  # each column's frequency against the expected s/n
    if not within(float((share - 1).abs().max()), 0, 0.15):
        return report(False, "some coordinates are chosen far more often than others: draw each row's s "
                              "coordinates uniformly at random (torch.randperm(n)[:s] per row, for example).")
    if torch.equal(weights != 0, again != 0):
        return report(False, "two different generators gave the same pattern: draw with the generator passed in.")
    return report(True, "every row has exactly s random non-zero weights, spread evenly over the coordinates.")


@exercise_check
def check_cover_probability(fn) -> bool:
    """fn(n, k, s) -> the probability that s coordinates drawn without replacement include all k of S."""
    cases = [(30, 3, 3), (30, 3, 6), (30, 3, 10), (20, 2, 5), (50, 4, 12), (10, 3, 2), (12, 3, 12)]
    for n, k, s in cases:
        want = comb(n - k, s - k) / comb(n, s) if s >= k else 0.0
        got, problem = attempt(fn, n, k, s, convert=float)
        if problem:
            return report(False, problem)
        if not within(got, want, 1e-9 * max(1.0, want)):
            if abs(got - (s / n) ** k) < 1e-12:
                hint = "(s/n)^k treats the draws as independent; they are without replacement."
            elif s < k and got != 0:
                hint = "with fewer than k coordinates a neuron cannot cover all of S: the answer is 0."
            else:
                hint = "count the s-subsets that contain S, C(n-k, s-k), over all s-subsets, C(n, s)."
            return report(False, f"for n={n}, k={k}, s={s} expected {want:.6g}, got {got:.6g}. {hint}")
    p = comb(27, 3) / comb(30, 6)
    return report(True, f"right on {len(cases)} cases. With n=30, k=3, s=6 a neuron covers S with probability "
                         f"{p:.4f}; among 1000 neurons about {1000 * p:.0f} do.")


@exercise_check
def check_frontier_reading(answer, rows: list[dict], init: str = "sparse", width: int = 1000) -> bool:
    """The smallest m in the grid at which (init, width) succeeds at least half the time."""
    want = first_m_reaching(rows, init, width)
    if answer == want:
        return report(True, f"m = {want}: the smallest size in the grid at which {init} nets of width {width} "
                             "succeed at least half the time.")
    dense = first_m_reaching(rows, "dense" if init == "sparse" else "sparse", width)
    if answer == dense and dense != want:
        return report(False, "that is the other initialisation's frontier: read the other heat map.")
    return report(False, f"{answer!r} is not it: in the heat map for {init} initialisation, go along the row "
                          f"width = {width} and find the first column whose rate is at least 0.50.")


