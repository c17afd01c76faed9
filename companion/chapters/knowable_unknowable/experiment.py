"""Distinguishing the knowable from the unknowable: probes that tell epistemic from aleatoric uncertainty.

After Ahdritz, Qin, Vyas, Barak and Edelman (2024). A small language model and a larger one are trained
on the same text; where the small model is unsure, the large one stands in for the truth: if it is
confident, the small model's uncertainty was *epistemic* (a lack of knowledge), if it is as unsure,
*aleatoric* (the text itself is random there). A linear probe on the small model's hidden state then
predicts the label, which its entropy alone cannot.

Our text comes from a generator we wrote, so unlike the paper we also know the true label. The story,
in the order of this module:

1. a world of facts and chance: sentences ``class entity relation value`` whose value is either a fact
   (fixed per entity and relation) or drawn afresh each time; which of the two depends on a
   combination of the entity's class and the relation's group, so no single token gives it away;
2. two language models of different sizes trained on its documents (a second sentence format is
   mixed in, for the transfer test);
3. labels from the two models' entropies, balanced per token id; the probe, the entropy baseline,
   the transfer to the second format, and an unsupervised in-context test;
4. what the explorers show: a few held-out documents with every token scored (the figures and the
   explorers themselves are in `figures.py`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from companion.core import runtime
from companion.core.cache import Result, cached_training
from companion.core.config import check_float, check_int, check_seed, resolve_scale
from companion.core.models import Transformer
from companion.core.sweeps import run_cached
from companion.core.training import log_spaced_steps, train

NAME = "knowable-unknowable"
VERSION = 9  # of the analysis (9: the proxy on value tokens, the probe given frequency; 8: controls that can fail,
# within facts with intervals, entropy bands, unseen relations)
MODEL_VERSION = 2  # of the trained language models (2: attention scales q, not the scores)
SLOTS = ("class", "entity", "relation", "value")
# The order of the four slots in a sentence of each format; the value always comes last.
FORMATS = {"A": (0, 1, 2, 3), "B": (2, 0, 1, 3)}
SPECIALS = ("<A>", "<B>")  # each document opens with its format's marker
EPISTEMIC, ALEATORIC, UNLABELLED = 1, 0, -1


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class WorldConfig:
    """The generator of the text: entities, relations, the value pool, and the document layout."""

    n_entities: int = 500
    n_classes: int = 4
    n_relations: int = 12
    n_groups: int = 4
    n_values: int = 128
    support_sizes: tuple = (4, 8, 16, 32, 64, 128)  # relation r draws from support_sizes[r % 6] values
    dirichlet_concentration: float = 4.0  # of the random slots' value weights, shared out over the support
    zipf_exponent: float = 1.0  # entity of rank i is the subject of a document with weight i^-exponent
    sentences: int = 12  # per document, all about one entity
    second_format_share: float = 0.25  # documents written in format B during training
    seed: int = 0

    def __post_init__(self):
        check_int("n_entities", self.n_entities, 8, 100_000)
        check_int("n_classes", self.n_classes, 2, 64)
        check_int("n_relations", self.n_relations, 2, 256)
        check_int("n_groups", self.n_groups, 2, 64)
        check_int("n_values", self.n_values, 2, 4096)
        if not isinstance(self.support_sizes, tuple) or not self.support_sizes:
            raise ValueError(f"support_sizes must be a non-empty tuple of integers, got {self.support_sizes!r}")
        for size in self.support_sizes:
            check_int("support_sizes", size, 2, self.n_values)
        check_float("dirichlet_concentration", self.dirichlet_concentration, 0, 1000, low_inclusive=False)
        check_float("zipf_exponent", self.zipf_exponent, 0, 4)
        check_int("sentences", self.sentences, 2, 64)
        check_float("second_format_share", self.second_format_share, 0, 1)
        check_seed("seed", self.seed)


@dataclass(frozen=True)
class ModelConfig:
    """One language model trained on the world's documents (cached on its own)."""

    world: WorldConfig
    d_model: int
    n_layers: int
    n_heads: int
    steps: int
    lr: float
    batch_size: int = 32
    n_evals: int = 12
    seed: int = 0


