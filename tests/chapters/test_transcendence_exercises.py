"""The transcendence chapter's exercise checks pass right answers and fail wrong ones, with a hint."""

import math

import numpy as np
from conftest import unfinished

from companion import transcendence as tr


def temperature_scale(p, tau, power=None):
    with np.errstate(divide="ignore"):
        logits = np.log(p) * (tau if power == "multiply" else 1 / tau)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


def test_temperature_scale_check(capsys):
    assert tr.check_temperature_scale(temperature_scale)
    assert not tr.check_temperature_scale(lambda p, tau: temperature_scale(p, tau, power="multiply"))
    assert "you multiplied" in capsys.readouterr().out
    assert not tr.check_temperature_scale(lambda p, tau: p ** (1 / tau))
    assert "normalise" in capsys.readouterr().out
    assert not tr.check_temperature_scale(lambda p, tau: unfinished())
    assert "not implemented" in capsys.readouterr().out


def vote_reward(policies, reward):
    mixture = policies.mean(0)
    top = np.isclose(mixture, mixture.max(-1, keepdims=True))
    return float(((top / top.sum(-1, keepdims=True)) * reward).sum(-1).mean())


def test_vote_reward_check(capsys):
    assert tr.check_vote_reward(vote_reward)
    assert not tr.check_vote_reward(lambda pol, r: float((pol.mean(0) * r).sum(-1).mean()))
    assert "experts' average" in capsys.readouterr().out
    assert not tr.check_vote_reward(lambda pol, r: max(float((p * r).sum(-1).mean()) for p in pol))
    assert "best expert" in capsys.readouterr().out
    first_only = lambda pol, r: float(r[np.arange(len(r)), pol.mean(0).argmax(-1)].mean())  # noqa: E731
    assert not tr.check_vote_reward(first_only)  # ties must be shared


def elo_rating(opponents, scores, base=10.0):
    from scipy.optimize import brentq

    return brentq(lambda r: np.sum(scores - 1 / (1 + base ** ((opponents - r) / 400))), -5000, 5000)


def test_elo_rating_check(capsys):
    assert tr.check_elo_rating(elo_rating)
    assert not tr.check_elo_rating(lambda o, s: elo_rating(o, s, base=math.e))
    assert "base 10" in capsys.readouterr().out
    assert not tr.check_elo_rating(lambda o, s: float(np.mean(o)))
    assert "expected score" in capsys.readouterr().out
