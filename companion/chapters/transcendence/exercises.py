"""Exercise checks of the chapter on transcendence. Each runs the student's answer against the
reference and prints what is right or a hint about the likeliest mistake.
"""

from __future__ import annotations

import math

import numpy as np

from companion.core.checks import attempt, call, exercise_check, report, within

from .experiment import chess_config
from .toy import ToyConfig, expected_reward, expert_policies, rewards, temperature_scale


@exercise_check
def check_temperature_scale(fn) -> bool:
    """fn(p, tau) -> softmax(log p / tau) along the last axis, for tau > 0 (zero-probability actions stay 0)."""
    rng = np.random.default_rng(0)
    checked = 0
    for tau in (1.0, 0.5, 0.1, 0.01, 2.0):
        for _ in range(3):
            p = rng.dirichlet(np.full(6, 0.7), size=4)
            p[0, 2] = 0.0
            p /= p.sum(1, keepdims=True)
            want = temperature_scale(p, tau)
            got, problem = call(fn, p.copy(), tau, not_finite_hint=(
                "your distribution contains NaN: log 0 = -inf, so subtract each row's maximum before "
                "exponentiating, and keep zero-probability actions at zero."))
            if problem:
                return report(False, problem)
            checked += 1
            if got.shape != want.shape or not np.allclose(got, want, atol=1e-8):
                if got.shape == want.shape and np.allclose(got, temperature_scale(p, 1 / tau), atol=1e-8):
                    hint = "divide the log-probabilities by tau (a small tau sharpens); you multiplied."
                elif got.shape == want.shape and not np.allclose(got.sum(-1), 1):
                    hint = "normalise each row so it sums to one."
                else:
                    hint = "compute p ** (1 / tau) row by row and divide by its sum (softmax of log p / tau)."
                return report(False, f"at tau = {tau} your distribution differs from softmax(log p / tau). {hint}")
    return report(True, f"right on {checked} distributions at five temperatures, including a zero entry.")


@exercise_check
def check_vote_reward(fn) -> bool:
    """fn(policies, reward) -> the exact reward of the experts' vote: the argmax of their mixture in each
    state (ties shared equally), states equally likely. policies: (experts, states, actions); reward:
    (states, actions)."""
    rng = np.random.default_rng(1)
    configs = [ToyConfig(experts=3, noise=0.0, error_share=0.3), ToyConfig(experts=3, noise=0.0, error_share=0.3,
                                                                           diversity="shared"),
               ToyConfig(experts=1, noise=0.4, error_share=0.0), ToyConfig(experts=2, noise=0.3, error_share=0.4)]
    cases = []
    for _ in range(3):  # made-up experts and rewards, with ties, and then the toy scenarios
        policies = rng.dirichlet(np.ones(4), size=(3, 10))
        policies[:, 0] = [[0.5, 0.5, 0, 0]] * 3
        cases.append((policies, rng.random((10, 4))))
    cases += [(expert_policies(c), rewards(c)) for c in configs]
    for policies, reward in cases:
        mixture = policies.mean(0)
        want = expected_reward(temperature_scale(mixture, 0.0), reward)
        got, problem = attempt(fn, policies.copy(), reward.copy(), convert=float)
        if problem:
            return report(False, problem)
        if not within(got, want, 1e-9):
            if abs(got - expected_reward(mixture, reward)) < 1e-9:
                hint = "that is the mixture's reward at tau = 1 (the experts' average); the vote plays the argmax."
            elif abs(got - max(expected_reward(p, reward) for p in policies)) < 1e-9:
                hint = "that is the best expert's reward; the vote follows the mixture's argmax in every state."
            else:
                hint = ("average the experts' policies, put all the mass on each state's most likely actions "
                        "(shared equally on ties), and average the reward over states.")
            return report(False, f"expected {want:.4f}, got {got:.4f}. {hint}")
    return report(True, f"right on {len(cases)} worlds, the chapter's toy scenarios among them.")


def _elo_reference(opponents: np.ndarray, scores: np.ndarray) -> float:
    # scipy is imported here, not at the top: only the runs that use it pay its second of loading
    from scipy.optimize import brentq

    def excess(r):
        return float(np.sum(scores - 1 / (1 + 10 ** ((opponents - r) / 400))))
    return brentq(excess, -5000, 5000)


@exercise_check
def check_elo_rating(fn, result=None) -> bool:
    """fn(opponent_ratings, scores) -> the maximum-likelihood Elo rating of a player who scored
    `scores[i]` (1, 0.5 or 0) against an opponent rated `opponent_ratings[i]`."""
    rng = np.random.default_rng(2)
    cases = []
    for _ in range(6):
        opponents = rng.normal(500, 250, size=40)
        true = rng.normal(500, 200)
        expected = 1 / (1 + 10 ** ((opponents - true) / 400))
        scores = (rng.random(40) < expected).astype(float)
        scores[rng.random(40) < 0.1] = 0.5
        if 0 < scores.sum() < len(scores):
            cases.append((opponents, scores))
    for opponents, scores in cases:
        want = _elo_reference(opponents, scores)
        got, problem = attempt(fn, opponents.copy(), scores.copy(), convert=float)
        if problem:
            return report(False, problem)
        if not within(got, want, 0.5):
            natural = _elo_reference(opponents / math.log(10), scores) * math.log(10)
            if abs(got - natural) < 1.0:
                hint = "Elo's curve is 1 / (1 + 10 ** (difference / 400)), base 10, not e."
            else:
                hint = ("the likelihood is largest where the player's total score equals its expected score, "
                        "sum_i 1 / (1 + 10 ** ((r_i - R) / 400)); solve for R (scipy.optimize.brentq).")
            return report(False, f"expected a rating of {want:.1f}, got {got:.1f}. {hint}")
    message = f"right on {len(cases)} made-up players."
    if result is not None:
        config = chess_config(result)
        rungs = result.metrics["ratings"]
        name = f"model, tau = {config.tau_star:g}"
        games = [g for g in result.metrics["games"] if name in (g["white"], g["black"])]
        opponents = np.array([rungs[g["black"] if g["white"] == name else g["white"]][0] for g in games])
        scores = np.array([g["score"] if g["white"] == name else 1 - g["score"] for g in games])
        got, problem = attempt(fn, opponents, scores, convert=float)
        if problem is None:
            message += (f" Against the ladder's fitted ratings, your function rates the model at tau* "
                        f"{got:.0f}; the joint fit gave {rungs[name][0]:.0f}.")
    return report(True, message)


