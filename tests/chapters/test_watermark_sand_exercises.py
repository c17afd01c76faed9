"""The watermark sand chapter's exercise checks pass right answers and fail wrong ones, with a hint."""

import math

import numpy as np
from conftest import unfinished

from companion import watermark_sand as ws


def kgw_z(tokens, green, gamma, spread=lambda n, g: math.sqrt(n * g * (1 - g))):
    tokens = np.asarray(tokens)
    hits = green[tokens[:-1], tokens[1:]].sum()
    n = len(tokens) - 1
    return (hits - gamma * n) / spread(n, gamma)


def test_kgw_z_score_check(capsys):
    assert ws.check_kgw_z_score(kgw_z)
    assert not ws.check_kgw_z_score(lambda t, g, gamma: kgw_z(t, g, gamma, spread=lambda n, x: n * x * (1 - x)))
    assert "standard deviation" in capsys.readouterr().out
    assert not ws.check_kgw_z_score(lambda t, g, gamma: kgw_z(t, g, gamma, spread=lambda n, x: math.sqrt(n * x)))
    assert "variance n gamma (1 - gamma)" in capsys.readouterr().out
    assert not ws.check_kgw_z_score(lambda *args: unfinished())
    assert "not implemented" in capsys.readouterr().out


def walk_step(text, propose, quality, original_quality, tolerance, against_current=False, strict=False):
    proposal = propose(text)
    reference = quality(text) if against_current else original_quality
    new = quality(proposal)
    accept = new > reference - tolerance if strict else new >= reference - tolerance
    return proposal if accept else text


def test_walk_step_check(capsys):
    assert ws.check_walk_step(walk_step)
    assert not ws.check_walk_step(lambda *args: walk_step(*args, against_current=True))
    assert not ws.check_walk_step(lambda *args: walk_step(*args, strict=True))
    assert "equality" in capsys.readouterr().out
    assert not ws.check_walk_step(lambda text, propose, *rest: propose(text))
    assert "must be rejected" in capsys.readouterr().out


def test_critical_tolerance_check(capsys):
    def critical(tolerances, rates):
        return next((t for t, r in zip(tolerances, rates) if r >= 0.5), None)

    sweep = {"tolerance": [0.0, 0.1, 0.2], "success_rate": {"kgw": [0.0, 0.4, 0.7], "exp": [0.0, 0.0, 0.1]}}
    assert ws.check_critical_tolerance(critical, sweep)
    assert not ws.check_critical_tolerance(lambda t, r: next((x for x, y in zip(t, r) if y > 0.5), None))
    assert not ws.check_critical_tolerance(lambda t, r: max(x for x, y in zip(t, r) if y < 0.5))
    assert "first tolerance" in capsys.readouterr().out
