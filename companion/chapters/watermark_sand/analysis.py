"""Watermarks in the sand: what the chapter concludes from its runs.

`experiment.py` runs the whole pipeline for one seed (train the models, watermark, attack, regenerate,
measure); this module compares the walk with regeneration prompt by prompt, asks whether the judge and
the discriminator tell the texts apart, and writes the report `reproduce` returns. What the page says
about the report is in `page.py`.
"""
from __future__ import annotations

import numpy as np

from companion.core.cache import Result
from companion.core.config import resolve_scale
from companion.core.stats import mean_interval

from .corpus import NAME
from .experiment import QUALITY_SLACK, config_for, run
from .watermarks import SCHEMES

QUALITY_KEYS = ("erased", "erased_quality_kept", "discriminator_auc", "delta_nll", "distinct2", "unique_ratio")
TEXT_KEYS = ("erased_quality_kept_per_text", "delta_nll_ci")  # per text, and the NLL difference's interval
WALK_KEYS = ("changed_fraction",)


def per_prompt(per_scheme: list[list[int]]) -> np.ndarray:
    """One value per prompt: the mean over the schemes. The three schemes continue the same prompts (and
    a regeneration is one text per prompt for all three), so texts of one prompt are not independent;
    intervals are taken over prompts."""
    return np.mean(np.array(per_scheme, dtype=float), axis=0)


def walk_against_regeneration(result: Result) -> dict:
    """Per attacker: the share of texts erased with the quality kept by the walk and by regeneration
    (averaged over the schemes per prompt), and the paired difference (walk minus regeneration), each
    with a t interval over the prompts."""
    schemes = result.metrics["schemes"]
    out = {}
    for name in result.metrics["attackers"]:
        walk = per_prompt([schemes[s]["attackers"][name]["walk"]["erased_quality_kept_per_text"] for s in SCHEMES])
        again = per_prompt([schemes[s]["attackers"][name]["regeneration"]["erased_quality_kept_per_text"]
                            for s in SCHEMES])
        out[name] = {"walk": mean_interval(walk), "regeneration": mean_interval(again),
                     "difference": mean_interval(walk - again)}
    return out


def fresh_sample_kept(result: Result) -> dict:
    """The criterion's ceiling: the share of texts "erased with the quality kept" when the attack is a
    fresh unwatermarked sample from the generator itself (the held-back continuation of each prompt),
    judged against each scheme's watermarked original; with an interval over the prompts."""
    m = result.metrics
    per = m["config"]["plain_per_prompt"]
    fresh_nll = np.array(m["plain"]["judge_nll"])
    kept = []
    for scheme in SCHEMES:
        s = m["schemes"][scheme]
        scores = np.array(s["scores_unwatermarked"])[per - 1::per]  # the held-back sample of each prompt
        original = np.array(s["watermarked"]["judge_nll"])
        kept.append(((scores < s["score_threshold"]) & (fresh_nll <= original + QUALITY_SLACK)).astype(int))
    return mean_interval(per_prompt(kept))


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce watermark-sand` writes to watermark-sand.json."""
    scale = resolve_scale(scale)
    return {"topic": NAME, "scale": scale, "seed": seed, **summarise(run(config_for(scale, seed)))}


def summarise(result: Result) -> dict:
    """One run's report: detection, every attack's erasure and quality, and the walk against regeneration."""
    m = result.metrics
    report = {"models": m["models"],
              "false_positive_rate": {s: m["schemes"][s]["false_positive_rate"] for s in SCHEMES},
              "plain": {**{key: m["plain"][key] for key in ("distinct2", "unique_ratio", "discriminator_auc")},
                        "discriminator_null_max": max(m["discriminator_null"]),
                        "discriminator_null": m["discriminator_null"]}}
    for scheme in SCHEMES:
        s = m["schemes"][scheme]
        report[scheme] = {
            "detect_rate": s["detect_rate"], "false_positive_rate": s["false_positive_rate"],
            "unwatermarked_texts": len(s["scores_unwatermarked"]),
            "watermarked": {key: s["watermarked"][key] for key in (*QUALITY_KEYS[2:], "delta_nll_ci")},
            "blind": {key: s["blind"][key] for key in (*QUALITY_KEYS, *TEXT_KEYS, "acceptance_rate")},
            **{name: {"walk": {key: a["walk"][key] for key in (*QUALITY_KEYS, *TEXT_KEYS, *WALK_KEYS)},
                      "regeneration": {key: a["regeneration"][key] for key in QUALITY_KEYS},
                      "acceptance_rate": a["acceptance_rate"]}
               for name, a in s["attackers"].items()}}
    report["walk_against_regeneration"] = walk_against_regeneration(result)
    report["fresh_sample_kept"] = fresh_sample_kept(result)
    report["config"] = m["config"]
    return report