@dataclass(frozen=True)
class Config:
    """The chapter's experiment: the world, the two models, the labelling thresholds and the probe."""

    n_entities: int = 500
    n_relations: int = 12
    n_values: int = 128
    dirichlet_concentration: float = 4.0
    zipf_exponent: float = 1.0
    small_width: int = 32
    small_layers: int = 2
    small_heads: int = 2
    large_width: int = 128
    large_layers: int = 2  # a third layer costs half as much again a step and changed no claim (benchmarks/RESULTS.md)
    large_heads: int = 4
    small_steps: int = 2000
    large_steps: int = 1800
    lr: float = 3e-3
    batch_size: int = 32
    control_steps: int = 20  # the barely trained small model whose probe is the control
    min_small_entropy: float = 1.0  # nats: tokens where the small model is this unsure are kept
    max_large_entropy: float = 0.2  # epistemic: the large model is this sure
    aleatoric_tolerance: float = 0.1  # aleatoric: the two entropies differ by at most this
    eval_documents: int = 6000  # half in each format
    train_share: float = 0.7  # of the format-A documents, for fitting the probe
    probe_c: float = 1.0  # inverse L2 strength of the logistic-regression probe
    seed: int = 0

    def __post_init__(self):
        check_int("n_entities", self.n_entities, 8, 100_000)
        check_int("n_relations", self.n_relations, 4, 256)
        check_int("n_values", self.n_values, 128, 4096)
        check_float("dirichlet_concentration", self.dirichlet_concentration, 0, 1000, low_inclusive=False)
        check_float("zipf_exponent", self.zipf_exponent, 0, 4)
        for size in ("small", "large"):
            width, heads = getattr(self, f"{size}_width"), getattr(self, f"{size}_heads")
            check_int(f"{size}_width", width, 8, 512)
            check_int(f"{size}_heads", heads, 1, 16)
            if width % heads:
                raise ValueError(f"{size}_width must be divisible by {size}_heads, got {width} and {heads}")
            check_int(f"{size}_layers", getattr(self, f"{size}_layers"), 1, 8)
            check_int(f"{size}_steps", getattr(self, f"{size}_steps"), 1, 10**6)
        check_float("lr", self.lr, 0, 1, low_inclusive=False)
        check_int("batch_size", self.batch_size, 1, 4096)
        check_int("control_steps", self.control_steps, 0, 10**6)
        check_float("min_small_entropy", self.min_small_entropy, 0, 10)
        check_float("max_large_entropy", self.max_large_entropy, 0, 10, low_inclusive=False)
        check_float("aleatoric_tolerance", self.aleatoric_tolerance, 0, 10, low_inclusive=False)
        check_int("eval_documents", self.eval_documents, 20, 1_000_000)
        check_float("train_share", self.train_share, 0.1, 0.9)
        check_float("probe_c", self.probe_c, 0, 1e6, low_inclusive=False)
        check_seed("seed", self.seed)


SCALES = {
    "test": dict(small_steps=1500, large_steps=1200, eval_documents=4000),
    "book": dict(),
    "full": dict(n_entities=1000, small_steps=3000, large_width=160, large_layers=3, large_steps=5000,
                 eval_documents=12000),
}


def config_for(scale: str | None = None, seed: int = 0, **overrides) -> Config:
    """The chapter's settings at a scale (``test``, ``book`` or ``full``), with any overrides."""
    return Config(**{**SCALES[resolve_scale(scale)], "seed": seed, **overrides})


def world_config(config: Config) -> WorldConfig:
    return WorldConfig(n_entities=config.n_entities, n_relations=config.n_relations, n_values=config.n_values,
                       dirichlet_concentration=config.dirichlet_concentration, zipf_exponent=config.zipf_exponent,
                       seed=config.seed)


def model_config(config: Config, size: str) -> ModelConfig:
    """``size`` is "small", "large", or "control" (the small architecture after `control_steps` steps)."""
    if size not in ("small", "large", "control"):
        raise ValueError(f"size must be one of ('small', 'large', 'control'), got {size!r}")
    shape = "large" if size == "large" else "small"
    steps = config.control_steps if size == "control" else getattr(config, f"{shape}_steps")
    return ModelConfig(world=world_config(config), d_model=getattr(config, f"{shape}_width"),
                       n_layers=getattr(config, f"{shape}_layers"), n_heads=getattr(config, f"{shape}_heads"),
                       steps=steps, lr=config.lr, batch_size=config.batch_size, seed=config.seed)


