"""Watermarks in the sand: a random walk of small edits erases a watermark while the text stays good.

After Zhang, Edelman, Francati, Venturi, Ateniese and Barak (2024). A watermark tilts a language
model's sampling with a secret key so that a detector holding the key can tell its text from
anyone else's. The paper's argument: an attacker who can (i) perturb a text a little, keeping its
meaning, and (ii) tell whether a change kept the quality, can walk at random among good texts; the
walk mixes, and the watermark, which only a vanishing fraction of good texts carries, is lost. The
story, in the order of its files:

1. `corpus.py`: the world, documentation text that ships with Python, split into word tokens;
2. `language_models.py`: the language models trained here, each on its own share of the text: the
   *generator*, which watermarks; the *judge*, which only measures quality at the end; and on the
   attacker's share, three *attackers* of different strengths, all weaker than the generator, which
   propose the perturbations, and a *quality oracle*, a separate model that accepts or rejects them;
3. `watermarks.py`: three watermarks, each with generation and detection: a green list seeded by the
   previous token (Kirchenbauer et al.), one fixed green list (Zhao et al.) and exponential-minimum
   sampling with a keyed sequence of uniforms and a Levenshtein-aligned test (Kuditipudi et al.);
4. `attack.py`: mask a short span, resample it from an attacker's model (sampled at temperature 1,
   the filling chosen to fit the text on its right), keep the change only if the oracle scores the
   text no worse than the watermarked original; repeat;
5. `quality.py`: quality as a referee would accept it offline: a two-sample discriminator on the
   judge's hidden states (attacked texts against unwatermarked continuations of the same prompts) and
   the texts' diversity;
6. this file: one seed's whole pipeline, with the controls (each attacker simply *regenerating* the
   text from the prompt with its own model, and a *blind* walk whose fillings ignore the context),
   detection and paired false positives, and the judge's NLL difference to unwatermarked continuations.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from companion.core.cache import Result, cached_training
from companion.core.config import check_int, check_seed, resolve_scale
from companion.core.models import Transformer
from companion.core.runtime import derived_generator
from companion.core.stats import mean_interval
from companion.core.sweeps import run_cached

from .attack import Attack, random_walk
from .corpus import NAME, VERSION, split_ids
from .language_models import ModelConfig, language_model, train_language_model
from .quality import discriminator_auc, discriminator_null, distinct_2, judge_features, unique_ratio
from .watermarks import SCHEMES, Watermark, detect, detection_score, generate, score_threshold

# ----------------------------------------------------------------------------- the experiment

QUALITY_SLACK = 0.1  # a text "keeps its quality" if the judge's NLL per token is at most this above the original's


def attacker_name(model: ModelConfig) -> str:
    return f"width {model.width}, {model.steps} steps"


@dataclass(frozen=True)
class Config:
    """Everything one run of the chapter depends on. `texts` prompts (of `prompt_length` held-out
    tokens) are continued by `new_tokens` once with each scheme, and `plain_per_prompt` times without
    a watermark (the false positives, paired with the watermarked texts by prompt, and the reference
    of every quality comparison; one of them per prompt is held back as the discriminator's control).
    Every watermarked text is then attacked by each of `attackers` walking with `walk`, and by the
    `blind_walk`; the `oracle` judges every walk's proposals. The attackers are listed strongest first."""

    texts: int = 32
    plain_per_prompt: int = 4
    prompt_length: int = 8
    new_tokens: int = 56
    gamma: float = 0.25
    delta: float = 2.0
    generator: ModelConfig = ModelConfig(part="generator")
    judge: ModelConfig = ModelConfig(part="judge", seed=1)
    oracle: ModelConfig = ModelConfig(part="attack", seed=2, steps=600)
    attackers: tuple[ModelConfig, ...] = (ModelConfig(part="attack", width=32, steps=250, seed=3),
                                          ModelConfig(part="attack", width=32, steps=150, seed=4),
                                          ModelConfig(part="attack", width=16, steps=100, seed=5))
    walk: Attack = Attack()
    blind_walk: Attack = Attack(perturbation="blind")
    seed: int = 0

    def __post_init__(self):
        check_int("texts", self.texts, 2, 10000)
        check_int("plain_per_prompt", self.plain_per_prompt, 2, 100)
        check_int("prompt_length", self.prompt_length, 1, 64)
        check_int("new_tokens", self.new_tokens, 8, 512)
        for name, kind in (("generator", ModelConfig), ("judge", ModelConfig), ("oracle", ModelConfig),
                           ("walk", Attack), ("blind_walk", Attack)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        if (not isinstance(self.attackers, tuple) or not self.attackers
                or not all(isinstance(a, ModelConfig) for a in self.attackers)):
            raise ValueError(f"attackers must be a non-empty tuple of ModelConfig, got {self.attackers!r}")
        if len({attacker_name(a) for a in self.attackers}) < len(self.attackers):
            raise ValueError("attackers must differ in width or steps (they are named by them)")
        if self.prompt_length + self.new_tokens > self.generator.context:
            raise ValueError(f"prompt_length + new_tokens must be at most the models' context "
                             f"{self.generator.context}, got {self.prompt_length + self.new_tokens}")
        check_seed("seed", self.seed)
        for scheme in SCHEMES:  # gamma and delta as each watermark checks them (gamma < 1, say)
            self.watermark(scheme)
        parts = {"generator": self.generator.part, "judge": self.judge.part, "oracle": self.oracle.part,
                 **{f"attackers[{i}]": a.part for i, a in enumerate(self.attackers)}}
        for role, part in parts.items():
            wanted = role.split("[")[0].replace("oracle", "attack").replace("attackers", "attack")
            if part != wanted:
                raise ValueError(f"{role} must train on the part {wanted!r} (no two roles share text), got {part!r}")

    def watermark(self, scheme: str) -> Watermark:
        return Watermark(scheme=scheme, gamma=self.gamma, delta=self.delta, key=15485863 + self.seed,
                         vocab_size=self.generator.vocab_size)

    @property
    def language_models(self) -> dict[str, ModelConfig]:
        return {"generator": self.generator, "judge": self.judge, "oracle": self.oracle,
                **{attacker_name(a): a for a in self.attackers}}


SCALES = {
    "test": dict(texts=12, plain_per_prompt=3, generator=ModelConfig(part="generator", steps=300),
                 judge=ModelConfig(part="judge", seed=1, steps=300),
                 oracle=ModelConfig(part="attack", seed=2, steps=300),
                 attackers=(ModelConfig(part="attack", width=32, steps=150, seed=3),
                            ModelConfig(part="attack", width=32, steps=80, seed=4),
                            ModelConfig(part="attack", width=16, steps=100, seed=5)),
                 walk=Attack(steps=40, record_every=10),
                 blind_walk=Attack(steps=40, perturbation="blind", record_every=10)),
    "book": dict(),
    "full": dict(texts=100, generator=ModelConfig(part="generator", width=128, heads=4, steps=3000),
                 judge=ModelConfig(part="judge", width=128, heads=4, steps=3000, seed=1),
                 oracle=ModelConfig(part="attack", width=128, heads=4, steps=2000, seed=2),
                 attackers=(ModelConfig(part="attack", width=96, heads=4, steps=1500, seed=3),
                            ModelConfig(part="attack", width=64, steps=800, seed=4),
                            ModelConfig(part="attack", width=32, steps=300, seed=5)),
                 walk=Attack(steps=160), blind_walk=Attack(steps=160, perturbation="blind")),
}


def config_for(scale: str | None = None, seed: int = 0, **changes) -> Config:
    return Config(seed=seed, **{**SCALES[resolve_scale(scale)], **changes})


def models(config: Config) -> dict[str, Transformer]:
    """Every language model of the run by role (attackers by name), trained in parallel processes when
    the cache lacks them."""
    wanted = config.language_models
    run_cached(train_language_model, list(wanted.values()), f"{NAME}-lm", VERSION)
    return {role: language_model(c)[0] for role, c in wanted.items()}


def word_frequencies(vocab_size: int) -> torch.Tensor:
    """The attacker's text's token frequencies (no <unk>): what a blind perturbation draws from."""
    counts = torch.bincount(torch.from_numpy(split_ids(vocab_size)["attack"]), minlength=vocab_size).float()
    counts[0] = 0
    return counts / counts.sum()


def held_out_prompts(config: Config, count: int, stream: int = 31) -> torch.Tensor:
    """`count` windows of `prompt_length` tokens from the held-out part, without <unk>."""
    ids = torch.from_numpy(split_ids(config.generator.vocab_size)["prompts"])
    generator = derived_generator(config.seed, stream)
    prompts = []
    while len(prompts) < count:
        start = int(torch.randint(0, len(ids) - config.prompt_length, (1,), generator=generator))
        window = ids[start:start + config.prompt_length]
        if (window != 0).all():
            prompts.append(window)
    return torch.stack(prompts)


class Referee:
    """The quality measures of a set of texts, one per prompt, against the unwatermarked continuations
    of the same prompts (`reference_features`: the judge's `judge_features` of several per prompt,
    prompt by prompt), all read by the judge."""

    def __init__(self, judge: Transformer, reference_features: np.ndarray, per_prompt: int, prompt_length: int):
        self.judge, self.prompt_length = judge, prompt_length
        self.reference_features = reference_features
        self.reference_prompts = np.repeat(np.arange(len(reference_features) // per_prompt), per_prompt)
        self.reference_nll = reference_features[:, -1].reshape(-1, per_prompt).mean(1)  # per prompt

    def measure(self, texts: torch.Tensor) -> dict:
        features = judge_features(self.judge, texts, self.prompt_length)
        nll = features[:, -1]
        difference = mean_interval(nll - self.reference_nll)
        auc = discriminator_auc(features, np.arange(len(texts)), self.reference_features, self.reference_prompts)
        return {"discriminator_auc": auc,
                "delta_nll": difference["mean"], "delta_nll_ci": difference["ci"],
                "distinct2": float(distinct_2(texts, self.prompt_length).mean()),
                "unique_ratio": float(unique_ratio(texts, self.prompt_length).mean()),
                "judge_nll": nll.tolist()}


def _detections(watermark: Watermark, texts: torch.Tensor, prompt_length: int, generator: torch.Generator) -> list:
    return [detect(watermark, text, prompt_length, generator) for text in texts]


def _attacked(referee: Referee, watermark: Watermark, texts: torch.Tensor, original_nll: np.ndarray,
              prompt_length: int, generator: torch.Generator) -> dict:
    """What an attack left: erased (no longer detected), erased with the quality kept (and the judge's NLL
    at most QUALITY_SLACK above the watermarked original's), and the referee's quality measures."""
    found = _detections(watermark, texts, prompt_length, generator)
    measured = referee.measure(texts)
    erased = np.array([not r["detected"] for r in found])
    kept = np.array(measured["judge_nll"]) <= original_nll + QUALITY_SLACK
    return {"erased": float(erased.mean()), "erased_quality_kept": float((erased & kept).mean()),
            "erased_quality_kept_per_text": (erased & kept).astype(int).tolist(),
            "scores": [detection_score(watermark, r) for r in found], **measured}


def _compute(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    lms = models(config)
    P, n = config.prompt_length, config.texts
    prompts = held_out_prompts(config, n)
    generator = derived_generator(config.seed, 32)
    frequencies = word_frequencies(config.generator.vocab_size)
    # plain[i * per_prompt + j]: the j-th unwatermarked continuation of prompt i; the last one of each
    # prompt is held back, so that the discriminator can be shown two samples of the same kind
    per_prompt = config.plain_per_prompt
    plain, _ = generate(lms["generator"], prompts.repeat_interleave(per_prompt, 0), config.new_tokens, None,
                        generator)
    held_back = torch.arange(len(plain)) % per_prompt == per_prompt - 1
    plain_features = judge_features(lms["judge"], plain, P)  # read once: the reference and the null
    referee = Referee(lms["judge"], plain_features[~held_back.numpy()], per_prompt - 1, P)
    marked = {scheme: generate(lms["generator"], prompts, config.new_tokens, config.watermark(scheme), generator)[0]
              for scheme in SCHEMES}
    everything = torch.cat([marked[scheme] for scheme in SCHEMES])
    names = [attacker_name(a) for a in config.attackers]
    walks = {name: random_walk(lms[name], lms["oracle"], everything, P, config.walk, frequencies, generator)
             for name in names}
    blind = random_walk(None, lms["oracle"], everything, P, config.blind_walk, frequencies, generator)
    regenerated = {name: generate(lms[name], prompts, config.new_tokens, None, generator)[0] for name in names}

    metrics = {"config": dataclasses.asdict(config), "checkpoints": walks[names[0]]["steps"],
               "attackers": names, "schemes": {},
               "discriminator_null": discriminator_null(plain_features, per_prompt, config.seed),
               "plain": {**referee.measure(plain[held_back]),
                         "scores": {}}}
    arrays = {"prompts": prompts, "plain": plain}
    for i, scheme in enumerate(SCHEMES):
        rows = slice(i * n, (i + 1) * n)
        metrics["schemes"][scheme], arrays[f"{scheme}_walk"] = _measure_scheme(
            config, scheme, marked[scheme], plain, referee, walks, blind, rows,
            regenerated, generator)
    metrics["regeneration_texts"] = {name: regenerated[name].tolist() for name in names}
    losses = {role: language_model(c)[1].metrics["held_out_loss"] for role, c in config.language_models.items()}
    metrics["models"] = {"generator_loss": losses["generator"], "judge_loss": losses["judge"],
                         "oracle_loss": losses["oracle"],
                         "attackers": [{"name": name, "loss": losses[name]} for name in names]}
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    return Result(metrics=metrics, arrays=arrays)


def _measure_scheme(config: Config, scheme: str, marked: torch.Tensor, plain: torch.Tensor, referee: Referee,
                    walks: dict, blind: dict, rows: slice, regenerated: dict, generator: torch.Generator):
    """One scheme's detection, false positives and quality, and every attack on its texts (`rows` of the
    walks): each attacker's walk and regeneration, and the blind walk. Returns the measurements and the
    strongest attacker's walk, snapshot by snapshot (snapshots, texts, tokens), for the page's explorer."""
    P = config.prompt_length
    watermark = config.watermark(scheme)
    before = _detections(watermark, marked, P, generator)
    null = _detections(watermark, plain, P, generator)
    watermarked = referee.measure(marked)
    original_nll = np.array(watermarked["judge_nll"])
    names, per_attacker = list(walks), {}
    for name in names:
        snapshots = walks[name]["snapshots"][:, rows]
        walk = _attacked(referee, watermark, snapshots[-1], original_nll, P, generator)
        if name == names[0]:  # the strongest attacker's walk, followed step by step on the page
            walk["score_trace"] = [[detection_score(watermark, r) for r in _detections(watermark, s, P, generator)]
                                   for s in snapshots[:-1]] + [walk["scores"]]
            followed = snapshots
        walk["changed_fraction"] = float((snapshots[-1][:, P:] != snapshots[0][:, P:]).float().mean())
        per_attacker[name] = {
            "walk": walk,
            "regeneration": _attacked(referee, watermark, regenerated[name], original_nll, P, generator),
            "acceptance_rate": float(walks[name]["acceptance_rate"][rows].mean())}
    blind_final = blind["snapshots"][-1, rows]
    measured = {
        "detect_rate": float(np.mean([r["detected"] for r in before])),
        "false_positive_rate": float(np.mean([r["detected"] for r in null])),
        "stat_before": float(np.median([r["statistic"] for r in before])),
        "stat_null": float(np.median([r["statistic"] for r in null])),
        "score_threshold": score_threshold(watermark),
        "scores_unwatermarked": [detection_score(watermark, r) for r in null],
        "scores_watermarked": [detection_score(watermark, r) for r in before],
        "watermarked": watermarked,
        "attackers": per_attacker,
        "blind": {**_attacked(referee, watermark, blind_final, original_nll, P, generator),
                  "acceptance_rate": float(blind["acceptance_rate"][rows].mean()),
                  "changed_fraction": float((blind_final[:, P:] != marked[:, P:]).float().mean())},
    }
    return measured, followed


def run(config: Config, use_cache: bool = True) -> Result:
    """Generate, detect, attack and judge (or load all of it from the cache)."""
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device="cpu")


# ----------------------------------------------------------------------------- the page's sentences
