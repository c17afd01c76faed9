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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from companion.core.config import InputError, check_choice, resolve_scale
from companion.core.sweeps import at_most_jobs, sweep
from companion.topics import CHAPTERS, DEAREST_FIRST, topic_module

NAME = "alignment-challenges"
VERSION = 1
ROOT = Path(__file__).resolve().parents[3]  # the repository: companion/chapters/<topic>/ is three down
TOC = ROOT / "_toc.yml"
PAGE = "book/alignment-challenges"  # this chapter's page, as _toc.yml names it

CATEGORIES = ("Scientific understanding of LLMs", "Development and deployment methods",
              "Sociotechnical challenges")
SCIENCE, METHODS, SOCIETY = CATEGORIES

CHAPTER_TITLES = {
    "induction-heads": "Statistical induction heads",
    "hidden-progress": "Hidden progress",
    "pareto-frontiers": "Pareto frontiers",
    "increasing-complexity": "Functions of increasing complexity",
    "margin-features": "Features from margin maximisation",
    "variable-creation": "Sparse variable creation",
    "watermark-sand": "Watermarks in the sand",
    "transcendence": "Transcendence",
    "knowable-unknowable": "Knowable and unknowable",
}


@dataclass(frozen=True)
class Link:
    """A chapter that touches a challenge, and what it measured, as a template over its `facts`."""
    topic: str
    claim: str

    @property
    def page(self) -> str:
        return f"book/{self.topic}"

    @property
    def label(self) -> str:
        """The chapter's "What this means for alignment" section, which links back here."""
        return f"{self.topic}-alignment"


@dataclass(frozen=True)
class Challenge:
    section: str  # the paper's section number
    category: str
    title: str  # as in the paper's table of contents
    label: str  # this chapter's target for the challenge
    links: tuple[Link, ...] = ()

    @property
    def chapters(self) -> list[str]:
        return [link.topic for link in self.links]