# ----------------------------------------------------------------------------- the world

@dataclass
class World:
    """Everything the generator fixes once: who is what, which slots are facts, and the facts."""

    config: WorldConfig
    entity_class: torch.Tensor  # (entities,)
    entity_weight: torch.Tensor  # (entities,): Zipf probabilities, entity i has rank i + 1
    relation_group: torch.Tensor  # (relations,)
    support: torch.Tensor  # (relations, values) bool: the values a relation can take
    value_weights: torch.Tensor  # (relations, values): a random slot's distribution, zero off the support
    facts: torch.Tensor  # (entities, relations): the fixed value of each fact slot
    is_fact: torch.Tensor  # (entities, relations) bool

    @property
    def offsets(self) -> dict[str, int]:
        """First token id of each slot's vocabulary; ids 0 and 1 are the format markers."""
        c = self.config
        sizes = (c.n_classes, c.n_entities, c.n_relations, c.n_values)
        starts = np.cumsum((len(SPECIALS),) + sizes)
        return dict(zip(SLOTS, (int(s) for s in starts[:-1])))

    @property
    def vocab_size(self) -> int:
        c = self.config
        return len(SPECIALS) + c.n_classes + c.n_entities + c.n_relations + c.n_values

    def token_name(self, token: int) -> str:
        """A short readable name: <A>, K2 (class), e17 (entity), r5 (relation), v88 (value)."""
        if not 0 <= token < self.vocab_size:
            raise ValueError(f"token must be between 0 and {self.vocab_size - 1} (the vocabulary), got {token}")
        if token < len(SPECIALS):
            return SPECIALS[token]
        slot, letter = next((s, letter) for s, letter in zip(reversed(SLOTS), "vreK") if token >= self.offsets[s])
        return f"{letter}{token - self.offsets[slot]}"


def build_world(config: WorldConfig) -> World:
    """The world of one seed.

    A slot (entity, relation) is a fact when the entity's class and the relation's group have the same
    parity. Fact values are uniform on the relation's support; random slots draw from Dirichlet weights
    on the same support, so both kinds share the value pool and the mix of support sizes. The Dirichlet's
    total concentration is fixed, so a random slot's entropy grows only slowly with its support (about
    1 nat for 4 values, 2 for 128), like the entropy of a fact that a model half knows: a model that
    does not know a fact is as unsure there as on a random slot, or more.
    """
    rng = np.random.default_rng([config.seed, 7])
    c = config
    entity_class = torch.from_numpy(rng.integers(c.n_classes, size=c.n_entities))
    weight = np.arange(1, c.n_entities + 1, dtype=float) ** -c.zipf_exponent
    relation_group = torch.arange(c.n_relations) % c.n_groups
    value_weights = np.zeros((c.n_relations, c.n_values))
    in_support = np.zeros((c.n_relations, c.n_values), dtype=bool)
    facts = np.zeros((c.n_entities, c.n_relations), dtype=np.int64)
    for r in range(c.n_relations):
        support = rng.choice(c.n_values, size=c.support_sizes[r % len(c.support_sizes)], replace=False)
        in_support[r, support] = True
        # (some weights can be zero in floating point when the concentration per value is small)
        value_weights[r, support] = rng.dirichlet(np.full(len(support), c.dirichlet_concentration / len(support)))
        facts[:, r] = rng.choice(support, size=c.n_entities)
    is_fact = (entity_class[:, None] + relation_group[None, :]) % 2 == 0
    return World(c, entity_class, torch.from_numpy(weight / weight.sum()).float(), relation_group,
                 torch.from_numpy(in_support), torch.from_numpy(value_weights).float(), torch.from_numpy(facts),
                 is_fact)


