"""Statistical induction heads: the runs the chapter needs, and what it concludes from them.

`experiment.py` trains one run; this module plans the chapter's runs (the main run over seeds, the
paper's positional scheme, the prior experiment at the paper's optimiser settings), measures the phases
and the two heads in each, pools them over seeds and writes the report `reproduce` returns. What the
page says about the report is in `page.py`.
"""
from __future__ import annotations

import dataclasses

from companion.core import runtime
from companion.core.cache import Result
from companion.core.config import resolve_scale
from companion.core.stats import mean_interval, verdict
from companion.core.sweeps import run_cached

from .experiment import NAME, SCALES, TRIGRAM, VERSION, Config, config_for, prior_baselines, run

PRIOR_EXPERIMENT = ("dirichlet", "doubly-stochastic")

# The prior experiment as the paper's code runs it: its trainer's optimiser, and every run measured on
# the same Dirichlet test set at even intervals. Kept different: no dropout (our model has none; the
# official model's 0.1 adds noise to training only) and the chapter's k = 3 states.
PAPER_PRIOR_SETTINGS = dict(optimiser="paper", lr=5e-4, weight_decay=0.1, test_prior="dirichlet")

# At lr 5e-4 the Dirichlet runs come halfway from the unigram level to the bigram level after about 900-1,100
# steps (the official code's default run is 2,000): 1,300 steps, evaluated every 50, fit the chapter's budget.
PRIOR_PLAN = {"test": dict(seeds=3, steps=1300, test_size=128, eval_every=50),
              "book": dict(seeds=5, steps=1300, test_size=256, eval_every=50),
              "full": dict(seeds=10, steps=2000, test_size=2048, eval_every=25)}
MAIN_SEEDS = {"test": 2, "book": 3, "full": 5}  # seeds of the chapter's main run


def run_many(configs: list[Config], n_jobs: int = 2) -> list[Result]:
    """Several runs at once, one process per core (each run uses one thread); cached like `run`."""
    return run_cached(run, configs, NAME, VERSION, n_jobs=n_jobs)


def prior_configs(scale: str | None = None, seed: int = 0) -> dict[str, list[Config]]:
    """Per prior, one config per seed, at the paper's optimiser settings, all tested on Dirichlet chains."""
    scale = resolve_scale(scale)
    plan = PRIOR_PLAN[scale]
    settings = {**PAPER_PRIOR_SETTINGS, **{key: plan[key] for key in ("steps", "test_size", "eval_every")}}
    return {prior: [config_for(scale, seed=seed + i, prior=prior, **settings) for i in range(plan["seeds"])]
            for prior in PRIOR_EXPERIMENT}


def main_configs(scale: str | None = None, seed: int = 0) -> list[Config]:
    """The chapter's main run (Dirichlet prior, the chapter's settings), one config per seed."""
    scale = resolve_scale(scale)
    return [config_for(scale, seed=seed + i) for i in range(MAIN_SEEDS[scale])]


def paper_positions_config(scale: str | None = None, seed: int = 0) -> Config:
    """The first main run with the paper's positional scheme (vectors in the query-key product)."""
    return dataclasses.replace(main_configs(scale, seed)[0], positional="relative-vector")


def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict:
    """Every run of the chapter, side by side: `main` (list over seeds), `priors` ({prior: list}) and
    `paper_positions` (the first main run with the paper's positional scheme)."""
    mains = main_configs(scale, seed)
    priors = prior_configs(scale, seed)
    flat = mains + [c for prior in PRIOR_EXPERIMENT for c in priors[prior]] + [paper_positions_config(scale, seed)]
    results = iter(run_many(flat, n_jobs=n_jobs))
    return {"main": [next(results) for _ in mains],  # in `flat`'s order
            "priors": {prior: [next(results) for _ in priors[prior]] for prior in PRIOR_EXPERIMENT},
            "paper_positions": next(results)}


PROFILE_POSITIONS = (1, 10, 40, 99)  # queries at which the previous-token score is reported


def previous_token_profile(result: Result) -> dict:
    """The final layer-1 attention on t - 1: on average over queries, and at the queries in
    PROFILE_POSITIONS (those within the sequence): a head that is sharp early and diluted late shows here."""
    by_position = result.metrics["final_previous_token_by_position"]
    return {"mean": result.metrics["previous_token_score"][-1],
            "at": {str(t): by_position[t - 1] for t in PROFILE_POSITIONS if t <= len(by_position)},
            "final_gap_to_bigram": result.metrics["kl_model"][-1] - result.metrics["baselines"]["bigram"]}


