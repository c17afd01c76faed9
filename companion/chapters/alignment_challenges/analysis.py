"""The capstone: the links' sentences, the rules that check their words, the map checked against the book.

`experiment.py` gathers the chapters' reports and reads off the facts each link cites; this module fills
the links' sentences, holds the rule that checks what each sentence's words assert (with counterexamples
each rule must reject), checks the map against the book's sources, and writes the report `reproduce`
returns. What the page says about the report is in `page.py`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import yaml

from companion.core.config import resolve_scale
from companion.topics import CHAPTERS, topic_module

from .challenges import CHALLENGES, GRADES, LINK_NOTES, links
from .experiment import NAME, PAGE, ROOT, WATERMARKS, chapter_facts, chapter_reports


def claims(facts: dict[str, dict]) -> dict[tuple[str, str], str]:
    """Every link's sentence, filled with its chapter's measurements: {(section, topic): sentence}."""
    return {(challenge.section, link.topic): link.claim.format(**facts[link.topic])
            for challenge in CHALLENGES for link in challenge.links}


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


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce alignment-challenges` writes to alignment-challenges.json."""
    scale = resolve_scale(scale)
    problems = map_problems()
    if problems:
        raise ValueError("the challenge map does not check out:\n  " + "\n  ".join(problems))
    return summarise(chapter_reports(scale, seed), scale, seed)


def summarise(reports: dict[str, dict], scale: str | None = None, seed: int = 0, check_map: bool = True) -> dict:
    """The capstone's report from the chapters' reports: the map, every link's sentence with the facts it
    was filled from, the checks of the map and of the sentences' wording, and each chapter's What-reproduced
    table (the verdicts its own page computes). `check_map` False skips the check against the book's
    sources, which only a checkout of the repository has."""
    facts = chapter_facts(reports)
    sentences = claims(facts)
    return {
        "topic": NAME, "scale": resolve_scale(scale), "seed": seed,
        "challenges": [{"section": c.section, "category": c.category, "title": c.title, "chapters": c.chapters}
                       for c in CHALLENGES],
        "links": [{"section": challenge.section, "topic": link.topic,
                   "grade": LINK_NOTES[(challenge.section, link.topic)].grade,
                   "why": LINK_NOTES[(challenge.section, link.topic)].reason} for challenge, link in links()],
        "grades": {grade: sum(note.grade == grade for note in LINK_NOTES.values()) for grade in GRADES},
        "chapters_linked": {topic: sum(topic in c.chapters for c in CHALLENGES) for topic in CHAPTERS},
        "challenges_linked": sum(bool(c.links) for c in CHALLENGES),
        "map_problems": map_problems() if check_map else [],
        "false_claims": false_claims(facts),
        "wording_rules": len(WORDING),
        "rules_with_counterexample": rules_with_counterexample(facts),
        "claims": [{"section": section, "topic": topic, "claim": text} for (section, topic), text in sentences.items()],
        "facts": facts,
        "reproduced": reproduced_by_chapter(reports),
    }


def reproduced_by_chapter(reports: dict[str, dict]) -> dict[str, list[dict]]:
    """Each chapter's What-reproduced rows, as its page computes them from its report."""
    return {topic: [dataclasses.asdict(claim) for claim in topic_module(topic).claims(report)]
            for topic, report in reports.items()}