@dataclass
class Documents:
    """A batch of documents and what the generator knows about each of their tokens.

    ``tokens`` is (n, 1 + 4 * sentences): a format marker, then the sentences. Position t of the
    per-target arrays describes the token at t + 1, the one a model predicts after reading t.
    """

    tokens: torch.Tensor
    entity: torch.Tensor  # (n,)
    relations: torch.Tensor  # (n, sentences)
    fact: torch.Tensor  # (n, sentences) bool: the sentence's value is a fact
    second_format: torch.Tensor  # (n,) bool

    @property
    def slot(self) -> torch.Tensor:
        """(n, 4 * sentences): the slot (index into SLOTS) of each target token."""
        n, sentences = self.relations.shape
        order_a = torch.tensor(FORMATS["A"]).repeat(sentences)
        order_b = torch.tensor(FORMATS["B"]).repeat(sentences)
        return torch.where(self.second_format[:, None], order_b, order_a)

    @property
    def knowable(self) -> torch.Tensor:
        """(n, 4 * sentences) bool: the generator fixes the target given the text before it.

        That is a fact's value, and the class and entity after the first sentence (a document keeps
        its entity). Relations, the first sentence's class and entity, and random values are chance.
        """
        slot = self.slot
        n, width = slot.shape
        later = (torch.arange(width) >= 4)[None, :]
        fact_value = (slot == SLOTS.index("value")) & self.fact.repeat_interleave(4, dim=1)
        return fact_value | (later & (slot <= SLOTS.index("entity")))

    @property
    def first_mention(self) -> torch.Tensor:
        """(n, sentences) bool: the sentence's relation has not appeared earlier in the document."""
        r = self.relations
        earlier = (r[:, :, None] == r[:, None, :]).tril(diagonal=-1).any(-1)
        return ~earlier


def sample_documents(world: World, n: int, generator: torch.Generator,
                     second_format_share: float | None = None) -> Documents:
    """n documents, each about one Zipf-drawn entity, one sentence per uniformly drawn relation.

    Relations recur within a document (12 draws from 12 relations), and a recurring fact repeats its
    value: the models learn to copy facts from their context, which the in-context test relies on.
    """
    c = world.config
    share = c.second_format_share if second_format_share is None else second_format_share
    entity = torch.multinomial(world.entity_weight, n, replacement=True, generator=generator)
    relations = torch.randint(c.n_relations, (n, c.sentences), generator=generator)
    random_values = torch.multinomial(world.value_weights[relations.reshape(-1)], 1,
                                      generator=generator).view(n, c.sentences)
    fact = world.is_fact[entity[:, None], relations]
    values = torch.where(fact, world.facts[entity[:, None], relations], random_values)
    second = torch.rand(n, generator=generator) < share
    o = world.offsets
    slots = torch.stack([o["class"] + world.entity_class[entity][:, None].expand(n, c.sentences),
                         o["entity"] + entity[:, None].expand(n, c.sentences),
                         o["relation"] + relations, o["value"] + values], -1)  # (n, sentences, 4) in SLOTS order
    sentences = torch.where(second[:, None, None], slots[..., list(FORMATS["B"])], slots[..., list(FORMATS["A"])])
    marker = second.long()[:, None]  # <A> is token 0, <B> token 1
    tokens = torch.cat([marker, sentences.reshape(n, -1)], 1)
    return Documents(tokens, entity, relations, fact, second)


def describe_document(world: World, docs: Documents, index: int, sentences: int = 6) -> str:
    """The first sentences of a document in token names, each marked fact or chance."""
    tokens = docs.tokens[index].tolist()
    lines = [f"format {'B' if docs.second_format[index] else 'A'}: {world.token_name(tokens[0])}"]
    for s in range(min(sentences, world.config.sentences)):
        words = " ".join(world.token_name(t) for t in tokens[1 + 4 * s:5 + 4 * s])
        kind = "fact" if docs.fact[index, s] else "chance"
        again = "" if docs.first_mention[index, s] else ", relation seen before"
        lines.append(f"  {words:<20} ({kind}{again})")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the language models

def build_model(config: ModelConfig, world: World) -> Transformer:
    # room for the in-context test, which puts one more sentence in front of a document
    max_len = 4 * config.world.sentences + 8
    return Transformer(world.vocab_size, d_model=config.d_model, n_layers=config.n_layers, n_heads=config.n_heads,
                       max_len=max_len, positional="relative", attention_only=False, layer_norm=True,
                       init_std=0.02)


