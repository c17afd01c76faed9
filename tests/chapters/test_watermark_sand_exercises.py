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


def erased_quality_kept(detected, after, original, slack, strict=False, per_text=False):
    kept = [not d and (a < o + slack if strict else a <= o + slack) for d, a, o in zip(detected, after, original)]
    return sum(kept) if per_text else sum(kept) / len(kept)


def test_erased_quality_kept_check(capsys):
    assert ws.check_erased_quality_kept(erased_quality_kept)
    assert not ws.check_erased_quality_kept(lambda *args: erased_quality_kept(*args, strict=True))
    assert "use <=" in capsys.readouterr().out
    assert not ws.check_erased_quality_kept(lambda *args: erased_quality_kept(*args, per_text=True))
    assert "not a count" in capsys.readouterr().out
    assert not ws.check_erased_quality_kept(lambda d, a, o, s: sum(not x for x in d) / len(d))
    assert "whose quality was kept" in capsys.readouterr().out
    assert not ws.check_erased_quality_kept(lambda d, a, o, s: erased_quality_kept([False] * len(d), a, o, s))
    assert "still flags" in capsys.readouterr().out
    assert not ws.check_erased_quality_kept(lambda *args: unfinished())
    assert "not implemented" in capsys.readouterr().out


def test_erased_quality_kept_check_on_the_measured_attacks():
    result = ws.run(ws.config_for("test", 0))
    cases = ws.measured_cases(result)
    assert len(cases) == 3 * (2 * len(result.metrics["attackers"]) + 1)
    walk = result.metrics["schemes"]["kgw"]["attackers"][result.metrics["attackers"][0]]["walk"]
    assert erased_quality_kept(*cases[0]) == walk["erased_quality_kept"]
    assert ws.check_erased_quality_kept(erased_quality_kept, result)
