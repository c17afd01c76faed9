"""Knowable and unknowable: the runs the chapter needs, and the report `reproduce` writes.

`experiment.py` builds the world and trains the models, `probes.py` labels the tokens and measures the
probes; this module gathers the report. What the page says about the report is in `page.py`.
"""

from __future__ import annotations

import dataclasses

from companion.core import runtime
from companion.core.cache import Result
from companion.core.config import resolve_scale

from .experiment import NAME, SCALES, VERSION, Config, build_world, config_for, world_config
from .probes import run


def summary(result: Result) -> dict:
    """The headline numbers, rounded for prose."""
    m = result.metrics
    keys = ("probe_auc", "entropy_baseline_auc", "cross_domain_auc", "unsupervised_auc", "control_probe_auc",
            "proxy_agreement", "unsupervised_true_label_auc", "probe_true_label_auc")
    found = {key: round(m[key], 3) for key in keys}
    found["probe_gain"] = round(m["probe_auc"] - m["entropy_baseline_auc"], 3)
    found["n_examples"] = m["n_examples"]
    return found


def reproducibility_card(result: Result) -> dict:
    changes = runtime.scale_changes(dataclasses.asdict(Config()), SCALES["full"])
    return runtime.reproducibility_card(NAME, VERSION, result, full_scale_changes=changes)


def world_summary(config: Config) -> dict:
    """The world the page describes: its sizes, how many facts, the supports, and how uncertain a chance
    slot is on average for the smallest and the largest supports (nats)."""
    world = build_world(world_config(config))
    weights = world.value_weights
    entropy = -(weights * weights.clamp_min(1e-30).log()).sum(1)
    support = world.support.sum(1)
    w = world.config
    return {"entities": w.n_entities, "relations": w.n_relations, "values": w.n_values, "classes": w.n_classes,
            "groups": w.n_groups, "sentences": w.sentences, "zipf_exponent": w.zipf_exponent,
            "second_format_share": w.second_format_share, "facts": int(world.is_fact.sum()),
            "support_min": int(support.min()), "support_max": int(support.max()),
            "chance_entropy_smallest": float(entropy[support == support.min()].mean()),
            "chance_entropy_largest": float(entropy[support == support.max()].mean())}


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce knowable-unknowable` writes to knowable-unknowable.json."""
    scale = resolve_scale(scale)
    result = run(config_for(scale, seed=seed))
    m = result.metrics
    keys = ("probe_auc", "entropy_baseline_auc", "cross_domain_auc", "unsupervised_auc", "proxy_agreement",
            "n_examples", "control_probe_auc", "probe_true_label_auc", "unsupervised_true_label_auc",
            "proxy_recall", "labelled", "mean_small_entropy", "n_train", "n_test", "n_transfer", "n_in_context",
            "knowledge_by_frequency", "models", "within_fact", "shuffled_refit_auc", "shuffled_refit_aucs",
            "rule_baseline_auc",
            "relation_transfer_auc", "relation_transfer_aucs", "relation_transfer_n", "entropy_bands",
            "proxy_agreement_values", "labelled_values")
    return {"topic": NAME, "scale": scale, "seed": seed, "config": m["config"], **{key: m[key] for key in keys},
            "world": world_summary(config_for(scale, seed=seed))}