def forward_with_states(model: Transformer, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, T, K) and the last block's residual stream (B, T, D): what the probe reads."""
    x = model.embed(tokens)
    for block in model.blocks:
        x, _ = block(x)
    return model.unembed(model.norm(x)), x


@torch.no_grad()
def token_statistics(model: Transformer, inputs: torch.Tensor, chunk: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token entropies (B, T) and last-block states (B, T, D), a chunk of documents at a time
    (the logits of thousands of documents over the whole vocabulary would not fit in memory)."""
    entropies, states = [], []
    for start in range(0, len(inputs), chunk):
        logits, state = forward_with_states(model, inputs[start:start + chunk])
        entropies.append(entropy(logits))
        states.append(state)
    return torch.cat(entropies), torch.cat(states)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of the softmax of the last axis."""
    log_p = logits.log_softmax(-1)
    return -(log_p.exp() * log_p).sum(-1)


def _lm_loss(model, tokens):
    logits, _ = model(tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))


def warmup_cosine(step: int, steps: int, warmup_share: float = 0.05) -> float:
    """The learning-rate factor: a linear warm-up over the first 5% of steps, then a cosine decay to zero."""
    warmup = max(1, int(warmup_share * steps))
    return min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, steps) / max(steps, 1)))


def _train_model(config: ModelConfig, device: torch.device) -> Result:
    started = time.perf_counter()
    world = build_world(config.world)
    generator = runtime.derived_generator(config.seed, 1, config.d_model, config.n_layers)
    torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
    model = build_model(config, world).to(device)
    valid = sample_documents(world, 256, runtime.derived_generator(config.seed, 2))
    value_positions = valid.slot == SLOTS.index("value")
    first = valid.first_mention.repeat_interleave(4, dim=1)
    fact = valid.fact.repeat_interleave(4, dim=1)
    valid_tokens = valid.tokens.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, config.steps))

    def evaluate(step: int) -> dict:
        logits, _ = model(valid_tokens[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2), valid_tokens[:, 1:], reduction="none").cpu()
        h = entropy(logits).cpu()
        return {"loss": loss.mean().item(),
                "fact_entropy": h[value_positions & first & fact].mean().item(),
                "random_entropy": h[value_positions & first & ~fact].mean().item()}

    history = train(model, lambda step: (sample_documents(world, config.batch_size, generator).tokens.to(device),),
                    _lm_loss, steps=config.steps, optimizer=optimizer, evaluate=evaluate,
                    eval_steps=log_spaced_steps(config.steps, config.n_evals),
                    description=f"{NAME} d={config.d_model}", scheduler=scheduler)
    metrics = {"config": dataclasses.asdict(config), **history,
               "parameters": sum(p.numel() for p in model.parameters()),
               "wall_seconds": round(time.perf_counter() - started, 2)}
    return Result(metrics=metrics, arrays={f"weights.{k}": v.cpu() for k, v in model.state_dict().items()})


def _train_by_name(config: ModelConfig) -> Result:
    """Train (or load) one model; `model_config(config, size)` names the small, large or control one."""
    return cached_training(f"{NAME}-model", MODEL_VERSION, config, _train_model)


SIZES = ("large", "small", "control")  # the longest first, so that parallel processes finish together


def train_models(config: Config, n_jobs: int = 2) -> dict[str, Result]:
    """The three models of a config, the missing ones trained in parallel processes (one thread each)."""
    return train_many([config], n_jobs)[0]


def train_many(configs: list[Config], n_jobs: int = 2) -> list[dict[str, Result]]:
    """The models of several configs (seeds, say), all missing ones trained in one pool of processes."""
    wanted = [model_config(config, size) for config in configs for size in SIZES]
    trained = run_cached(_train_by_name, wanted, f"{NAME}-model", MODEL_VERSION, n_jobs=n_jobs)
    return [dict(zip(SIZES, trained[i:i + len(SIZES)])) for i in range(0, len(trained), len(SIZES))]


def load_model(result: Result, world: World) -> Transformer:
    c = result.metrics["config"]
    config = ModelConfig(**{**c, "world": world.config})
    model = build_model(config, world)
    model.load_state_dict({k.removeprefix("weights."): v for k, v in result.arrays.items()})
    return model.eval()