CHALLENGES = (
    Challenge("2.1", SCIENCE, "In-Context Learning (ICL) Is Black-Box", "challenge-in-context-learning", (
        Link("induction-heads",
             "A two-layer transformer learns to predict Markov chains from their context by forming two attention "
             "heads, one that looks at the previous token and one that looks for earlier copies of it, and ends "
             "{final_gap:.3f} nats from the Bayes-optimal in-context bigram rule."),
        Link("knowable-unknowable",
             "How much the small model changes its mind once its own answer is written into its context separates "
             "facts it lacks from chance with an AUC of {unsupervised_auc:.2f}: what a model does in context says "
             "something about what it knows."),
    )),
    Challenge("2.2", SCIENCE, "Capabilities Are Difficult to Estimate and Understand", "challenge-capabilities", (
        Link("induction-heads",
             "The in-context rule arrives abruptly: the model rests on the simpler unigram rule from step "
             "{plateau_start} to step {plateau_end}, and the bigram rule takes over at step {transition_step}."),
        Link("hidden-progress",
             "On sparse parity the loss is flat until it falls suddenly (median step {median_t_c:,.0f} over "
             "{seeds} seeds); halfway there it was {loss_half:.3f} against {loss_start:.3f} at the start, so the "
             "curve gave no warning."),
        Link("pareto-frontiers",
             "Same code, same amount of data, different seeds: with m = {luck_m:,} samples, a {luck_init} network of "
             "width {luck_width} learned the parity in {luck_rate:.0%} of {luck_seeds} runs."),
        Link("transcendence",
             "One network, two temperatures: at temperature 1 its mean reward is {reward_warm:+.2f}, close to its "
             "teachers' average ({expert_average:+.2f}); at temperature {tau_star:g} it is {reward_cold:+.2f}, "
             "above the best teacher's ({expert_best:+.2f})."),
    )),
    Challenge("2.3", SCIENCE, "Effects of Scale on Capabilities Are Not Well-Characterized", "challenge-scale", (
        Link("hidden-progress",
             "The time SGD needs grows as a power of the input size: for 3-sparse parities the median time to "
             "solve grows like n to the power {exponent_k3:.1f}."),
        Link("pareto-frontiers",
             "Width buys sample efficiency by parallel search: the neurons that won in a wide sparse network "
             "(s = {sparsity}), trained again alone from their initial weights, succeed in {pruned:.0%} of runs, "
             "against {random:.0%} for fresh random networks of their size."),
        Link("variable-creation",
             "From context length {T_first} to {T_last}, the samples a one-block transformer needs to learn a "
             "sparse function of its context grow {growth:.1f}-fold, a perceptron's {baseline_growth:.1f}-fold."),
    )),
    Challenge("2.4", SCIENCE, "Qualitative Understanding of Reasoning Capabilities Is Lacking", "challenge-reasoning", (
        Link("margin-features",
             "Margin maximisation predicts how a network adds modulo {p}: {single_frequency:.0%} of its neurons "
             "use one Fourier frequency and its margin reaches {margin_ratio:.1%} of the theory's maximum (mean "
             "over {margin_seeds} seeds); on "
             "S4, {single_irrep:.0%} of neurons use one irreducible representation."),
        Link("increasing-complexity",
             "Early in training a linear classifier accounts for at least {early_ratio:.0%} of what the network "
             "gets right on digits, though the network agrees with it {null_relation} decision trees and "
             "nearest-neighbour votes of the same accuracy do; only later does the network go beyond it (test "
             "accuracy {network_accuracy:.0%} against the linear classifier's {linear_accuracy:.0%})."),
    )),
    Challenge("2.5", SCIENCE, "Agentic LLMs Pose Novel Risks", "challenge-agents", (
        Link("transcendence",
             "An agent trained only to imitate need not stay within its teachers' competence: the chess model beats "
             "all three experts it learned from (paired 95% interval of its gain over the best: {gain_low:+.2f} to "
             "{gain_high:+.2f})."),
    )),
    Challenge("2.6", SCIENCE, "Multi-Agent Safety Is Not Assured by Single-Agent Safety", "challenge-multi-agent"),
    Challenge("2.7", SCIENCE, "Safety-Performance Trade-offs Are Poorly Understood", "challenge-trade-offs", (
        Link("watermark-sand",
             "A watermark has a price and a limit: a classifier reading a judge model tells marked texts from "
             "unmarked continuations of the same prompts with an AUC of {auc_kgw:.2f} (KGW), {auc_unigram:.2f} "
             "(Unigram) and {auc_exp:.2f} (EXP), where two unmarked samples reach at most {null_max:.2f}, so at "
             "least the most visible scheme costs something a reader's tools can see; and a random walk whose "
             "rewrites come from a model weaker than the watermarking one still erased the marks from "
             "{attack_mean:.0%} of texts on average (95% intervals per scheme: {attack_intervals})."),
    )),
    Challenge("3.1", METHODS, "Pretraining Produces Misaligned Models", "challenge-pretraining", (
        Link("transcendence",
             "Imitation averages out only the errors its teachers do not share: in the toy world, learning from "
             "experts with different blind spots gains {toy_diverse:+.2f} in reward over the best of them, from "
             "experts with the same blind spot {toy_shared:+.2f}."),
    )),
    Challenge("3.2", METHODS, "Finetuning Methods Struggle to Assure Alignment and Safety", "challenge-finetuning", (
        Link("increasing-complexity",
             "What a network learns first, it keeps: at the end of training it still carries {mu_share:.0%} of "
             "the information about the labels that the early linear classifier had, so later training builds on "
             "the early behaviour rather than replacing it."),
    )),
    Challenge("3.3", METHODS, "LLM Evaluations Are Confounded and Biased", "challenge-evaluations", (
        Link("hidden-progress",
             "What the loss hid, the weights showed: before the loss moved, the share of first-layer weight on "
             "the relevant bits had risen from chance ({chance_share:.2f}) to {share_before_fall:.2f} (median "
             "over seeds), above a random-label control's in {beats_control} of {seeds} seeds."),
        Link("transcendence",
             "The model's rating on one fixed ladder of opponents moves from {rating_warm:.0f} at temperature 1 to "
             "{rating_cold:.0f} at temperature {tau_star:g}: an evaluation rates a model together with the way "
             "it is sampled."),
        Link("knowable-unknowable",
             "The larger model used to label which tokens could be known is right about {proxy_agreement:.0%} of "
             "the tokens it labels, but of the unsure tokens that were in truth knowable it labels only "
             "{proxy_recall:.0%} as such: an evaluation built on a proxy model inherits its blind spots."),
    )),
    Challenge("3.4", METHODS, "Tools for Interpreting or Explaining LLM Behavior Are Absent or Lack Faithfulness",
              "challenge-interpretability", (
                  Link("induction-heads",
                       "Two scores read off the attention patterns name the circuit as it forms: the previous-token "
                       "score rises from {previous_token_start:.2f} to {previous_token_score:.2f} and the "
                       "induction score from {induction_start:.2f} to {induction_score:.2f}."),
                  Link("margin-features",
                       "Behaviour does not reveal mechanism: the network was perfectly accurate at step "
                       "{accurate_step:,} but formed its Fourier features only by step {features_step:,}, and a "
                       "lookup table that is just as accurate has {lookup_single_frequency:.0%} single-frequency "
                       "neurons."),
                  Link("variable-creation",
                       "In runs that learned the task, the [CLS] token puts {cls_attention:.0%} of its attention "
                       "on the three positions that decide the label: here the attention map explains the "
                       "prediction, because the theory says where to look."),
                  Link("knowable-unknowable",
                       "A linear probe tells facts the small model lacks from chance with an AUC of {probe_auc:.2f} "
                       "on held-out entities (entropy alone: {entropy_auc:.2f}; a barely trained control: "
                       "{control_auc:.2f}), partly by reading the rule that makes a slot a fact: an accurate probe "
                       "need not read what we think it reads."),
              )),
    Challenge("3.5", METHODS, "Jailbreaks and Prompt Injections Threaten Security of LLMs", "challenge-jailbreaks"),
    Challenge("3.6", METHODS, "Vulnerability to Poisoning and Backdoors Is Poorly Understood", "challenge-poisoning", (
        Link("increasing-complexity",
             "With a fifth of its training labels flipped, the digits network fits {noisy_train:.0%} of its "
             "training set, flipped labels included, and still scores {noisy_test:.0%} on clean test data: "
             "memorised exceptions live beside the general rule, out of sight of a test set."),
    )),
    Challenge("4.1", SOCIETY, "Values to Be Encoded within LLMs Are Not Clear", "challenge-values"),
    Challenge("4.2", SOCIETY, "Dual-Use Capabilities Enable Malicious Use and Misuse of LLMs", "challenge-dual-use", (
        Link("watermark-sand",
             "Watermarks are one proposed defence against misuse of generated text; each of the three was "
             "detected in at least {detect_min:.0%} of the marked texts, and a walk whose rewrites come from a "
             "model weaker than the watermarking one erased {attack_kgw:.0%} ({attack_kgw_interval}), "
             "{attack_unigram:.0%} ({attack_unigram_interval}) and {attack_exp:.0%} ({attack_exp_interval}) of "
             "them (KGW, Unigram, EXP; 95% intervals over the texts)."),
    )),
    Challenge("4.3", SOCIETY, "LLM-Systems Can Be Untrustworthy", "challenge-trustworthiness", (
        Link("knowable-unknowable",
             "A model's confidence does not say whether it knows: the small model's entropy separates the facts it "
             "lacks from chance only with an AUC of {entropy_auc:.2f}."),
        Link("watermark-sand",
             "Provenance can be washed off by attackers who could not have written the text: averaged over three "
             "attackers whose models are weaker than the watermarking one, the walk removed the mark and kept a "
             "judge model's loss within a tenth of a nat of the original's on {kept_walk:.0%} of texts, against "
             "{kept_regeneration:.0%} when they wrote the texts afresh with their own models (per attacker, "
             "strongest first, the walk's advantage in percentage points has the 95% intervals "
             "{advantage_intervals} over the prompts)."),
    )),
    Challenge("4.4", SOCIETY, "Socioeconomic Impacts of LLM May Be Highly Disruptive", "challenge-socioeconomic"),
    Challenge("4.5", SOCIETY, "LLM Governance Is Lacking", "challenge-governance", (
        Link("pareto-frontiers",
             "A capability here depends on data, width, initialisation and luck together: the smallest data set "
             "that works in half the runs ranges from {frontier_min:,.0f} to {frontier_max:,.0f} samples across the "
             "{frontier_cells} pairs of initialisation and width that get there, so a rule keyed to one "
             "resource misses the trade."),
        Link("watermark-sand",
             "A rule that requires watermarks relies on their robustness; a random walk whose rewrites come from "
             "a model weaker than the watermarking one removed them from {attack_mean:.0%} of texts on average over "
             "the three schemes (95% intervals per scheme, KGW, Unigram and EXP: {attack_intervals})."),
    )),
)


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


