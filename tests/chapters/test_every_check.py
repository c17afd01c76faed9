"""Every exercise check of every chapter, fed a battery of wrong answers: each returns False, prints a
hint, and raises nothing (a student's `sys.exit` included)."""

import importlib
import inspect
import math
import sys

import numpy as np
import pytest
import torch

from companion import topics
from companion.core.cache import Result
from companion.core.checks import FAIL, PASS


def every_check():
    for topic, module in topics.CHAPTER_MODULES.items():
        exercises = importlib.import_module(f"{module}.exercises")
        for name, check in vars(exercises).items():
            if name.startswith("check_") and callable(check) and check.__module__ == exercises.__name__:
                yield pytest.param(check, id=f"{topic}.{name}")


CHECKS = list(every_check())

# Made-up context for the checks whose answer is a value read off the chapter's results, chosen so that
# the right answer is a definite number (a None answer must not pass by matching a None frontier).
CONTEXT = {
    "check_t_c_prediction": dict(scaling_rows=[{"n": 10, "k": 3, "median_t_c": 100.0},
                                               {"n": 20, "k": 3, "median_t_c": 400.0}], k=3, n=30),
    "check_frontier_reading": dict(rows=[{"m": m, "init": "sparse", "width": 1000, "success_rate": rate}
                                         for m, rate in ((100, 0.0), (300, 0.6), (1000, 1.0))]),
    "check_plateau_height": dict(result=Result(metrics={"baselines": {"uniform": 0.5, "unigram": 0.3,
                                                                      "bigram": 0.1}})),
}


def _exits(*args):
    sys.exit(0)


def _fails_to_exit(*args):
    sys.exit("bye")


def _raises(*args):
    raise ValueError("a bug in the student's code")


WRONG_VALUES = {
    "None": None, "NaN": math.nan, "inf": math.inf, "-inf": -math.inf, "NaN array": np.full((3, 4), np.nan),
    "inf tensor": torch.full((2, 3), math.inf), "NaN scalar tensor": torch.tensor(math.nan),
    "wrong shape": np.zeros((1, 2, 3)), "string": "forty-two", "dict": {"answer": 1}, "Ellipsis": ...,
    "list of None": [None, None],
}
WRONG_FUNCTIONS = {f"returns {name}": (lambda value: lambda *args: value)(value)
                   for name, value in WRONG_VALUES.items()}
WRONG_FUNCTIONS.update({"raises": _raises, "sys.exit(0)": _exits, "sys.exit('bye')": _fails_to_exit})


def takes_a_function(check) -> bool:
    return next(iter(inspect.signature(check).parameters)) == "fn"


def test_the_battery_reaches_every_chapter():
    covered = {param.id.split(".")[0] for param in CHECKS}
    assert covered == set(topics.CHAPTERS)
    for param in CHECKS:
        check = param.values[0]
        required = [p.name for p in list(inspect.signature(check).parameters.values())[1:]
                    if p.default is inspect.Parameter.empty]
        assert set(required) <= set(CONTEXT.get(check.__name__, {})), f"{param.id}: add its context to CONTEXT"


@pytest.mark.parametrize("check", CHECKS)
def test_wrong_answers_fail_with_a_hint_and_never_raise(check, capsys):
    answers = WRONG_FUNCTIONS if takes_a_function(check) else WRONG_VALUES
    context = CONTEXT.get(check.__name__, {})
    for name, answer in answers.items():
        verdict = check(answer, **context)
        printed = capsys.readouterr().out
        assert verdict is False, f"{check.__name__} passed an answer that {name}"
        assert FAIL in printed and PASS not in printed.split(FAIL)[-1], f"{check.__name__}: no hint for {name}"
        assert len(printed.split(FAIL)[-1].strip()) > 10, f"{check.__name__}: the hint for {name} is empty"


def test_the_guard_turns_a_crashing_check_into_a_hint(capsys):
    """A check that cannot digest an answer (before the guard: TypeError from `list(None)`) says so."""
    from companion.core.checks import exercise_check

    @exercise_check
    def check_fragile(fn):
        return list(fn()) == [1]

    assert check_fragile(lambda: None) is False
    assert "could not read your answer (TypeError" in capsys.readouterr().out
    assert check_fragile(lambda: [1]) is True
