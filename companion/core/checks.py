"""Checks for the chapters' exercises.

A check runs the student's answer against the reference on random inputs and prints what is right or,
when something is wrong, a hint about the likeliest mistake. It returns True or False and never
raises, so a notebook with an unfinished exercise still runs to the end: every chapter's check is
wrapped in `exercise_check`, which turns anything the check could not digest (an answer of the wrong
type, a student function that calls ``sys.exit``) into a hint and False.

A non-finite number is never a right answer: `attempt` refuses NaN and infinities before any
comparison sees them (``abs(nan - want) > tol`` is False, which once let NaN pass).

When ``COMPANION_GRADE_LOG`` names a file, every check also appends its verdict there as one JSON
line, which is how ``python -m companion grade`` reads a submission's results.

This module holds what every chapter's checks share; each chapter's checks are in its own
`exercises.py`.
"""

from __future__ import annotations

import functools
import json
import math
import os

import numpy as np
import torch

PASS, FAIL = "\N{CHECK MARK}", "\N{BALLOT X}"
GRADE_LOG = "COMPANION_GRADE_LOG"
NOT_FINITE = ("your answer contains NaN or an infinity: a right answer is made of finite numbers (look for a "
              "division by zero, a log of 0, or an empty mean).")
_last_message = [""]


def report(ok: bool, message: str) -> bool:
    print(f"{PASS if ok else FAIL} {message}")
    _last_message[0] = message
    return ok


def not_finite(value) -> bool:
    """True when `value` is a number, or an array of numbers, with a NaN or an infinity in it."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return False
    if isinstance(value, torch.Tensor):
        return bool(value.is_floating_point() and not torch.isfinite(value).all())
    if isinstance(value, (int, float, complex, np.number)):
        return not math.isfinite(abs(value))
    try:
        array = np.asarray(value)
    except Exception:  # ragged or exotic: not a plain array of numbers, so nothing to say here
        return False
    return array.dtype.kind in "fc" and not np.isfinite(array).all()


def attempt(fn, *args, convert=lambda value: value, not_finite_hint: str = NOT_FINITE):
    """Call the student's function; an unfinished stub, a crash (``sys.exit`` included), an answer that
    cannot be converted, or a non-finite one (`not_finite_hint` names the likeliest cause) becomes a
    hint, not an error.

    Returns (value, None) or (None, hint).
    """
    try:
        raw = fn(*args)
        value = None if not_finite(raw) else convert(raw)
    except NotImplementedError:
        return None, "not implemented yet: replace the `raise NotImplementedError` with your code."
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # the student's code is allowed to be wrong in any way
        return None, f"your function raised {type(err).__name__}: {err}"
    if value is None and raw is not None or not_finite(value):
        return None, not_finite_hint
    return value, None


def call(fn, *args, not_finite_hint: str = NOT_FINITE):
    """The student's answer as a float array, or a hint."""
    return attempt(fn, *args, convert=lambda value: np.asarray(value, dtype=float), not_finite_hint=not_finite_hint)


def within(got, want, tolerance: float) -> bool:
    """|got - want| <= tolerance, and False for NaN or an infinity (where ``>`` would say nothing)."""
    try:
        return bool(abs(float(got) - float(want)) <= tolerance)
    except (TypeError, ValueError):
        return False


def exercise_check(check):
    """Make a check total: True or False, a printed hint, never an exception."""
    @functools.wraps(check)
    def guarded(*args, **kwargs) -> bool:
        _last_message[0] = ""
        try:
            ok = check(*args, **kwargs) is True
        except KeyboardInterrupt:
            raise
        except BaseException as err:
            ok = report(False, f"the check could not read your answer ({type(err).__name__}: {err}). "
                               "Compare its type and shape with what the exercise asks for.")
        _log(check.__name__, ok)
        return ok
    return guarded


def _log(name: str, ok: bool) -> None:
    path = os.environ.get(GRADE_LOG)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"check": name, "ok": ok, "hint": _last_message[0]}) + "\n")
