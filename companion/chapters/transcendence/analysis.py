"""Transcendence: the runs the chapter needs, and what it concludes from them.

`experiment.py` evaluates one trained model at every temperature, plays its games out and trains the
controls; this module trains the main model and its controls two at a time, turns their rewards into
paired intervals (the gain over the best expert, the gain from cooling, the controls against the main
run) and writes the report `reproduce` returns. What the page says about the report is in `page.py`.
"""

from __future__ import annotations

import numpy as np

from companion.core.cache import Result
from companion.core.config import resolve_scale
from companion.core.sweeps import sweep

from .experiment import Ablation, _train_in_worker, ablation_run, ablations, chess_config, played_out, run
from .ladder import (
    paired_interval,
    position_rewards,
)
from .policy import (
    NAME,
    config_for,
    make_experts,
)
from .toy import toy_results


def reward_summary(expert: np.ndarray, model: np.ndarray, taus: list, tau_star: float) -> dict:
    """Mean rewards, and the paired intervals the claims are about, from (experts, positions) and
    (temperatures, positions) arrays of expected rewards."""
    star, one = model[taus.index(tau_star)], model[taus.index(1.0)]
    best = int(expert.mean(1).argmax())
    return {"model_reward": {str(tau): float(model[t].mean()) for t, tau in enumerate(taus)},
            "expert_reward": [float(r) for r in expert.mean(1)],
            "expert_average_reward": float(expert.mean()),
            "best_expert_reward": float(expert[best].mean()),
            "reward_gain_ci": paired_interval(star - expert[best]),
            "temperature_one_vs_average_ci": paired_interval(one - expert.mean(0))}


GAIN_BINS = np.linspace(-2, 10, 25)  # pawns: the per-position gain from cooling, as a histogram

