"""The chapters that `python -m companion reproduce TOPIC` knows, by topic name."""

from __future__ import annotations

import importlib

CHAPTER_MODULES = {
    "induction-heads": "companion.induction_heads",
    "hidden-progress": "companion.hidden_progress",
    "pareto-frontiers": "companion.pareto_frontiers",
    "increasing-complexity": "companion.increasing_complexity",
    "margin-features": "companion.margin_features",
    "variable-creation": "companion.variable_creation",
    "watermark-sand": "companion.watermark_sand",
    "transcendence": "companion.transcendence",
    "knowable-unknowable": "companion.knowable_unknowable",
}
CHAPTERS = tuple(CHAPTER_MODULES)  # the chapters that train and measure, in the book's order
# the capstone maps the others' results onto the open problems of alignment and safety
TOPICS = {**CHAPTER_MODULES, "alignment-challenges": "companion.alignment_challenges"}


def topic_module(name: str):
    if name not in TOPICS:
        raise ValueError(f"topic must be one of {sorted(TOPICS)}, got {name!r}")
    return importlib.import_module(TOPICS[name])
