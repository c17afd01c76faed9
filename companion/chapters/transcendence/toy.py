"""The exact toy world of the transcendence chapter: temperature, experts written down as
distributions, and every reward an exact expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from companion.core.config import check_choice, check_float, check_int

DIVERSITY = ("diverse", "shared")


# ----------------------------------------------------------------------------- temperature

def temperature_scale(probabilities: np.ndarray, tau: float) -> np.ndarray:
    """softmax(log p / tau) along the last axis; tau -> 0 puts all mass on the argmax (ties shared),
    tau = 1 returns p, and zero-probability actions stay at zero."""
    check_float("tau", tau, 0, None, low_inclusive=True)
    p = np.asarray(probabilities, dtype=float)
    if tau == 0:
        top = p == p.max(-1, keepdims=True)
        return top / top.sum(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        logits = np.log(p) / tau
    logits = logits - logits.max(-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(-1, keepdims=True)


# ----------------------------------------------------------------------------- the toy world

@dataclass(frozen=True)
class ToyConfig:
    """`states` equally likely states, `actions` actions, action 0 the right one everywhere (reward 1,
    every other action 0). Each of the `experts` plays the right action with probability 1 - noise and
    otherwise a uniformly random wrong one, except on its *error region*, a share `error_share` of the
    states where it prefers one particular wrong action with probability `error_strength`. With
    `diversity` "diverse" the experts' error regions are disjoint; with "shared" they are one and the
    same region, and the same wrong action."""

    states: int = 120
    actions: int = 5
    experts: int = 3
    noise: float = 0.2
    error_share: float = 0.3
    error_strength: float = 0.7
    diversity: str = "diverse"

    def __post_init__(self):
        check_int("states", self.states, 1, 10**6)
        check_int("actions", self.actions, 2, 1000)
        check_int("experts", self.experts, 1, 100)
        check_float("noise", self.noise, 0, 1)
        check_float("error_share", self.error_share, 0, 1)
        check_float("error_strength", self.error_strength, 0, 1)
        check_choice("diversity", self.diversity, DIVERSITY)
        if self.diversity == "diverse" and self.experts * self.error_share > 1 + 1e-9:
            raise ValueError(f"with diversity='diverse' the error regions must fit side by side: experts * "
                             f"error_share must be at most 1, got {self.experts} * {self.error_share}")


def error_regions(config: ToyConfig) -> np.ndarray:
    """(experts, states) booleans: where each expert has its systematic error."""
    size = round(config.error_share * config.states)
    regions = np.zeros((config.experts, config.states), dtype=bool)
    for i in range(config.experts):
        start = i * size if config.diversity == "diverse" else 0
        regions[i, start:start + size] = True
    return regions


def expert_policies(config: ToyConfig) -> np.ndarray:
    """(experts, states, actions): each expert's distribution over actions in each state."""
    A = config.actions
    good = np.full(A, config.noise / (A - 1))
    good[0] = 1 - config.noise
    bad = np.full(A, (1 - config.error_strength) / (A - 1))
    bad[1] = config.error_strength  # the systematic mistake: wrong action 1
    regions = error_regions(config)
    return np.where(regions[..., None], bad, good)


def rewards(config: ToyConfig) -> np.ndarray:
    """(states, actions): 1 for the right action, 0 otherwise."""
    r = np.zeros((config.states, config.actions))
    r[:, 0] = 1.0
    return r


def expected_reward(policy: np.ndarray, reward: np.ndarray) -> float:
    """E_s sum_a pi(a | s) r(s, a), the states equally likely: exact, no sampling."""
    return float((policy * reward).sum(-1).mean())


def toy_summary(config: ToyConfig, taus=(1.0, 0.5, 0.25, 0.1, 0.01, 0.001)) -> dict:
    """The experts' rewards, the mixture a cross-entropy learner converges to, and its reward at each
    temperature; `gain` is the reward at the smallest tau minus the best expert's."""
    experts = expert_policies(config)
    reward = rewards(config)
    mixture = experts.mean(0)
    expert_rewards = [expected_reward(p, reward) for p in experts]
    model = {tau: expected_reward(temperature_scale(mixture, tau), reward) for tau in taus}
    vote = expected_reward(temperature_scale(mixture, 0.0), reward)
    return {"expert_rewards": expert_rewards, "expert_average": float(np.mean(expert_rewards)),
            "model_reward": model, "argmax_reward": vote, "gain": model[min(taus)] - max(expert_rewards)}


# The chapter's three toy scenarios. The two diversity scenarios have no random noise, so the only
# thing a vote can fix is the systematic errors; the single expert has nothing but random noise.
TOY_SCENARIOS = {
    "one noisy expert": ToyConfig(experts=1, noise=0.4, error_share=0.0),
    "diverse": ToyConfig(experts=3, noise=0.0, error_share=0.3, diversity="diverse"),
    "shared": ToyConfig(experts=3, noise=0.0, error_share=0.3, diversity="shared"),
}


def toy_results() -> dict:
    """Every toy scenario's summary, and the two gains `reproduce` reports."""
    found = {name: toy_summary(config) for name, config in TOY_SCENARIOS.items()}
    return {"scenarios": found, "diverse_gain": found["diverse"]["gain"], "shared_gain": found["shared"]["gain"]}


