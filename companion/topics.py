"""The chapters that `python -m companion reproduce TOPIC` knows, by topic name."""

from __future__ import annotations

import importlib

CHAPTER_MODULES = {
    "induction-heads": "companion.chapters.induction_heads",
    "hidden-progress": "companion.chapters.hidden_progress",
    "pareto-frontiers": "companion.chapters.pareto_frontiers",
    "increasing-complexity": "companion.chapters.increasing_complexity",
    "margin-features": "companion.chapters.margin_features",
    "variable-creation": "companion.chapters.variable_creation",
    "watermark-sand": "companion.chapters.watermark_sand",
    "transcendence": "companion.chapters.transcendence",
    "knowable-unknowable": "companion.chapters.knowable_unknowable",
}
CHAPTERS = tuple(CHAPTER_MODULES)  # the chapters that train and measure, in the book's order
# The chapters by what a cold run costs, the dearest first (benchmarks/RESULTS.md, at test and at book
# scale): two cores finish a list of chapters soonest when the longest ones start first.
DEAREST_FIRST = ("induction-heads", "transcendence", "knowable-unknowable", "watermark-sand",
                 "variable-creation", "increasing-complexity", "pareto-frontiers", "margin-features",
                 "hidden-progress")
# the capstone maps the others' results onto the open problems of alignment and safety
TOPICS = {**CHAPTER_MODULES, "alignment-challenges": "companion.chapters.alignment_challenges"}


def topic_module(name: str):
    if name not in TOPICS:
        raise ValueError(f"topic must be one of {sorted(TOPICS)}, got {name!r}")
    return importlib.import_module(TOPICS[name])