def claims(facts: dict[str, dict]) -> dict[tuple[str, str], str]:
    """Every link's sentence, filled with its chapter's measurements: {(section, topic): sentence}."""
    return {(challenge.section, link.topic): link.claim.format(**facts[link.topic])
            for challenge in CHALLENGES for link in challenge.links}


# What a link is worth, so that a student can tell a measurement from a toy analogy:
GRADES = ("evidence", "analogy", "illustration")
GRADE_MEANINGS = {
    "evidence": "the chapter measures, at toy scale, the quantity the challenge is about",
    "analogy": "the chapter measures something of the same shape, in a setting the challenge is not about",
    "illustration": "the chapter shows a concept the challenge uses, and measures nothing the challenge claims",
}


@dataclass(frozen=True)
class LinkNote:
    grade: str  # one of GRADES
    reason: str  # why, in one sentence


LINK_NOTES: dict[tuple[str, str], LinkNote] = {
    ("2.1", "induction-heads"): LinkNote(
        "evidence", "it pins down the rule a transformer runs in context, and the two heads that run it."),
    ("2.1", "knowable-unknowable"): LinkNote(
        "illustration", "it uses a model's response to its context as a detector of missing knowledge, and measures "
        "nothing about how in-context learning works."),
    ("2.2", "induction-heads"): LinkNote(
        "evidence", "it measures a capability arriving abruptly, after a plateau that gives no sign of it."),
    ("2.2", "hidden-progress"): LinkNote(
        "evidence", "it measures how little the loss, the usual gauge of progress, says about a capability before it "
        "appears."),
    ("2.2", "pareto-frontiers"): LinkNote(
        "analogy", "it shows that a fixed recipe yields the capability only in some seeds; the challenge is about "
        "judging what a trained model can do."),
    ("2.2", "transcendence"): LinkNote(
        "evidence", "it measures one trained network's capability changing with a choice made at inference time, the "
        "sampling temperature."),
    ("2.3", "hidden-progress"): LinkNote(
        "analogy", "its power law is in the size of the input, not in the model, data or compute the challenge "
        "scales."),
    ("2.3", "pareto-frontiers"): LinkNote(
        "evidence", "it tests, at toy scale, one mechanism by which width buys sample efficiency."),
    ("2.3", "variable-creation"): LinkNote(
        "analogy", "the samples needed grow with the context length and differ between architectures, not with model "
        "scale."),
    ("2.4", "margin-features"): LinkNote(
        "analogy", "it recovers the algorithm small networks learn for one-step modular arithmetic, not multi-step "
        "reasoning in language models."),
    ("2.4", "increasing-complexity"): LinkNote(
        "illustration", "simple functions learnt first, on digit classification, say nothing measured about "
        "reasoning."),
    ("2.5", "transcendence"): LinkNote(
        "analogy", "an imitator beating its teachers resembles an agent outgrowing its overseers, but no autonomy, "
        "tools or goals are involved."),
    ("2.7", "watermark-sand"): LinkNote(
        "evidence", "it measures what a safety mechanism costs in text quality, at one operating point."),
    ("3.1", "transcendence"): LinkNote(
        "analogy", "an imitator inheriting the blind spot all its teachers share mirrors pretraining absorbing flaws "
        "common to its data, in a toy world."),
    ("3.2", "increasing-complexity"): LinkNote(
        "analogy", "what later training keeps of early learning is measured within one supervised run, not across "
        "pretraining and finetuning."),
    ("3.3", "hidden-progress"): LinkNote(
        "illustration", "a loss that hides progress is not one of the confounds or biases of evaluations the "
        "challenge names."),
    ("3.3", "transcendence"): LinkNote(
        "evidence", "it measures an evaluation score, a rating on a fixed ladder, moving with an inference-time "
        "choice, the sampling temperature."),
    ("3.3", "knowable-unknowable"): LinkNote(
        "evidence", "it measures a model used as a labeller against the truth: precise, but blind to much."),
    ("3.4", "induction-heads"): LinkNote(
        "illustration", "the scores follow a circuit already known, with no test of faithfulness (no ablation)."),
    ("3.4", "margin-features"): LinkNote(
        "analogy", "equally accurate networks that use different mechanisms show why behaviour cannot vouch for an "
        "explanation, but no interpretability tool is tested."),
    ("3.4", "variable-creation"): LinkNote(
        "evidence", "it scores an attention-map explanation against the positions known to matter (a correlation, on "
        "the runs that learned)."),
    ("3.4", "knowable-unknowable"): LinkNote(
        "evidence", "it measures a probe against a refitted control and the simple baselines that could explain it "
        "(the rule, the entity's frequency), which is what a probe's faithfulness turns on."),
    ("3.6", "increasing-complexity"): LinkNote(
        "analogy", "memorised label noise that a clean test set cannot see resembles a backdoor, but there is no "
        "trigger, attacker or detector."),
    ("4.2", "watermark-sand"): LinkNote(
        "evidence", "it measures detection rates, and their removal by a cheap attack, for three watermark schemes."),
    ("4.3", "knowable-unknowable"): LinkNote(
        "analogy", "a confidence signal that tells knowledge poorly bears on trust, but no person's reliance is "
        "measured."),
    ("4.3", "watermark-sand"): LinkNote(
        "illustration", "text quality after an attack is about evading a watermark, not about whether a system can "
        "be trusted."),
    ("4.5", "pareto-frontiers"): LinkNote(
        "analogy", "a trade-off between data, width, initialisation and luck mirrors why one resource makes a poor "
        "threshold, but nothing about governance is measured."),
    ("4.5", "watermark-sand"): LinkNote(
        "analogy", "it measures how fragile a tool is that a rule might rely on; nothing about governance itself."),
}


