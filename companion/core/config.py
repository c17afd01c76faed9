"""Scales and argument checks shared by every experiment.

Each experiment is a frozen dataclass. Its ``__post_init__`` calls the checks below, so a bad
setting fails with a message naming the parameter and what it accepts, before anything is computed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

SCALES = ("test", "book", "full")


def resolve_scale(scale: str | None = None) -> str:
    """The scale to run at: the argument, else ``COMPANION_SCALE``, else ``"book"``."""
    chosen = scale if scale is not None else os.environ.get("COMPANION_SCALE", "book")
    if chosen not in SCALES:
        source = "scale" if scale is not None else "COMPANION_SCALE"
        raise ValueError(f"{source} must be one of {SCALES}, got {chosen!r}")
    return chosen


def check_choice(name: str, value, allowed: Iterable) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    _check_bounds(name, value, low, high)


def check_float(name: str, value, low: float | None = None, high: float | None = None,
                low_inclusive: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{name} must be a number, got {value!r}")
    if low is not None and not low_inclusive and value <= low:
        raise ValueError(f"{name} must be > {low}, got {value!r}")
    _check_bounds(name, value, low if low_inclusive else None, high)


def _check_bounds(name, value, low, high) -> None:
    if low is not None and high is not None and not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
