"""The capstone: the foundational challenges of alignment and safety, seen through the book.

Anwar et al. (2024) name eighteen challenges in three categories. This module holds the map from those
challenges to the book's chapters as data: each `Challenge` has the paper's section number and title
and the `Link`s to the chapters that touch it, and each link carries one sentence about a result that
chapter measured. The sentences are templates filled from the chapters' own reports (each chapter's
`reproduce`, which reads the result cache the chapters filled, or trains what is missing), so no
number in the capstone is typed in by hand. `map_problems` checks the map against the book's sources:
every chapter linked at least once, every link aimed at a page in the table of contents and a label
defined in that page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from companion.core.config import InputError, check_choice, resolve_scale
from companion.core.sweeps import at_most_jobs, sweep
from companion.topics import CHAPTERS, DEAREST_FIRST, topic_module

NAME = "alignment-challenges"
VERSION = 1
ROOT = Path(__file__).resolve().parents[3]  # the repository: companion/chapters/<topic>/ is three down
TOC = ROOT / "_toc.yml"
PAGE = "book/alignment-challenges"  # this chapter's page, as _toc.yml names it
RESULTS = ROOT / "benchmarks" / "RESULTS.md"  # the measured cost of every chapter, where the repository is


# ----------------------------------------------------------------------------- the facts each chapter measured

def _nearest(steps: list, target: float) -> int:
    return int(np.argmin(np.abs(np.asarray(steps, dtype=float) - target)))


def _induction_heads(report: dict) -> dict:
    plateau = report["phases"]["plateau_steps"]
    return {"plateau_start": plateau[0] if plateau else 0, "plateau_end": plateau[-1] if plateau else 0,
            "transition_step": report["transition_step"], "final_gap": report["phases"]["final_gap_to_bigram"],
            "previous_token_start": report["previous_token_score"][0],
            "previous_token_score": report["previous_token_score"][-1],
            "induction_start": report["induction_score"][0], "induction_score": report["induction_score"][-1],
            "unigram_kl": report["baselines"]["unigram"], "bigram_kl": report["baselines"]["bigram"]}


def _hidden_progress(report: dict) -> dict:
    run = next(run for run in report["runs"] if run["t_c"] is not None)  # the first seed that solved it
    half = _nearest(run["steps"], run["t_c"] / 2)
    shares = [check["share_before_fall"] for check in report["plateau_checks"] if check["t_c"] is not None]
    return {"median_t_c": report["summary"]["median_t_c"], "seeds": report["summary"]["seeds"],
            "loss_start": run["loss"][0], "loss_half": run["loss"][half],
            "chance_share": report["summary"]["chance_share"], "share_before_fall": float(np.median(shares)),
            "beats_control": report["summary"]["share_beats_control"],
            "exponent_k3": report["scaling_exponents"].get("3", float("nan"))}


def _pareto_frontiers(report: dict) -> dict:
    grid = report["grid"]
    luck = min(grid, key=lambda row: (abs(row["success_rate"] - 0.5), -row["runs"]))
    frontier = [point["m_half"] for by_width in report["frontier"].values() for point in by_width.values()
                if point["m_half"] is not None]
    sparsity = min(report["lottery"], key=int)  # the grid's own sparsity
    tickets = report["lottery"][sparsity]
    return {"luck_m": luck["m"], "luck_width": luck["width"], "luck_init": luck["init"],
            "luck_rate": luck["success_rate"], "luck_seeds": luck["runs"], "sparsity": sparsity,
            "pruned": tickets["rewound_success"], "random": tickets["random_success"],
            "frontier_min": min(frontier, default=0), "frontier_max": max(frontier, default=0),
            "frontier_cells": len(frontier)}


def _increasing_complexity(report: dict) -> dict:
    digits = report["digits"]["summary"]
    relation = {"above every null": "more than", "below the best null": "less than",
                "not separated": "about as much as"}[report["digits"]["margin_verdict"]]
    return {"early_ratio": digits["early_min_ratio"], "null_relation": relation,
            "network_accuracy": digits["final_acc_F"], "linear_accuracy": digits["acc_L"],
            "mu_share": digits["final_mu_share_of_I_LY"],
            "noisy_train": digits["noisy_final_train_acc"], "noisy_test": digits["noisy_final_acc_F"]}


def _margin_features(report: dict) -> dict:
    modular = report["modular_addition"]
    story = modular["story"]
    return {"p": modular["p"], "single_frequency": modular["frac_single_freq"],
            "margin_ratio": report["seeds"]["modular-addition"]["margin_ratio_interval"]["mean"],
            "margin_seeds": len(report["seeds"]["modular-addition"]["seeds"]),
            "single_irrep": report["groups"]["S4"]["frac_single_irrep"],
            "accurate_step": story["first_perfect_accuracy"]["step"],
            "features_step": story["features_formed"]["step"],
            "lookup_single_frequency": report["lookup_table"]["frac_single_freq"]}


def _variable_creation(report: dict) -> dict:
    # both growth factors over the range the tuned perceptron was measured on
    return {"T_first": report["baseline_T"][0], "T_last": report["baseline_T"][-1],
            "growth": report["growth_over_baseline_range"], "baseline_growth": report["baseline_growth"],
            "cls_attention": report["cls_attention_on_support"]}


WATERMARKS = ("kgw", "unigram", "exp")


def share_interval(share: float, count: int) -> str:
    """A share of `count` independent trials as its 95% Wilson interval in percent, "40% to 75%"."""
    from scipy.stats import binomtest  # imported here: only the capstone's watermark facts need it

    interval = binomtest(round(share * count), count).proportion_ci(method="wilson")
    return f"{interval.low:.0%} to {interval.high:.0%}"


def _watermark_sand(report: dict) -> dict:
    attackers = [a["name"] for a in report["models"]["attackers"]]  # strongest first
    strongest = attackers[0]
    compared = [report["walk_against_regeneration"][name] for name in attackers]
    erased = {name: report[name][strongest]["walk"]["erased"] for name in WATERMARKS}
    # each scheme's erased share over its texts, with its 95% interval (the texts of one scheme are
    # independent; the three schemes share their prompts, so the intervals are not pooled)
    intervals = {name: share_interval(share, report["config"]["texts"]) for name, share in erased.items()}
    return {"detect_min": min(report[s]["detect_rate"] for s in WATERMARKS),
            **{f"attack_{name}": share for name, share in erased.items()},
            **{f"attack_{name}_interval": interval for name, interval in intervals.items()},
            "attack_intervals": ", ".join(intervals.values()),
            "attack_mean": float(np.mean(list(erased.values()))),
            **{f"auc_{name}": report[name]["watermarked"]["discriminator_auc"] for name in WATERMARKS},
            "null_max": report["plain"]["discriminator_null_max"],
            "kept_walk": float(np.mean([c["walk"]["mean"] for c in compared])),
            "kept_regeneration": float(np.mean([c["regeneration"]["mean"] for c in compared])),
            # the paired walk-minus-regeneration share per attacker, in percentage points, over the prompts
            "advantage_intervals": ", ".join("[{:+.0f}, {:+.0f}]".format(*(100 * np.array(c["difference"]["ci"])))
                                             for c in compared)}


def _transcendence(report: dict) -> dict:
    tau_star = report["tau_star"]
    warm = max(report["temperatures"])
    return {"tau_star": tau_star, "reward_warm": report["model_reward"][str(warm)],
            "reward_cold": report["model_reward"][str(tau_star)],
            "expert_average": report["expert_average_reward"], "expert_best": max(report["expert_reward"]),
            "gain_low": report["reward_gain_ci"][0], "gain_high": report["reward_gain_ci"][1],
            "rating_warm": report["model_rating"][str(warm)][0],
            "rating_cold": report["model_rating"][str(tau_star)][0],
            "toy_diverse": report["toy"]["diverse_gain"], "toy_shared": report["toy"]["shared_gain"]}


def _knowable_unknowable(report: dict) -> dict:
    return {"probe_auc": report["probe_auc"], "entropy_auc": report["entropy_baseline_auc"],
            "transfer_auc": report["cross_domain_auc"], "unsupervised_auc": report["unsupervised_auc"],
            "control_auc": report["control_probe_auc"], "proxy_agreement": report["proxy_agreement"],
            "proxy_recall": report["proxy_recall"]["epistemic"]}


FACTS: dict[str, Callable[[dict], dict]] = {
    "induction-heads": _induction_heads, "hidden-progress": _hidden_progress,
    "pareto-frontiers": _pareto_frontiers, "increasing-complexity": _increasing_complexity,
    "margin-features": _margin_features, "variable-creation": _variable_creation,
    "watermark-sand": _watermark_sand, "transcendence": _transcendence,
    "knowable-unknowable": _knowable_unknowable,
}


def _normalise(report: dict) -> dict:
    """A report as its JSON file would hold it (dictionary keys as strings), whatever produced it."""
    return json.loads(json.dumps(report, default=float))


def _report_on_one_core(topic: str, scale: str, seed: int) -> dict:
    with at_most_jobs(1):  # this chapter's runs one after another: the other core has a chapter of its own
        return _normalise(topic_module(topic).reproduce(scale=scale, seed=seed))


def chapter_reports(scale: str | None = None, seed: int | Mapping[str, int] = 0,
                    topics=CHAPTERS) -> dict[str, dict]:
    """Each chapter's `reproduce` report: from the cache where the chapter ran before, else trained now.
    `seed` is one seed for every chapter, or a seed per topic. Several chapters run side by side, one
    process each, the dearest first; each reads what it finds in the cache and trains the rest."""
    scale = resolve_scale(scale)
    for topic in topics:
        check_choice("topic", topic, CHAPTERS)
    seeds = dict(seed) if isinstance(seed, Mapping) else dict.fromkeys(topics, seed)
    missing = [topic for topic in topics if topic not in seeds]
    if missing:
        raise InputError(f"seed must give a seed for every topic asked for; {missing} have none")
    if len(topics) == 1:  # one chapter keeps both cores for its own runs
        return {topic: _normalise(topic_module(topic).reproduce(scale=scale, seed=seeds[topic])) for topic in topics}
    order = sorted(topics, key=DEAREST_FIRST.index)
    reports = sweep(_report_on_one_core, [dict(topic=t, scale=scale, seed=seeds[t]) for t in order], n_jobs=2)
    found = dict(zip(order, reports))
    return {topic: found[topic] for topic in topics}


def chapter_facts(reports: dict[str, dict]) -> dict[str, dict]:
    return {topic: FACTS[topic](report) for topic, report in reports.items()}


# ----------------------------------------------------------------------------- checking the map


# ----------------------------------------------------------------------------- the command line


def chapter_costs(results: Path = RESULTS) -> dict[str, dict]:
    """Each chapter's cost at book scale as benchmarks/RESULTS.md records it (its "Chapters" table): CPU and
    wall seconds on a cold cache, and when and where that was measured; empty where there is no record (a
    package installed without the repository)."""
    if not results.exists():
        return {}
    text = results.read_text()
    section = text.split("## Chapters", 1)[1].split("\n## ", 1)[0] if "## Chapters" in text else ""
    costs = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0] in CHAPTERS:
            costs[cells[0]] = {"wall": float(cells[1]), "cpu": float(cells[2]), "measured": cells[4]}
    return costs
