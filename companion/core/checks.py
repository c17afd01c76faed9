"""Checks for the chapters' exercises.

A check runs the student's answer against the reference on random inputs and prints what is right or,
when something is wrong, a hint about the likeliest mistake. It returns True or False and never
raises, so a notebook with an unfinished exercise still runs to the end.

This module holds what every chapter's checks share; each chapter's checks are in its own
`exercises.py`.
"""

from __future__ import annotations

import numpy as np

PASS, FAIL = "\N{CHECK MARK}", "\N{BALLOT X}"


def report(ok: bool, message: str) -> bool:
    print(f"{PASS if ok else FAIL} {message}")
    return ok


def attempt(fn, *args, convert=lambda value: value):
    """Call the student's function; an unfinished stub or a crash becomes a hint, not an error.

    Returns (value, None) or (None, hint).
    """
    try:
        return convert(fn(*args)), None
    except NotImplementedError:
        return None, "not implemented yet: replace the `raise NotImplementedError` with your code."
    except Exception as err:  # the student's code is allowed to be wrong in any way
        return None, f"your function raised {type(err).__name__}: {err}"


def call(fn, *args):
    """The student's answer as a float array, or a hint."""
    return attempt(fn, *args, convert=lambda value: np.asarray(value, dtype=float))