# What each sentence's words assert, beyond its numbers: {(section, topic): test on the facts}. A sentence
# whose test fails would be false for these results, so the chapter stops rather than print it.
WORDING: dict[tuple[str, str], Callable[[dict], bool]] = {
    ("2.1", "induction-heads"): lambda f: f["final_gap"] < 0.5 * (f["unigram_kl"] - f["bigram_kl"]),
    ("2.1", "knowable-unknowable"): lambda f: f["unsupervised_auc"] > 0.6,
    ("2.2", "induction-heads"): lambda f: f["plateau_start"] < f["plateau_end"] < f["transition_step"],
    ("2.2", "hidden-progress"): lambda f: f["loss_half"] > 0.9 * f["loss_start"],
    ("2.2", "pareto-frontiers"): lambda f: 0.2 <= f["luck_rate"] <= 0.8,
    ("2.2", "transcendence"): lambda f: (f["reward_cold"] > f["expert_best"]
                                         and abs(f["reward_warm"] - f["expert_average"])
                                         < abs(f["reward_cold"] - f["expert_average"]) / 2),
    ("2.3", "hidden-progress"): lambda f: f["exponent_k3"] > 0.5,
    ("2.3", "pareto-frontiers"): lambda f: f["pruned"] > f["random"],
    ("2.3", "variable-creation"): lambda f: f["growth"] < f["baseline_growth"],
    ("2.4", "margin-features"): lambda f: min(f["single_frequency"], f["margin_ratio"], f["single_irrep"]) >= 0.8,
    ("2.4", "increasing-complexity"): lambda f: (f["early_ratio"] >= 0.7
                                                 and f["network_accuracy"] > f["linear_accuracy"]),
    ("2.5", "transcendence"): lambda f: f["gain_low"] > 0,
    ("2.7", "watermark-sand"): lambda f: (max(f[f"auc_{name}"] for name in WATERMARKS) > f["null_max"]
                                          and f["attack_mean"] >= 0.5),
    ("3.1", "transcendence"): lambda f: f["toy_diverse"] > 0.1 and f["toy_shared"] < f["toy_diverse"] / 2,
    ("3.2", "increasing-complexity"): lambda f: f["mu_share"] >= 0.7,
    ("3.3", "hidden-progress"): lambda f: (f["share_before_fall"] > 1.1 * f["chance_share"]
                                           and f["beats_control"] == f["seeds"]),
    ("3.3", "transcendence"): lambda f: f["rating_cold"] > f["rating_warm"],
    ("3.3", "knowable-unknowable"): lambda f: f["proxy_agreement"] > 0.8 and f["proxy_recall"] < 0.5,
    ("3.4", "induction-heads"): lambda f: (f["previous_token_score"] > f["previous_token_start"] + 0.1
                                           and f["induction_score"] > f["induction_start"] + 0.1),
    ("3.4", "margin-features"): lambda f: (f["accurate_step"] < f["features_step"]
                                           and f["lookup_single_frequency"] < 0.1),
    ("3.4", "variable-creation"): lambda f: f["cls_attention"] > 0.5,
    ("3.4", "knowable-unknowable"): lambda f: (f["probe_auc"] > f["entropy_auc"] + 0.1
                                               and f["control_auc"] < f["probe_auc"] - 0.2),
    ("3.6", "increasing-complexity"): lambda f: f["noisy_train"] >= 0.9 and f["noisy_test"] >= 0.7,
    ("4.2", "watermark-sand"): lambda f: f["detect_min"] > 0.5 and f["attack_mean"] >= 0.5,
    ("4.3", "knowable-unknowable"): lambda f: f["entropy_auc"] < f["probe_auc"] - 0.1,
    ("4.3", "watermark-sand"): lambda f: f["kept_walk"] > f["kept_regeneration"],
    ("4.5", "pareto-frontiers"): lambda f: f["frontier_max"] > f["frontier_min"] > 0,
    ("4.5", "watermark-sand"): lambda f: f["attack_mean"] >= 0.5,
}


