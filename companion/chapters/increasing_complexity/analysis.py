"""Increasing complexity: the runs the chapter needs, and what it concludes from them.

`experiment.py` trains one network and measures it; this module plans the chapter's runs (each data set
over seeds, with and without flipped labels), compares the early ratio with the nulls, pools the seeds
and writes the report `reproduce` returns. What the page says about the report is in `page.py`.
"""
from __future__ import annotations

import numpy as np

from companion.core import runtime
from companion.core.cache import Result
from companion.core.config import resolve_scale
from companion.core.stats import mean_interval, verdict

from .experiment import (
    DATASETS,
    EXPLAINED_SHARE,
    NAME,
    NOISE,
    NOISE_RATES,
    NOISY_SEEDS,
    NULLS,
    RETAINED,
    SCALES,
    SEEDS,
    VERSION,
    config_for,
    run_many,
)


def early_evaluations(metrics: dict, floor: float = 0.1) -> list[int]:
    """The evaluations where F is no more accurate than L and I(F;Y) is at least `floor` x I(L;Y)."""
    return [i for i, (information, accuracy) in enumerate(zip(metrics["I_FY"], metrics["acc_F"]))
            if accuracy <= metrics["acc_L"] and information >= floor * metrics["I_LY"]]


def explained_early(metrics: dict, floor: float = 0.1) -> dict:
    """mu / I(F;Y) at every evaluation where F is no more accurate than L.

    Evaluations where I(F;Y) is below `floor` x I(L;Y) are left out: there F knows almost nothing,
    and a ratio of two numbers near zero says nothing.
    """
    ratios = [metrics["mu"][i] / metrics["I_FY"][i] for i in early_evaluations(metrics, floor)]
    return {"ratios": ratios, "min_ratio": min(ratios, default=None), "evaluations": len(ratios),
            "holds": bool(ratios) and min(ratios) >= EXPLAINED_SHARE}


def summary(clean: Result, noisy: Result) -> dict:
    c, n = clean.metrics, noisy.metrics
    peak = int(np.argmax(n["mu"]))
    return {
        "I_LY": c["I_LY"],
        "acc_L": c["acc_L"],
        "final_acc_F": c["acc_F"][-1],
        "final_mu": c["mu"][-1],
        "final_mu_share_of_I_LY": c["mu"][-1] / c["I_LY"],
        "early_min_ratio": explained_early(c)["min_ratio"],
        "noisy_peak_mu": n["mu"][peak],
        "noisy_peak_step": n["step"][peak],
        "noisy_final_mu": n["mu"][-1],
        "noisy_final_train_acc": n["train_acc"][-1],
        "noisy_final_acc_F": n["acc_F"][-1],
    }


def passing_steps(result: Result, share: float = 0.9) -> dict[int, int | None]:
    """For each ladder degree d, the first evaluated step from which mu(F; L_d) stays at least
    `share` x I(L_d; Y): when SGD has caught up with that classifier for good."""
    m = result.metrics
    found = {}
    for degree, reference in m["ladder"].items():
        curve = m[f"mu_degree_{degree}"]
        target = share * reference["I_LY"]
        found[int(degree)] = next((m["step"][i] for i in range(len(curve)) if all(v >= target for v in curve[i:])),
                                  None)
    return found


def early_comparison(metrics: dict) -> dict:
    """The network's early ratio beside the nulls', over the evaluations `explained_early` keeps.

    `network`: the median of mu / I(F;Y) over those evaluations; `nulls`: each null's median ratio at
    the network's accuracy over the evaluations where it has a match (None with no match); `margin`:
    the median over evaluations of the network's ratio minus the highest matched null's.
    """
    keep = early_evaluations(metrics)
    ratios = {i: metrics["mu"][i] / metrics["I_FY"][i] for i in keep}
    nulls, margins = {}, []
    for family in NULLS:
        values = [metrics["null_ratio"][family][i] for i in keep if metrics["null_ratio"][family][i] is not None]
        nulls[family] = float(np.median(values)) if values else None
        nulls[f"{family}_matched"] = len(values)
    for i in keep:
        rivals = [metrics["null_ratio"][family][i] for family in NULLS if metrics["null_ratio"][family][i] is not None]
        margins.append(ratios[i] - max(rivals))
    fitted = [metrics["null_ratio"][family] for family in ("tree", "knn")]
    return {"network": float(np.median(list(ratios.values()))) if keep else None,
            "network_min": min(ratios.values(), default=None), "evaluations": len(keep),
            "matched_by_tree_or_knn": sum(any(row[i] is not None for row in fitted) for i in keep),
            "null_floor": min(min(metrics["null_curves"][family]["acc"]) for family in ("tree", "knn")),
            "nulls": nulls, "margin": float(np.median(margins)) if margins else None}


def noise_measures(metrics: dict) -> dict:
    """What label noise does to mu: its peak, its mean over the last five evaluations, their ratio, and
    how much of the (partly wrong) training set the network fits, flipped labels included."""
    curve = metrics["mu"]
    peak = int(np.argmax(curve))
    return {"mu_peak": curve[peak], "mu_peak_step": metrics["step"][peak], "mu_last5": float(np.mean(curve[-5:])),
            "kept_share": float(np.mean(curve[-5:])) / curve[peak] if curve[peak] > 0 else None,
            "train_accuracy": metrics["train_acc"][-1], "flipped_fit": metrics["flipped_fit"],
            "test_accuracy": metrics["acc_F"][-1]}


