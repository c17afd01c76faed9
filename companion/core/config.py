"""Scales and argument checks shared by every experiment.

Each experiment is a frozen dataclass. Its ``__post_init__`` calls the checks below, so a bad
setting fails with a message naming the parameter and what it accepts, before anything is computed.
Every such failure is an ``InputError``: the command line prints its one line and exits with 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

SCALES = ("test", "book", "full")
# torch's CPU generator keeps 32 bits of a seed: a larger one would silently repeat a smaller one's run
MAX_SEED = 2**32 - 1


class InputError(ValueError):
    """A setting, path or answer that cannot be used, found before any compute; the message names the
    parameter and what it accepts."""


def resolve_scale(scale: str | None = None) -> str:
    """The scale to run at: the argument, else ``COMPANION_SCALE``, else ``"book"``."""
    chosen = scale if scale is not None else os.environ.get("COMPANION_SCALE", "book")
    if chosen not in SCALES:
        source = "scale" if scale is not None else "COMPANION_SCALE"
        raise InputError(f"{source} must be one of {SCALES}, got {chosen!r}")
    return chosen


def check_choice(name: str, value, allowed: Iterable) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InputError(f"{name} must be one of {allowed}, got {value!r}")


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer, got {value!r}")
    _check_bounds(name, value, low, high)


def check_float(name: str, value, low: float | None = None, high: float | None = None,
                low_inclusive: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InputError(f"{name} must be a number, got {value!r}")
    if low is not None and not low_inclusive and value <= low:
        raise InputError(f"{name} must be > {low}, got {value!r}")
    _check_bounds(name, value, low if low_inclusive else None, high)


def check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {value!r}")


def check_seed(name: str, value) -> None:
    """A seed in [0, 2**32 - 1]: every distinct seed in that range gives a distinct run."""
    check_int(name, value, 0, MAX_SEED)


def _check_bounds(name, value, low, high) -> None:
    if low is not None and high is not None and not low <= value <= high:
        raise InputError(f"{name} must be between {low} and {high}, got {value!r}")
    if low is not None and value < low:
        raise InputError(f"{name} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise InputError(f"{name} must be <= {high}, got {value!r}")