# For every wording rule, facts that contradict its sentence, one per condition the rule checks: each
# maps a chapter's real facts to the changes that break that condition alone, at its boundary where it
# has one. A rule that accepts any of them is too loose to stand behind its words.
COUNTEREXAMPLES: dict[tuple[str, str], list[Callable[[dict], dict]]] = {
    ("2.1", "induction-heads"): [lambda f: {"final_gap": 0.5 * (f["unigram_kl"] - f["bigram_kl"])}],
    ("2.1", "knowable-unknowable"): [lambda f: {"unsupervised_auc": 0.6}],
    ("2.2", "induction-heads"): [lambda f: {"plateau_end": f["plateau_start"]},
                                 lambda f: {"transition_step": f["plateau_end"]}],
    ("2.2", "hidden-progress"): [lambda f: {"loss_half": 0.9 * f["loss_start"]}],
    ("2.2", "pareto-frontiers"): [lambda f: {"luck_rate": 0.19}, lambda f: {"luck_rate": 0.81}],
    ("2.2", "transcendence"): [lambda f: {"reward_cold": f["expert_best"]},
                               lambda f: {"reward_warm": f["reward_cold"]}],
    ("2.3", "hidden-progress"): [lambda f: {"exponent_k3": 0.5}],
    ("2.3", "pareto-frontiers"): [lambda f: {"pruned": f["random"]}],
    ("2.3", "variable-creation"): [lambda f: {"growth": f["baseline_growth"]}],
    ("2.4", "margin-features"): [lambda f: {"single_frequency": 0.79}, lambda f: {"margin_ratio": 0.79},
                                 lambda f: {"single_irrep": 0.79}],
    ("2.4", "increasing-complexity"): [lambda f: {"early_ratio": 0.69},
                                       lambda f: {"network_accuracy": f["linear_accuracy"]}],
    ("2.5", "transcendence"): [lambda f: {"gain_low": 0.0}],
    ("2.7", "watermark-sand"): [lambda f: {f"auc_{name}": f["null_max"] for name in WATERMARKS},
                                lambda f: {"attack_mean": 0.49}],
    ("3.1", "transcendence"): [lambda f: {"toy_diverse": 0.1}, lambda f: {"toy_shared": f["toy_diverse"] / 2}],
    ("3.2", "increasing-complexity"): [lambda f: {"mu_share": 0.69}],
    ("3.3", "hidden-progress"): [lambda f: {"share_before_fall": 1.1 * f["chance_share"]},
                                 lambda f: {"beats_control": f["seeds"] - 1}],
    ("3.3", "transcendence"): [lambda f: {"rating_cold": f["rating_warm"]}],
    ("3.3", "knowable-unknowable"): [lambda f: {"proxy_agreement": 0.8}, lambda f: {"proxy_recall": 0.5}],
    ("3.4", "induction-heads"): [lambda f: {"previous_token_score": f["previous_token_start"] + 0.1},
                                 lambda f: {"induction_score": f["induction_start"] + 0.1}],
    ("3.4", "margin-features"): [lambda f: {"features_step": f["accurate_step"]},
                                 lambda f: {"lookup_single_frequency": 0.1}],
    ("3.4", "variable-creation"): [lambda f: {"cls_attention": 0.5}],
    ("3.4", "knowable-unknowable"): [lambda f: {"probe_auc": f["entropy_auc"] + 0.1},
                                     lambda f: {"control_auc": f["probe_auc"] - 0.2}],
    ("3.6", "increasing-complexity"): [lambda f: {"noisy_train": 0.89}, lambda f: {"noisy_test": 0.69}],
    ("4.2", "watermark-sand"): [lambda f: {"detect_min": 0.5}, lambda f: {"attack_mean": 0.49}],
    ("4.3", "knowable-unknowable"): [lambda f: {"entropy_auc": f["probe_auc"] - 0.1}],
    ("4.3", "watermark-sand"): [lambda f: {"kept_walk": f["kept_regeneration"]}],
    ("4.5", "pareto-frontiers"): [lambda f: {"frontier_max": f["frontier_min"]}, lambda f: {"frontier_min": 0}],
    ("4.5", "watermark-sand"): [lambda f: {"attack_mean": 0.49}],
}