def halfway_step(metrics: dict) -> float | None:
    """The step at which the loss on the test set first comes halfway from the unigram strategy's level
    to the bigram strategy's, interpolated linearly between evaluations; None if it never does."""
    target = (metrics["baselines"]["unigram"] + metrics["baselines"]["bigram"]) / 2
    losses, steps = metrics["kl_model"], metrics["step"]
    for i in range(1, len(losses)):
        if losses[i] <= target < losses[i - 1]:
            return steps[i - 1] + (losses[i - 1] - target) / (losses[i - 1] - losses[i]) * (steps[i] - steps[i - 1])
    return None


def paired_steps(dirichlet: list, doubly_stochastic: list, horizon: int) -> dict:
    """Paired by seed: the Dirichlet run's step minus its doubly stochastic twin's, with a 95% interval
    and a verdict on whether the doubly stochastic run came "earlier" or "later".

    A run that never got there within `horizon` steps is censored: it counts as `horizon`, which can only
    understate how late it was. So a verdict stands only where the censoring cannot have produced it: a
    censored doubly stochastic run makes the differences too large, so "later" stays valid and "earlier"
    does not; a censored Dirichlet run, the other way round.
    """
    pairs = [(d, s) for d, s in zip(dirichlet, doubly_stochastic) if not (d is None and s is None)]
    differences = [(horizon if d is None else d) - (horizon if s is None else s) for d, s in pairs]
    censored = {"dirichlet": sum(d is None for d, _ in pairs), "doubly-stochastic": sum(s is None for _, s in pairs)}
    if len(differences) < 2:
        return {"paired_difference": None, "pairs": len(differences), "censored": censored, "verdict": "not separated"}
    interval = mean_interval(differences)
    found = verdict(interval, 0.0, "earlier", "later")
    if (found == "earlier" and censored["doubly-stochastic"]) or (found == "later" and censored["dirichlet"]):
        found = "not separated"
    return {"paired_difference": interval, "pairs": len(differences), "censored": censored, "verdict": found}


def prior_comparison(priors: dict[str, list[Result]]) -> dict:
    """Does removing the unigram signal make the transition come earlier or later? Two measures, both on
    the shared Dirichlet test set and paired by seed: the step at which the loss comes halfway from the
    unigram strategy's level to the bigram strategy's (`halfway_step`), and the step from which the model
    stays closer to the bigram strategy's predictions than to the unigram strategy's (`transition_step`)."""
    config = priors["dirichlet"][0].metrics["config"]
    horizon = config["steps"]
    halfway = {prior: [halfway_step(r.metrics) for r in runs] for prior, runs in priors.items()}
    transition = {prior: [r.metrics["transition_step"] for r in runs] for prior, runs in priors.items()}
    settings = {key: config[key] for key in ("optimiser", "lr", "weight_decay", "eval_every", "test_prior", "steps",
                                             "k", "batch_size")}
    by_halfway = paired_steps(halfway["dirichlet"], halfway["doubly-stochastic"], horizon)
    return {"settings": settings, "seeds": [r.metrics["config"]["seed"] for r in priors["dirichlet"]],
            "halfway_step": halfway, **by_halfway,
            "transition_step": transition,
            "by_transition": paired_steps(transition["dirichlet"], transition["doubly-stochastic"], horizon),
            "final_loss": {prior: [r.metrics["kl_model"][-1] for r in runs] for prior, runs in priors.items()},
            "final_induction_score": {prior: [r.metrics["induction_score"][-1] for r in runs]
                                      for prior, runs in priors.items()}}


def head_rise(values: list[float], steps: list[int]) -> list[int | None]:
    """The first evaluated steps at which a score has covered 25% and 75% of its rise from its first
    value to its last (None where it never rises)."""
    start, end = values[0], values[-1]
    if end <= start:
        return [None, None]
    return [next(s for s, v in zip(steps, values) if v >= start + share * (end - start)) for share in (0.25, 0.75)]


