"""Margin features: the runs the chapter needs, and what it concludes from them.

`experiment.py` trains one network and measures its features and margin; this module plans the chapter's
runs (each task, the theory's runs over seeds, S4 at several penalties and continued), compares each
with the theory and the explicit networks of `certificates.py`, and writes the report `reproduce`
returns. What the page says about the report is in `page.py`.
"""
from __future__ import annotations

import numpy as np

from companion.core import runtime
from companion.core.cache import Result
from companion.core.config import resolve_scale
from companion.core.stats import mean_interval

from .experiment import (
    GROUP_DEGREES,
    NAME,
    SCALES,
    SINGLE,
    VERSION,
    Config,
    accuracy,
    config_for,
    frequency_norm_shares,
    group_top_shares,
    make_task,
    margin_theory,
    modular_features,
    modular_margin_theory,
    normalised_margin,
    parity_balance,
    phase_errors,
    representation_norm_shares,
    run_many,
    theory_norm_shares,
    weights_at,
)
from .explicit_networks import certified_margin, lookup_table_network

RUNS = ("modular-addition", "relu", "sparse-parity", "S3", "S4", "S4-continued")
SEEDED_RUNS = ("modular-addition", "sparse-parity", "S3", "S4")  # the theory's runs, repeated over seeds
SEEDS = {"test": 3, "book": 5, "full": 5}


def runs_for(scale: str | None) -> tuple[str, ...]:
    """The scale's runs: RUNS, and S5 where the scale has it (full)."""
    return RUNS + (("S5",) if "S5" in SCALES[resolve_scale(scale)] else ())


def penalty_configs(scale: str | None = None, seed: int = 0) -> list[Config]:
    """S4 with larger penalties than the main run's: the theory's margin is the limit as lambda -> 0."""
    return [config_for(scale, "S4", seed, regularisation=value) for value in SCALES[resolve_scale(scale)]["penalties"]]


def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict:
    scale = resolve_scale(scale)
    names = runs_for(scale)
    others = [seed + i for i in range(1, SEEDS[scale])]
    configs = ([config_for(scale, name, seed) for name in names] + penalty_configs(scale, seed)
               + [config_for(scale, name, other) for name in SEEDED_RUNS for other in others])
    results = run_many(configs, n_jobs=n_jobs)
    found = dict(zip(names, results))
    penalties = results[len(names):len(names) + len(penalty_configs(scale, seed))]
    repeats = iter(results[len(names) + len(penalties):])
    found["seeds"] = {name: [found[name]] + [next(repeats) for _ in others] for name in SEEDED_RUNS}
    by_penalty = penalties + [found["S4"]]
    found["penalties"] = sorted(by_penalty, key=lambda r: -r.metrics["config"]["regularisation"])
    return found


def story_points(result: Result) -> dict:
    """When training became perfectly accurate, and when the features formed, with the margin then."""
    m = result.metrics
    theory = m["margin_theory"]

    def at(index: int | None) -> dict | None:
        if index is None:
            return None
        return {"step": m["step"][index], "feature_share": m["feature_share"][index],
                "margin_ratio": m["margin"][index] / theory if theory else None, "accuracy": m["accuracy"][index]}

    accurate = next((i for i, a in enumerate(m["accuracy"]) if a == 1.0), None)
    formed = next((i for i, share in enumerate(m["feature_share"]) if share >= SINGLE), None)
    return {"first_perfect_accuracy": at(accurate), "features_formed": at(formed), "end": at(len(m["step"]) - 1)}


def lookup_table_summary(p: int) -> dict:
    """The one-neuron-per-pair network: perfect accuracy, a far smaller normalised margin."""
    task = make_task(Config(p=p))
    weights = lookup_table_network(p)
    margin = normalised_margin(weights, task["x"], task["y"], "x^2", 3)
    return {"width": p * p, "accuracy": accuracy(weights, task["x"], task["y"], "x^2"), "margin": margin,
            "margin_theory": modular_margin_theory(p), "margin_ratio": margin / modular_margin_theory(p),
            **{key: modular_features(weights, p)[key] for key in ("frac_single_freq", "mean_top_share")}}