def counterexamples_caught(facts: dict[str, dict]) -> dict[tuple[str, str], list[bool]]:
    """For every wording rule, whether it rejects each of its counterexamples built from these facts
    (a changed key must be one the rule's chapter reports)."""
    caught = {}
    for (section, topic), doctors in COUNTEREXAMPLES.items():
        real = facts[topic]
        changes = [doctor(real) for doctor in doctors]
        unknown = {key for change in changes for key in change} - set(real)
        if unknown:
            raise KeyError(f"counterexamples for {section} {topic} change facts it does not have: {sorted(unknown)}")
        caught[(section, topic)] = [not WORDING[(section, topic)]({**real, **change}) for change in changes]
    return caught


def rules_with_counterexample(facts: dict[str, dict]) -> int:
    """How many wording rules have counterexamples and reject every one of them."""
    return sum(bool(found) and all(found) for found in counterexamples_caught(facts).values())


def false_claims(facts: dict[str, dict]) -> list[str]:
    """The links whose sentences these facts do not bear out (by `WORDING`); empty when all hold."""
    return [f"{section} {topic}: {claim}" for (section, topic), claim in claims(facts).items()
            if not WORDING[(section, topic)](facts[topic])]


def glue_key(section: str, topic: str) -> str:
    """The notebook's glue key for a link's sentence."""
    return f"ac_{section.replace('.', '_')}_{topic.replace('-', '_')}"


