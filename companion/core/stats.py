"""Intervals over seeds: the numbers a chapter states with their uncertainty."""

from __future__ import annotations

import math

import numpy as np


def mean_interval(values, confidence: float = 0.95) -> dict:
    """The mean of per-seed values with its Student-t interval: {"mean", "ci": [low, high], "n"}.

    One value has no interval (both ends None); the interval assumes the seeds are independent draws.
    """
    from scipy.stats import t

    values = np.asarray([v for v in values], dtype=float)
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"values must be finite numbers, at least one, got {values.tolist()}")
    mean = float(values.mean())
    if values.size < 2:
        return {"mean": mean, "ci": [None, None], "n": 1}
    half = float(t.ppf((1 + confidence) / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return {"mean": mean, "ci": [mean - half, mean + half], "n": int(values.size)}


def verdict(interval: dict, threshold: float = 0.0, above: str = "above", below: str = "below",
            neither: str = "not separated") -> str:
    """Which side of `threshold` an interval from `mean_interval` lies on, or `neither` where it straddles it."""
    low, high = interval["ci"]
    if low is None:
        return neither
    if low > threshold:
        return above
    if high < threshold:
        return below
    return neither