def gain_histogram(gain: np.ndarray) -> dict:
    """Counts of the per-position reward change from tau = 1 to tau*, in GAIN_BINS (the outer bins take
    everything beyond them), as the paper draws the distribution over states."""
    counts, edges = np.histogram(np.clip(gain, GAIN_BINS[0], GAIN_BINS[-1]), bins=GAIN_BINS)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def summary(result: Result) -> dict:
    """The chapter's numbers from one run: rewards, their paired intervals, ratings, where the gain lies."""
    config = chess_config(result)
    taus = list(config.temperatures)
    arrays = {name: value.numpy() for name, value in result.arrays.items()}
    ratings = result.metrics["ratings"]
    gain = gains_over_temperature_one(result)
    order = np.sort(gain)[::-1]
    top_tenth = max(1, len(gain) // 10)
    games = result.metrics["games"]
    rewards = reward_summary(arrays["expert"], arrays["model"], taus, config.tau_star)
    report = {
        "temperatures": taus,
        "tau_star": config.tau_star,
        "judge": "two-ply material count",
        "expert_error_rates": list(config.error_rates),
        **rewards,
        "gain_over_best_ci": rewards["reward_gain_ci"],
        "cooling_gain_ci": paired_interval(gain),
        "reference_probability": float(arrays["reference_probability"].mean()),
        "mixture_reference_probability": float(arrays["mixture_reference_probability"].mean()),
        "tv_to_mixture": float(arrays["tv_to_mixture"].mean()),
        "model_rating": {str(tau): ratings[f"model, tau = {tau:g}"] for tau in taus},
        "expert_ratings": [ratings[e.name] for e in make_experts(config)],
        "ladder_ratings": {name: ratings[name] for name in result.metrics["rungs"]},
        "glicko": result.metrics["glicko"],
        "illegal_move_rate": float(arrays["illegal_top_move"].mean()),
        "gain_share_top_tenth": float(order[:top_tenth].sum() / gain.sum()),
        "positions_with_gain": float((gain > 0.01).mean()),
        "gain_histogram": gain_histogram(gain),
        "mean_game_plies": float(np.mean([len(g["moves"]) for g in games])),
        "resigned_share": float(np.mean([g["termination"] == "resigned" for g in games])),
        "positions": int(len(gain)),
        "reference_agreement": result.metrics["training"]["history"]["reference_agreement"][-1],
        "stockfish": None,
        "toy": {k: v for k, v in toy_results().items() if k != "scenarios"},
    }
    if config.stockfish:
        report["stockfish"] = reward_summary(arrays["stockfish_expert"], arrays["stockfish_model"], taus,
                                             config.tau_star)
    return report


def train_models(scale: str | None = None, seed: int = 0) -> None:
    """The main run's model and its controls' models, with their games, trained two at a time before any of
    them is scored: trained first on its own, the main model would leave one core idle."""
    main = config_for(scale, seed)
    models = [main, *(ablation.model for ablation in ablations(main).values())]
    sweep(_train_in_worker, [dict(config=config) for config in models], n_jobs=2)


def _train_and_score(config: Ablation) -> None:
    ablation_run(config)  # in a worker: the result reaches the parent through the cache


def ablation_summary(config: Ablation, result: Result) -> dict:
    """An ablation's rewards as `reward_summary` gives them, with its model's probability of the
    reference's move and distance to the experts' mixture at tau = 1."""
    arrays = {name: value.numpy() for name, value in result.arrays.items()}
    taus = list(config.model.temperatures)
    found = reward_summary(arrays["expert"], arrays["model"], taus, config.model.tau_star)
    one, star = arrays["model"][taus.index(1.0)], arrays["model"][taus.index(config.model.tau_star)]
    return {**found, "gain_ci": found["reward_gain_ci"], "expert_error_rates": list(config.model.error_rates),
            "cooling_gain_ci": paired_interval(star - one),
            "reference_probability": float(arrays["reference_probability"].mean()),
            "tv_to_mixture": float(arrays["tv_to_mixture"].mean())}


def ablation_results(scale: str | None = None, seed: int = 0) -> dict[str, dict]:
    """Every ablation of the scale's main run, trained two at a time, summarised by name. The two scored
    on the main run's positions (the single expert and the random experts) also get their tau* reward
    against the main model's (`star_vs_committee_ci`) and the best expert's (`star_vs_best_expert_ci`),
    paired position by position."""
    main = config_for(scale, seed)
    found = ablations(main)
    position_rewards(main)  # judged here, once, before the workers score three controls on these positions
    sweep(_train_and_score, [dict(config=config) for config in found.values()], n_jobs=2)
    results = {name: ablation_run(config) for name, config in found.items()}  # from the cache the sweep filled
    report = {name: ablation_summary(found[name], result) for name, result in results.items()}
    taus = list(main.temperatures)
    main_arrays = run(main).arrays
    committee = main_arrays["model"].numpy()[taus.index(main.tau_star)]
    experts = main_arrays["expert"].numpy()
    best = experts[experts.mean(1).argmax()]
    for name in ("single_expert", "random_experts"):
        star = results[name].arrays["model"].numpy()[taus.index(main.tau_star)]
        report[name]["star_vs_committee_ci"] = paired_interval(star - committee)
        report[name]["star_vs_best_expert_ci"] = paired_interval(star - best)
    return report


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce transcendence` writes to transcendence.json: the main run's
    summary, and its ablations (`single_expert`, `no_head`, and `diversity` with the blind-spot
    committees' gains)."""
    scale = resolve_scale(scale)
    train_models(scale, seed)
    result = run(config_for(scale, seed))
    report = {"topic": NAME, "scale": scale, "seed": seed, **summary(result)}
    training = result.metrics["training"]
    report["config"] = result.metrics["config"]
    report["training"] = {key: training[key] for key in ("games", "examples", "mean_game_plies", "parameters",
                                                         "expert_reference_agreement")}
    toy = toy_results()["scenarios"]
    report["toy_scenarios"] = {name: {"best_expert": max(found["expert_rewards"]), "vote": found["argmax_reward"],
                                      "temperature_one": found["model_reward"][1.0]} for name, found in toy.items()}
    report["no_resign"] = played_out(config_for(scale, seed))
    found = ablation_results(scale, seed)
    report["single_expert"] = found["single_expert"]
    report["no_head"] = found.get("no_head")
    report["random_experts"] = found["random_experts"]
    report["diversity"] = {"diverse_gain_ci": found["diverse"]["gain_ci"], "shared_gain_ci": found["shared"]["gain_ci"],
                           "diverse": found["diverse"], "shared": found["shared"]}
    return report


def gains_over_temperature_one(result: Result) -> np.ndarray:
    """Per held-out position: the model's expected reward at tau* minus at tau = 1."""
    config = chess_config(result)
    model = result.arrays["model"].numpy()
    taus = list(config.temperatures)
    return model[taus.index(config.tau_star)] - model[taus.index(1.0)]
