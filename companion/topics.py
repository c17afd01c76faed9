"""The chapters that `python -m companion reproduce TOPIC` knows, by topic name."""

from __future__ import annotations

import importlib

TOPICS = {
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


def topic_module(name: str):
    if name not in TOPICS:
        raise ValueError(f"topic must be one of {sorted(TOPICS)}, got {name!r}")
    return importlib.import_module(TOPICS[name])