def _final(result: Result) -> dict:
    m = result.metrics
    return {"accuracy": m["accuracy"][-1], "margin": m["margin"][-1], "margin_theory": m["margin_theory"],
            "margin_ratio": m["margin_ratio"]}


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce margin-features` writes to margin-features.json."""
    scale = resolve_scale(scale)
    found = experiments(scale, seed)
    modular, relu = found["modular-addition"], found["relu"]
    p = modular.metrics["config"]["p"]
    errors = phase_errors(weights_at(modular), p).abs()
    shares = frequency_norm_shares(weights_at(modular), p)
    report = {
        "topic": NAME,
        "scale": scale,
        "seed": seed,
        "modular_addition": {
            "p": p, "width": modular.metrics["config"]["width"], **modular.metrics["features"], **_final(modular),
            "phase_error_median": float(errors.median()), "phase_error_max": float(errors.max()),
            "frequency_norm_shares": shares, "frequency_norm_spread": (max(shares) - min(shares)) / np.mean(shares),
            "story": {"steps": modular.metrics["step"], "margin": modular.metrics["margin"],
                      "frac_single_freq": modular.metrics["feature_share"], **story_points(modular)},
        },
        "relu": {**relu.metrics["features"], "accuracy": relu.metrics["accuracy"][-1],
                 "margin_l22": relu.metrics["margin"][-1], **relu_phase_errors(relu)},
        "lookup_table": lookup_table_summary(p),
    }
    parity_run = found["sparse-parity"].metrics
    support = found["sparse-parity"].arrays["support"]
    report["parity"] = {"n": parity_run["config"]["n"], "k": parity_run["config"]["k"], "support": support.tolist(),
                        **parity_run["features"], **_final(found["sparse-parity"]),
                        "balance": parity_balance(weights_at(found["sparse-parity"]), support)}
    report["groups"] = {name: group_report(found[name]) for name in ("S3", "S4", "S5") if name in found}
    continued = found["S4-continued"]
    before = continued.metrics["step"].index(continued.metrics["config"]["steps"])
    report["groups"]["S4"].update({
        "margin_ratio_before_continuation": report["groups"]["S4"]["margin_ratio"],
        "norm_shares_before_continuation": report["groups"]["S4"]["norm_shares"],
        "continuation": {key: continued.metrics["config"][key] for key in ("then_steps", "then_regularisation")},
        "margin_ratio": continued.metrics["margin_ratio"],
        "norm_shares": representation_norm_shares(weights_at(continued), GROUP_DEGREES["S4"]),
        "continued_run_at_switch": continued.metrics["margin"][before] / continued.metrics["margin_theory"],
    })
    report["certificates"] = certificates(found)
    report["seeds"] = seed_report(found["seeds"])
    report["penalty_sweep"] = [{"regularisation": r.metrics["config"]["regularisation"], **_final(r),
                                "frac_single_irrep": r.metrics["features"]["frac_single_irrep"]}
                               for r in found["penalties"]]
    report["configs"] = {name: found[name].metrics["config"] for name in runs_for(scale)}
    return report


def structure_gap(result: Result) -> float:
    """How far one trained network's norm sharing is from the theorem's, as the mass that would have to
    move: among frequencies (modular addition, equal shares), between the support's |u_j| and ||w||
    (parity: |median ratio - 1|), among representations (groups, shares proportional to d^(5/2))."""
    config = result.metrics["config"]
    weights = weights_at(result)
    if config["task"] == "modular-addition":
        shares = frequency_norm_shares(weights, config["p"])
        return total_variation(shares, [1 / len(shares)] * len(shares))
    if config["task"] == "sparse-parity":
        return abs(parity_balance(weights, result.arrays["support"])["median"] - 1)
    degree = GROUP_DEGREES[config["task"]]
    return total_variation(representation_norm_shares(weights, degree), theory_norm_shares(degree))


def seed_report(seeds: dict[str, list[Result]]) -> dict:
    """Per run the theory covers, over seeds: the margin as a share of the maximum (with its interval),
    the share of one-feature neurons, and how far the norm sharing is from the theorem's."""
    found = {}
    for name, results in seeds.items():
        ratios = [r.metrics["margin_ratio"] for r in results]
        found[name] = {"seeds": [r.metrics["config"]["seed"] for r in results], "margin_ratio": ratios,
                       "margin_ratio_interval": mean_interval(ratios),
                       "feature_share": [r.metrics["feature_share"][-1] for r in results],
                       "structure_gap": [structure_gap(r) for r in results]}
        if name == "modular-addition":  # the theorem needs every frequency used, not only single-frequency neurons
            found[name]["covers_every_frequency"] = [
                len(r.metrics["features"]["freqs_covered"]) == r.metrics["features"]["num_freqs"] for r in results]
    return found


def relu_phase_errors(result: Result) -> dict:
    """The ReLU network's phase errors |theta_u + theta_v - theta_w|, measured as for the quadratic one."""
    config = result.metrics["config"]
    errors = phase_errors(weights_at(result), config["p"]).abs()
    return {"phase_error_median": float(errors.median()), "phase_error_max": float(errors.max()),
            "phase_error_share_above_0.05": float((errors > 0.05).double().mean())}


def group_report(result: Result) -> dict:
    """A group run's features, margin and how its norm is shared among representations, beside the theory's."""
    degree = GROUP_DEGREES[result.metrics["config"]["task"]]
    weights = weights_at(result)
    return {**result.metrics["features"], **_final(result),
            "norm_shares": representation_norm_shares(weights, degree), "theory_shares": theory_norm_shares(degree),
            "top_share": group_top_shares(weights, degree)}


def certificates(found: dict) -> dict:
    """Per task the theory covers: the theory's maximum, the margin of the explicit network that should
    attain it, and the trained network's margin, all from `normalised_margin`."""
    rows = {}
    for label, name in (("modular", "modular-addition"), ("parity", "sparse-parity"), ("S3", "S3"), ("S4", "S4")):
        config = Config(**found[name].metrics["config"])
        rows[label] = {"theory": margin_theory(config), "constructed": certified_margin(config),
                       "trained": found[name].metrics["margin"][-1]}
    rows["S4"]["trained_after_continuation"] = found["S4-continued"].metrics["margin"][-1]
    return rows


def reproducibility_card(result: Result) -> dict:
    name = next(run for run in RUNS if config_for("book", run).task == result.metrics["config"]["task"])
    return runtime.reproducibility_card(NAME, VERSION, result, full_scale=SCALES["full"][name])


def total_variation(a: list[float], b: list[float]) -> float:
    """Half the L1 distance between two share vectors: the mass that would have to move."""
    return 0.5 * float(np.abs(np.asarray(a) - np.asarray(b)).sum())