def seeds_for(scale: str | None, seed: int) -> list[int]:
    return [seed + i for i in range(SEEDS[resolve_scale(scale)])]


def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict[str, dict]:
    """Every run of the chapter: for each data set, the clean runs of every seed (`clean`, a list) and
    the noisy runs of the first NOISY_SEEDS seeds at each of NOISE_RATES (`noise`: {rate: list})."""
    scale = resolve_scale(scale)
    seeds = seeds_for(scale, seed)
    configs = {(dataset, 0.0, s): config_for(scale, dataset, 0.0, s) for dataset in DATASETS for s in seeds}
    configs.update({(dataset, rate, s): config_for(scale, dataset, rate, s)
                    for dataset in DATASETS for rate in NOISE_RATES for s in seeds[:NOISY_SEEDS]})
    results = dict(zip(configs, run_many(list(configs.values()), n_jobs=n_jobs)))
    return {dataset: {"clean": [results[dataset, 0.0, s] for s in seeds],
                      "noise": {rate: [results[dataset, rate, s] for s in seeds[:NOISY_SEEDS]] for rate in NOISE_RATES}}
            for dataset in DATASETS}


def seed_summary(runs: dict) -> dict:
    """One data set's runs, summarised over seeds: the early ratios beside the nulls', the margin over
    the best null with its interval and verdict, and label noise at each rate beside the paper's claim."""
    comparisons = [early_comparison(result.metrics) for result in runs["clean"]]
    margins = [c["margin"] for c in comparisons if c["margin"] is not None]
    margin = mean_interval(margins) if margins else None
    found = {
        "seeds": [result.metrics["config"]["seed"] for result in runs["clean"]],
        "early_ratio": [c["network"] for c in comparisons],
        "early_min_ratio": [c["network_min"] for c in comparisons],
        "nulls": {family: [c["nulls"][family] for c in comparisons] for family in NULLS},
        "nulls_matched": {family: [c["nulls"][f"{family}_matched"] for c in comparisons] for family in NULLS},
        "early_evaluations": [c["evaluations"] for c in comparisons],
        "matched_by_tree_or_knn": [c["matched_by_tree_or_knn"] for c in comparisons],
        "null_floor": [c["null_floor"] for c in comparisons],
        "margin_per_seed": [c["margin"] for c in comparisons],
        "margin_over_best_null": margin,
        "margin_verdict": verdict(margin, 0.0, "above every null", "below the best null") if margin else
        "not separated",
        "final_mu_share_of_I_LY": [r.metrics["mu"][-1] / r.metrics["I_LY"] for r in runs["clean"]],
        "final_acc_F": [r.metrics["acc_F"][-1] for r in runs["clean"]],
        "acc_L": [r.metrics["acc_L"] for r in runs["clean"]],
        "noise": {},
    }
    for rate, noisy in runs["noise"].items():
        measured = [noise_measures(result.metrics) for result in noisy]
        block = {key: [m[key] for m in measured] for key in measured[0]}
        kept = mean_interval(block["kept_share"])
        block["kept_share_interval"] = kept
        block["verdict"] = verdict(kept, RETAINED, "keeps mu", "gives up part of mu", "not settled")
        found["noise"][str(rate)] = block
    return found


KEYS = ("step", "I_FY", "mu", "I_FY_given_L", "acc_F")


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce increasing-complexity` writes to increasing-complexity.json:
    per data set, the seeds' early ratios beside the nulls', the margin over the best null, label noise
    at 10% and 20%, and (for the first seed, as before) the curves, the summary and the ladder."""
    scale = resolve_scale(scale)
    found = experiments(scale, seed)
    report = {"topic": NAME, "scale": scale, "seed": seed, "noise": NOISE, "noise_rates": list(NOISE_RATES)}
    for dataset, runs in found.items():
        first_clean, first_noisy = runs["clean"][0], runs["noise"][NOISE][0]
        entry = {}
        for kind, result in (("clean", first_clean), ("label_noise", first_noisy)):
            m = result.metrics
            block = {("steps" if key == "step" else key): m[key] for key in KEYS}
            block.update({"I_LY": m["I_LY"], "acc_L": m["acc_L"], "train_acc": m["train_acc"],
                          "config": m["config"]})
            entry[kind] = block
        entry["summary"] = summary(first_clean, first_noisy)
        entry["explained_early"] = explained_early(first_clean.metrics)
        if dataset == "sine":
            entry["ladder"] = first_clean.metrics["ladder"]
            entry["ladder_passing_steps"] = passing_steps(first_clean)
        entry.update(seed_summary(runs))
        report[dataset] = entry
    return report


def reproducibility_card(result: Result) -> dict:
    changes = {dataset: runtime.scale_changes(SCALES["book"][dataset], steps)
               for dataset, steps in SCALES["full"].items()}
    return runtime.reproducibility_card(NAME, VERSION, result, full_scale_changes=changes)