# ----------------------------------------------------------------------------- checking the map

def links() -> list[tuple[Challenge, Link]]:
    return [(challenge, link) for challenge in CHALLENGES for link in challenge.links]


def _toc_pages(toc: Path) -> set[str]:
    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("file", "root"):
                    yield value
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return set(walk(yaml.safe_load(toc.read_text())))


TARGET = re.compile(r"^\(([A-Za-z0-9_-]+)\)=\s*$", re.M)
REFERENCE = re.compile(r"\{ref\}`(?:[^`<]*<)?([A-Za-z0-9_-]+)>?`")


def page_sources(root: Path = ROOT) -> dict[str, str]:
    """The markdown of every page in the table of contents, by its name there ("book/transcendence")."""
    # nbformat is imported here, not at the top: only the check of the map reads notebooks
    import nbformat

    sources = {}
    for page in _toc_pages(root / "_toc.yml"):
        notebook, markdown = root / f"{page}.ipynb", root / f"{page}.md"
        if notebook.exists():
            cells = nbformat.read(notebook, as_version=4).cells
            sources[page] = "\n".join(c.source for c in cells if c.cell_type == "markdown")
        elif markdown.exists():
            sources[page] = markdown.read_text()
    return sources


def labels_by_page(sources: dict[str, str]) -> dict[str, set[str]]:
    return {page: set(TARGET.findall(text)) for page, text in sources.items()}