def main_run_summary(result: Result) -> dict:
    m = result.metrics
    return {"seed": m["config"]["seed"], "final_gap_to_bigram": m["kl_model"][-1] - m["baselines"]["bigram"],
            "final_previous_token_score": m["previous_token_score"][-1],
            "final_induction_score": m["induction_score"][-1],
            "head_rise": {"layer1": head_rise(m["previous_token_score"], m["step"]),
                          "layer2": head_rise(m["induction_score"], m["step"])},
            "phases": phase_checks(m)}


def formation_order(summaries: list[dict]) -> dict:
    """In how many seeds each head covered 25% (and 75%) of its rise first."""
    def count(index):
        pairs = [(s["head_rise"]["layer1"][index], s["head_rise"]["layer2"][index]) for s in summaries]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        return {"layer1_first": sum(a < b for a, b in pairs), "layer2_first": sum(b < a for a, b in pairs),
                "together": sum(a == b for a, b in pairs), "seeds": len(pairs)}
    return {"quarter": count(0), "three_quarters": count(1)}


def phase_checks(metrics: dict) -> dict:
    """The three phases, measured: a unigram plateau, then a bigram solution, then convergence.

    - plateau: some checkpoint with KL(true||model) within 0.02 of the unigram baseline while the
      model is much closer to the unigram strategy than to the bigram one (ratio below 0.3);
    - transition: later, the model is closer to the bigram strategy than to the unigram one;
    - converged: the final KL(true||model) is within 0.03 of the bigram baseline.
    """
    unigram, bigram = metrics["baselines"]["unigram"], metrics["baselines"]["bigram"]
    plateau = [
        i for i, (m, u, b) in enumerate(zip(metrics["kl_model"], metrics["kl_to_unigram"], metrics["kl_to_bigram"]))
        if abs(m - unigram) <= 0.02 and u < 0.3 * b
    ]
    later = [
        i for i, (u, b) in enumerate(zip(metrics["kl_to_unigram"], metrics["kl_to_bigram"]))
        if plateau and i > plateau[0] and b < u
    ]
    return {
        "plateau_steps": [metrics["step"][i] for i in plateau],
        "bigram_after_plateau": bool(later),
        "final_gap_to_bigram": metrics["kl_model"][-1] - bigram,
        "converged": metrics["kl_model"][-1] <= bigram + 0.03,
    }


def trigram_run(scale: str | None = None, seed: int = 0) -> Result | None:
    """The trigram extension, trained at full scale only (it takes several minutes)."""
    scale = resolve_scale(scale)
    return run(config_for(scale, seed=seed, **TRIGRAM)) if scale == "full" else None


def reproducibility_card(result: Result) -> dict:
    """Config, seed, machine, software and the measured wall time of a run."""
    changes = runtime.scale_changes(SCALES["book"], SCALES["full"])
    return runtime.reproducibility_card(NAME, VERSION, result, full_scale_changes=changes | {"trigram_run": TRIGRAM})


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce induction-heads` writes to induction-heads.json: the first
    seed's main run (curves, baselines, phases), every main seed's summary, and the prior experiment at
    the paper's optimiser settings over seeds."""
    scale = resolve_scale(scale)
    found = experiments(scale, seed)
    main = found["main"][0].metrics
    summaries = [main_run_summary(r) for r in found["main"]]
    report = {
        "topic": NAME,
        "scale": scale,
        "seed": seed,
        "config": main["config"],
        "steps": main["step"],
        "kl_model": main["kl_model"],
        "kl_to_unigram": main["kl_to_unigram"],
        "kl_to_bigram": main["kl_to_bigram"],
        "previous_token_score": main["previous_token_score"],
        "induction_score": main["induction_score"],
        "baselines": {name: main["baselines"][name] for name in ("uniform", "unigram", "bigram")},
        "transition_step": main["transition_step"],
        "phases": phase_checks(main),
        "main_runs": summaries,
        "formation_order": formation_order(summaries),
        "prior_experiment": prior_comparison(found["priors"]),
        "doubly_stochastic_baselines": prior_baselines("doubly-stochastic", scale, seed),
        "positional_schemes": {"relative": previous_token_profile(found["main"][0]),
                               "relative-vector": previous_token_profile(found["paper_positions"])},
    }
    if scale == "full":
        trigram = trigram_run(scale, seed).metrics
        report["trigram"] = {key: trigram[key] for key in
                             ("step", "kl_model", "kl_to_unigram", "kl_to_bigram", "kl_to_trigram", "baselines")}
    return report