def map_problems(root: Path = ROOT) -> list[str]:
    """Everything wrong with the map, checked against the book's sources; an empty list when it is sound.

    Checks: every chapter is linked; every link's page is in the table of contents and defines the
    link's label; this chapter defines every challenge's label; and each chapter's alignment section
    refers back here, to exactly the challenges that link to it.
    """
    if not (root / "_toc.yml").exists():
        return [f"no book sources at {root}: the map is checked against a checkout of the repository"]
    sources = page_sources(root)
    labels = labels_by_page(sources)
    problems = [f"chapter {topic} is linked from no challenge" for topic in CHAPTERS
                if not any(link.topic == topic for _, link in links())]
    if PAGE not in labels:
        return problems + [f"{PAGE} is not in _toc.yml"]
    for challenge in CHALLENGES:
        if challenge.label not in labels[PAGE]:
            problems.append(f"{PAGE} does not define the label {challenge.label} ({challenge.title})")
    for challenge, link in links():
        if link.page not in labels:
            problems.append(f"{challenge.section} links to {link.page}, which is not in _toc.yml")
        elif link.label not in labels[link.page] or link.topic not in labels[link.page]:
            problems.append(f"{link.page} does not define the labels {link.topic} and {link.label}")
    for topic in CHAPTERS:
        page = f"book/{topic}"
        if page not in sources:
            continue
        target = f"({topic}-alignment)="
        section = sources[page].split(target, 1)[1] if target in sources[page] else ""
        referenced = set(REFERENCE.findall(section))
        expected = {challenge.label for challenge in CHALLENGES if topic in challenge.chapters}
        if NAME not in referenced:
            problems.append(f"{page}: its alignment section does not refer back to {NAME}")
        if referenced & {c.label for c in CHALLENGES} != expected:
            problems.append(f"{page}: its alignment section should refer to {sorted(expected)}, "
                            f"not {sorted(referenced & {c.label for c in CHALLENGES})}")
    return problems


# ----------------------------------------------------------------------------- the command line

def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce alignment-challenges` writes to alignment-challenges.json."""
    scale = resolve_scale(scale)
    problems = map_problems()
    if problems:
        raise ValueError("the challenge map does not check out:\n  " + "\n  ".join(problems))
    facts = chapter_facts(chapter_reports(scale, seed))
    sentences = claims(facts)
    return {
        "topic": NAME, "scale": scale, "seed": seed,
        "challenges": [{"section": c.section, "category": c.category, "title": c.title, "chapters": c.chapters}
                       for c in CHALLENGES],
        "links": [{"section": challenge.section, "topic": link.topic,
                   "grade": LINK_NOTES[(challenge.section, link.topic)].grade,
                   "why": LINK_NOTES[(challenge.section, link.topic)].reason} for challenge, link in links()],
        "grades": {grade: sum(note.grade == grade for note in LINK_NOTES.values()) for grade in GRADES},
        "chapters_linked": {topic: sum(topic in c.chapters for c in CHALLENGES) for topic in CHAPTERS},
        "challenges_linked": sum(bool(c.links) for c in CHALLENGES),
        "map_problems": problems,
        "false_claims": false_claims(facts),
        "wording_rules": len(WORDING),
        "rules_with_counterexample": rules_with_counterexample(facts),
        "claims": [{"section": section, "topic": topic, "claim": text} for (section, topic), text in sentences.items()],
        "facts": facts,
    }


