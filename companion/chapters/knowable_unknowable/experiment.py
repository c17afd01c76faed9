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


def run_many(configs: list[Config], n_jobs: int = 2) -> list[Result]:
    """Several experiments: first every model they need, in parallel, then each analysis."""
    train_many(configs, n_jobs)
    return [run(config) for config in configs]


def load_model(result: Result, world: World) -> Transformer:
    c = result.metrics["config"]
    config = ModelConfig(**{**c, "world": world.config})
    model = build_model(config, world)
    model.load_state_dict({k.removeprefix("weights."): v for k, v in result.arrays.items()})
    return model.eval()


# ----------------------------------------------------------------------------- labels and the balanced data set

def label_tokens(small_entropy: torch.Tensor, large_entropy: torch.Tensor, min_small_entropy: float,
                 max_large_entropy: float, aleatoric_tolerance: float) -> torch.Tensor:
    """The paper's labels from two models' entropies: 1 epistemic, 0 aleatoric, -1 neither.

    Only tokens where the small model is unsure (entropy at least `min_small_entropy`) are labelled:
    epistemic where the large model is sure (below `max_large_entropy`), aleatoric where it is about
    as unsure as the small one (the entropies within `aleatoric_tolerance`).
    """
    unsure = small_entropy >= min_small_entropy
    labels = torch.full(small_entropy.shape, UNLABELLED, dtype=torch.long)
    labels[unsure & ((large_entropy - small_entropy).abs() <= aleatoric_tolerance)] = ALEATORIC
    labels[unsure & (large_entropy < max_large_entropy)] = EPISTEMIC
    return labels


def balanced_examples(labels: np.ndarray, keys, rng: np.random.Generator, max_rounds: int = 50) -> np.ndarray:
    """Indices of a data set with as many epistemic as aleatoric examples for every value of every key.

    ``keys`` is one array (the paper's choice: the id of the token predicted) or a list of arrays,
    one entry per token each. Examples are dropped at random from the larger label of each group
    until no group of any key is unbalanced, so no key, alone, tells the probe anything. Returned sorted.
    """
    labels = np.asarray(labels)
    columns = [np.asarray(keys)] if isinstance(keys, np.ndarray) else [np.asarray(k) for k in keys]
    order = rng.permutation(np.flatnonzero(labels >= 0))  # dropping from the end of a random order
    epistemic = labels[order] == EPISTEMIC
    keep = np.ones(len(order), dtype=bool)
    for _ in range(max_rounds):
        changed = False
        for column in columns:
            groups = np.unique(column[order], return_inverse=True)[1]
            for flag in (True, False):  # thin out each group's excess of one label
                mine = keep & (epistemic == flag)
                other = np.bincount(groups[keep & (epistemic != flag)], minlength=groups.max() + 1)
                rank = _rank_within_group(groups, mine)
                drop = mine & (rank >= other[groups])
                if drop.any():
                    keep &= ~drop
                    changed = True
        if not changed:
            break
    return np.sort(order[keep])


def _rank_within_group(groups: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """For each selected entry, how many selected entries of its group come before it (0, 1, 2, ...)."""
    rank = np.zeros(len(groups), dtype=int)
    index = np.flatnonzero(selected)
    by_group = index[np.argsort(groups[index], kind="stable")]
    starts = np.searchsorted(groups[by_group], groups[by_group], side="left")
    rank[by_group] = np.arange(len(by_group)) - starts
    return rank


def fit_probe(features: np.ndarray, labels: np.ndarray, c: float = 1.0):
    """A linear probe: standardised features, L2-regularised logistic regression (scikit-learn)."""
    # scikit-learn is imported here, not at the top: only the runs that use it pay its second of loading
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000)).fit(features, labels)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The area under the ROC curve of `scores` for 0/1 `labels`: the Mann-Whitney statistic from the
    scores' ranks, ties counting one half, which is what scikit-learn's roc_auc_score computes. The
    bootstraps call it thousands of times, and roc_auc_score's checks made up half the chapter's analysis."""
    # scipy is imported here, not at the top: only the runs that use it pay its second of loading
    from scipy.stats import rankdata

    labels, ranks = np.asarray(labels), rankdata(scores)
    positive = labels == 1
    if not np.isin(labels, (0, 1)).all() or positive.all() or not positive.any():
        raise ValueError(f"auc needs labels of 0 and 1, both present, got the values {np.unique(labels)}")
    n_positive, n_negative = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


@torch.no_grad()
def in_context_shift(model: Transformer, tokens: torch.Tensor, positions: torch.Tensor) -> tuple[np.ndarray, ...]:
    """The unsupervised test: show the model its own answer in context and see how far it moves.

    For each (document, position) whose target is a value, the model's most likely value is written
    into a copy of the current sentence, put right after the format marker, and the model reads the
    document again. KL(after || before) is large where the model copies (it treats the slot as a fact it
    lacks) and small where it does not (it treats the slot as chance). Returns the KL and both entropies.
    """
    documents, ends = tokens[:, :-1], positions
    before_logits, _ = forward_with_states(model, documents)
    before = before_logits[torch.arange(len(ends)), ends].log_softmax(-1)
    candidate = before.argmax(-1)
    width = documents.shape[1] + 4
    shown = torch.zeros(len(ends), width, dtype=torch.long)
    for i, (document, end) in enumerate(zip(documents, ends.tolist())):
        sentence = torch.cat([document[end - 2:end + 1], candidate[i:i + 1]])
        context = torch.cat([document[:1], sentence, document[1:end + 1]])
        shown[i, :len(context)] = context  # padding on the right: a causal model never reads it
    after_logits, _ = forward_with_states(model, shown)
    after = after_logits[torch.arange(len(ends)), ends + 4].log_softmax(-1)
    kl = (after.exp() * (after - before)).sum(-1)
    return kl.numpy(), entropy(before).numpy(), entropy(after).numpy()


# ----------------------------------------------------------------------------- the experiment

FREQUENCY_BINS = (1, 10, 30, 100, 300, 1000, 3000, 10_000, 100_000)


def held_out_entities(n_entities: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask over entities: `share` of each block of ten consecutive ranks, chosen at random,
    so the held-out entities span the same range of frequencies as the rest."""
    mask = np.zeros(n_entities, dtype=bool)
    for start in range(0, n_entities, 10):
        block = np.arange(start, min(start + 10, n_entities))
        mask[rng.choice(block, max(1, round(share * len(block))), replace=False)] = True
    return mask


def _analyse(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    models = train_models(config)  # outside any no_grad: a model missing from the cache may train in this process
    world = build_world(world_config(config))
    small, large, control = (load_model(models[size], world) for size in ("small", "large", "control"))
    docs = sample_documents(world, config.eval_documents, runtime.derived_generator(config.seed, 3),
                            second_format_share=0.5)
    inputs, targets = docs.tokens[:, :-1], docs.tokens[:, 1:]
    h_small, states = token_statistics(small, inputs)
    h_large, _ = token_statistics(large, inputs)
    _, control_states = token_statistics(control, inputs)
    labels = label_tokens(h_small, h_large, config.min_small_entropy, config.max_large_entropy,
                          config.aleatoric_tolerance)
    knowable = docs.knowable

    # the proxy against the truth, on every labelled token and on the value tokens alone: the relation
    # tokens, always chance and uncertain to both models, make up much of the rest and are easy to call
    labelled = labels >= 0
    proxy_right = (labels == EPISTEMIC) == knowable
    proxy_agreement = proxy_right[labelled].float().mean().item()
    labelled_values = labelled & (docs.slot == SLOTS.index("value"))
    proxy_agreement_values = proxy_right[labelled_values].float().mean().item()
    unsure_knowable = knowable & (h_small >= config.min_small_entropy)
    proxy_recall = {name: (labels[unsure_knowable] == code).float().mean().item()
                    for name, code in (("epistemic", EPISTEMIC), ("aleatoric", ALEATORIC), ("neither", UNLABELLED))}

    # balanced data sets. The probe is fitted on format-A documents about some entities and tested on
    # documents about the others (in format A, and in format B for the transfer), so that it cannot
    # score by remembering which entities the large model happens to know.
    rng = np.random.default_rng([config.seed, 4])
    flat = lambda t: t.reshape(-1).numpy()  # noqa: E731
    n, width = labels.shape
    document = np.repeat(np.arange(n), width)
    second = np.repeat(docs.second_format.numpy(), width)
    held_out = held_out_entities(config.n_entities, 1 - config.train_share, rng)[docs.entity.numpy()]
    keys = flat(targets)  # the paper's rule: balanced per token predicted
    rows = {}
    for part, where in (("train", ~second & ~held_out[document]), ("test", ~second & held_out[document]),
                        ("transfer", second & held_out[document])):
        part_labels = np.where(where, flat(labels), UNLABELLED)
        rows[part] = balanced_examples(part_labels, keys, rng)
    for part, found_rows in rows.items():
        if len(found_rows) < 20:
            raise ValueError(
                f"only {len(found_rows)} balanced {part} examples: the large model is sure where the small one is "
                f"not too rarely; train it longer (large_steps={config.large_steps}), or loosen "
                f"min_small_entropy={config.min_small_entropy} or max_large_entropy={config.max_large_entropy}")
    X = states.reshape(n * width, -1).numpy()
    X_control = control_states.reshape(n * width, -1).numpy()
    y = flat(labels)
    entropies = flat(h_small)
    probe = fit_probe(X[rows["train"]], y[rows["train"]], config.probe_c)
    control_probe = fit_probe(X_control[rows["train"]], y[rows["train"]], config.probe_c)
    test, transfer = rows["test"], rows["transfer"]
    probe_scores = probe.predict_proba(X[test])[:, 1]
    transfer_scores = probe.predict_proba(X[transfer])[:, 1]

    # the in-context test, on the test examples whose target is a value
    value_rows = test[flat(docs.slot)[test] == SLOTS.index("value")]
    kl, before, after = in_context_shift(small, docs.tokens[document[value_rows]],
                                         torch.from_numpy(value_rows % width))
    truth = flat(knowable)
    # the entropy baseline thresholds in whichever direction separates better
    entropy_direction = 1.0 if auc(y[test], entropies[test]) >= 0.5 else -1.0
    found = {
        "probe_auc": auc(y[test], probe_scores),
        "entropy_baseline_auc": auc(y[test], entropy_direction * entropies[test]),
        "entropy_direction": "high entropy means epistemic" if entropy_direction > 0 else "low entropy means epistemic",
        "cross_domain_auc": auc(y[transfer], transfer_scores),
        "unsupervised_auc": auc(y[value_rows], kl),
        "unsupervised_true_label_auc": auc(truth[value_rows].astype(int), kl),
        "control_probe_auc": auc(y[test], control_probe.predict_proba(X_control[test])[:, 1]),
        "probe_true_label_auc": auc(truth[test].astype(int), probe_scores),
        "proxy_agreement": proxy_agreement,
        "proxy_agreement_values": proxy_agreement_values,
        "labelled_values": int(labelled_values.sum()),
        "proxy_recall": proxy_recall,
        "n_examples": int(len(rows["train"]) + len(test)),
        "n_train": int(len(rows["train"])), "n_test": int(len(test)), "n_transfer": int(len(transfer)),
        "n_in_context": int(len(value_rows)),
        "value_share": float((flat(docs.slot)[test] == SLOTS.index("value")).mean()),
        "labelled": {"epistemic": int((labels == EPISTEMIC).sum()), "aleatoric": int((labels == ALEATORIC).sum()),
                     "unsure": int((h_small >= config.min_small_entropy).sum()), "tokens": int(labels.numel())},
        "mean_small_entropy": {"epistemic": float(entropies[test][y[test] == 1].mean()),
                               "aleatoric": float(entropies[test][y[test] == 0].mean())},
    }
    found["knowledge_by_frequency"] = _knowledge_by_frequency(world, docs, h_small, h_large)
    per_token = _token_facts(world, docs)
    found.update(_controls(config, X, y, rows, per_token))
    found["entropy_bands"] = entropy_bands(y[test], probe_scores, entropies[test])
    found["within_fact"] = _within_fact(config, X, X_control, flat, labels, h_small, h_large, docs, document, second,
                                        held_out, per_token)

    # scikit-learn is imported here, not at the top: only the runs that use it pay its second of loading
    from sklearn.metrics import roc_curve

    arrays = {"test_labels": torch.from_numpy(y[test]), "test_entropy": torch.from_numpy(entropies[test]),
              "test_large_entropy": torch.from_numpy(flat(h_large)[test]),
              "test_probe": torch.from_numpy(probe_scores), "test_truth": torch.from_numpy(truth[test])}
    curves = (("probe", y[test], probe_scores), ("entropy", y[test], entropy_direction * entropies[test]),
              ("transfer", y[transfer], transfer_scores), ("in_context", y[value_rows], kl))
    for name, labels_, scores in curves:
        fpr, tpr, thresholds = roc_curve(labels_, scores)
        arrays[f"roc.{name}.fpr"], arrays[f"roc.{name}.tpr"] = torch.from_numpy(fpr), torch.from_numpy(tpr)
        arrays[f"roc.{name}.threshold"] = torch.from_numpy(np.clip(thresholds, -1e6, 1e6))
    arrays.update(_example_documents(docs, labels, h_small, h_large, states, probe, held_out))
    metrics = {"config": dataclasses.asdict(config), **found,
               "models": {size: {"parameters": r.metrics["parameters"], "wall_seconds": r.metrics["wall_seconds"],
                                 "final_loss": r.metrics["loss"][-1], "fact_entropy": r.metrics["fact_entropy"][-1],
                                 "random_entropy": r.metrics["random_entropy"][-1]}
                          for size, r in models.items()},
               "wall_seconds": round(time.perf_counter() - started, 2)}
    return Result(metrics=metrics, arrays=arrays)


def _token_facts(world: World, docs: Documents) -> dict[str, np.ndarray]:
    """Per target token (flattened like the labels): its slot, the sentence's class and relation, and
    the log-frequency of the document's entity (expected mentions per training document)."""
    n, width = docs.slot.shape
    sentence = torch.arange(width) // 4
    relation = docs.relations[:, sentence]
    entity_class = world.entity_class[docs.entity][:, None].expand(n, width)
    frequency = world.entity_weight[docs.entity].log()[:, None].expand(n, width)
    return {"slot": docs.slot.reshape(-1).numpy(), "relation": relation.reshape(-1).numpy(),
            "class": entity_class.reshape(-1).numpy(), "log_frequency": frequency.reshape(-1).numpy()}


def rule_scores(keys_train: np.ndarray, labels_train: np.ndarray, keys_test: np.ndarray) -> np.ndarray:
    """The rule baseline: each test token scored by the share of epistemic labels among the training
    tokens with its key (slot, class, relation), the key that decides whether a slot is a fact; keys
    never seen score the overall share."""
    overall = labels_train.mean()
    table = {key: labels_train[keys_train == key].mean() for key in np.unique(keys_train)}
    return np.array([table.get(key, overall) for key in keys_test])


def _rule_key(per_token: dict[str, np.ndarray]) -> np.ndarray:
    return (per_token["slot"] * 1000 + per_token["class"]) * 1000 + per_token["relation"]


SHUFFLES = 5


def _controls(config: Config, X: np.ndarray, y: np.ndarray, rows: dict[str, np.ndarray],
              per_token: dict[str, np.ndarray]) -> dict:
    """Controls that can fail, on the main task.

    - `shuffled_refit_aucs`: the probe refitted on the training tokens with their labels shuffled, then
      scored on the test tokens' true labels, SHUFFLES times; `shuffled_refit_auc` is their mean. Each
      should be about 0.5; one far from it means the features carry the labels so plainly that a fit
      to noise lands on them.
    - `rule_baseline_auc`: no model at all, only the rule (slot, class, relation) that makes a slot a
      fact or chance, scored by its share of epistemic training labels.
    - `relation_transfer_aucs`: the probe fitted on the sentences of half the relations and tested on
      the others', for SHUFFLES random halvings (which relations are held out matters);
      `relation_transfer_auc` is their mean.
    Each control draws from its own generator, so that neither depends on how much the other used.
    """
    train, test = rows["train"], rows["test"]
    shuffling = np.random.default_rng([config.seed, 5])
    shuffled = [fit_probe(X[train], shuffling.permutation(y[train]), config.probe_c) for _ in range(SHUFFLES)]
    shuffled = [auc(y[test], probe.predict_proba(X[test])[:, 1]) for probe in shuffled]
    key = _rule_key(per_token)
    halving = np.random.default_rng([config.seed, 6])
    transfers, counts = [], []
    for _ in range(SHUFFLES):
        seen = np.isin(per_token["relation"], halving.permutation(config.n_relations)[: config.n_relations // 2])
        fit_rows, unseen_rows = train[seen[train]], test[~seen[test]]
        transfer = fit_probe(X[fit_rows], y[fit_rows], config.probe_c)
        transfers.append(auc(y[unseen_rows], transfer.predict_proba(X[unseen_rows])[:, 1]))
        counts.append(len(unseen_rows))
    return {"shuffled_refit_auc": float(np.mean(shuffled)), "shuffled_refit_aucs": shuffled,
            "rule_baseline_auc": auc(y[test], rule_scores(key[train], y[train], key[test])),
            "relation_transfer_auc": float(np.mean(transfers)), "relation_transfer_aucs": transfers,
            "relation_transfer_n": int(np.mean(counts))}


ENTROPY_BANDS = 4


def entropy_bands(labels: np.ndarray, probe_scores: np.ndarray, entropies: np.ndarray,
                  bands: int = ENTROPY_BANDS) -> list[dict]:
    """The paper's comparison: probe and entropy AUC within bands of the small model's entropy (its
    quantiles), where entropy alone has little to go on. A band needs both labels and 20 tokens."""
    edges = np.quantile(entropies, np.linspace(0, 1, bands + 1))
    found = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (entropies >= low) & (entropies <= high)
        if inside.sum() >= 20 and 0 < labels[inside].mean() < 1:
            entropy_auc = auc(labels[inside], entropies[inside])
            found.append({"low": float(low), "high": float(high), "n": int(inside.sum()),
                          "probe_auc": auc(labels[inside], probe_scores[inside]),
                          "entropy_auc": max(entropy_auc, 1 - entropy_auc)})
    return found


WITHIN_FACT_SURE, WITHIN_FACT_UNSURE = 0.2, 1.0  # nats of the large model's entropy: knows, does not know


def _within_fact(config: Config, X, X_control, flat, labels, h_small, h_large, docs: Documents, document,
                 second, held_out, per_token) -> dict:
    """The question the paper's labels ask in a real corpus: among fact slots where the small model is
    unsure, which facts does the large model know (entropy below WITHIN_FACT_SURE, label 1) and which
    not (at least WITHIN_FACT_UNSURE, label 0)? Every slot here is a fact. The probe (refitted on these
    labels), the small model's entropy, the entity's frequency, the rule and the control model's probe
    are compared on held-out entities, with cluster-bootstrap intervals for the probe's differences;
    and the probe and frequency also within thirds of the frequency range."""
    fact_value = flat(docs.knowable) & (per_token["slot"] == SLOTS.index("value"))
    unsure = flat(h_small) >= config.min_small_entropy
    large = flat(h_large)
    y = np.where(large < WITHIN_FACT_SURE, 1, np.where(large >= WITHIN_FACT_UNSURE, 0, -1))
    usable = fact_value & unsure & (y >= 0) & ~second  # `second` is per token already: format A only
    train = np.flatnonzero(usable & ~held_out[document])
    test = np.flatnonzero(usable & held_out[document])
    probe = fit_probe(X[train], y[train], config.probe_c)
    control = fit_probe(X_control[train], y[train], config.probe_c)
    key = _rule_key(per_token)

    def oriented(scores):  # test scores, in the direction that separates the training labels
        return scores[test] if auc(y[train], scores[train]) >= 0.5 else -scores[test]

    labels_test = y[test]
    probe_scores = probe.predict_proba(X[test])[:, 1]
    entropy_scores, frequency_scores = oriented(flat(h_small)), oriented(per_token["log_frequency"])
    found = {"probe_auc": auc(labels_test, probe_scores),
             "entropy_auc": auc(labels_test, entropy_scores),
             "frequency_auc": auc(labels_test, frequency_scores),
             "rule_auc": auc(labels_test, rule_scores(key[train], y[train], key[test])),
             "control_auc": auc(labels_test, control.predict_proba(X_control[test])[:, 1]),
             "n": int(len(test)), "n_train": int(len(train)), "known_share": float(labels_test.mean())}
    frequency = per_token["log_frequency"][test]
    bands = []
    edges = np.quantile(frequency, [0, 1 / 3, 2 / 3, 1])
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (frequency >= low) & (frequency <= high)
        if inside.sum() >= 20 and 0 < labels_test[inside].mean() < 1:
            bands.append({"low": float(low), "high": float(high), "n": int(inside.sum()),
                          "probe_auc": auc(labels_test[inside], probe_scores[inside]),
                          "frequency_auc": auc(labels_test[inside], frequency_scores[inside])})
    found["within_frequency_thirds"] = bands
    entities = docs.entity.numpy()[document[test]]  # tokens of one entity are not independent draws
    found["probe_minus_entropy_ci"] = auc_difference_interval(labels_test, probe_scores, entropy_scores, entities)
    found["probe_minus_frequency_ci"] = auc_difference_interval(labels_test, probe_scores, frequency_scores,
                                                                entities)
    # what the state knows beyond frequency: the probe refitted with the log-frequency as one more feature,
    # against the log-frequency alone (whose AUC is frequency_auc: a logistic fit on one feature is monotone)
    log_frequency = per_token["log_frequency"][:, None]
    given = fit_probe(np.hstack([X[train], log_frequency[train]]), y[train], config.probe_c)
    given_scores = given.predict_proba(np.hstack([X[test], log_frequency[test]]))[:, 1]
    found["probe_and_frequency_auc"] = auc(labels_test, given_scores)
    found["probe_and_frequency_minus_frequency_ci"] = auc_difference_interval(labels_test, given_scores,
                                                                              frequency_scores, entities)
    found["entities"] = int(len(np.unique(entities)))
    found["second_format_tokens"] = int(second[test].sum() + second[train].sum())  # 0: format A only
    return found


def auc_difference_interval(labels: np.ndarray, first: np.ndarray, second: np.ndarray, groups: np.ndarray,
                            draws: int = 1000, confidence: float = 0.95, seed: int = 0) -> list[float]:
    """A paired cluster-bootstrap interval for AUC(first) - AUC(second) on the same tokens: whole groups
    (the entities) are drawn with replacement, and both scores are read on the tokens drawn."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    differences = []
    for _ in range(draws):
        pick = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
        if 0 < labels[pick].mean() < 1:
            differences.append(auc(labels[pick], first[pick]) - auc(labels[pick], second[pick]))
    low, high = np.quantile(differences, [(1 - confidence) / 2, (1 + confidence) / 2])
    return [float(low), float(high)]


def rule_verdict(metrics: dict) -> str:
    """What the rule baseline says about the probe on the main task, in words."""
    gap = metrics["probe_auc"] - metrics["rule_baseline_auc"]
    if gap < 0.02:
        return ("The rule alone does as well as the probe: in this world the label is essentially the rule "
                "that generated the data, and the probe's success on it shows that the small model's state "
                "encodes the rule, not that it knows which facts it lacks.")
    return (f"The probe does {gap:.2f} better than the rule alone, so its state carries more than the rule "
            "that generated the data.")


def within_fact_verdict(within: dict) -> str:
    """What the within-facts comparison says, in words: the probe against its control, the small model's
    entropy and the entity's frequency, each difference with its paired bootstrap interval."""
    probe, control = within["probe_auc"], within["control_auc"]
    reads = (f"The probe reads something the barely trained model's state does not ({probe:.2f} against "
             f"{control:.2f})" if probe > control + 0.05 else
             f"The probe does little better than the barely trained model's ({probe:.2f} against {control:.2f})")

    def against(name: str, label: str) -> str:
        low, high = within[f"probe_minus_{name}_ci"]
        outcome = "a clear lead" if low > 0 else "a clear deficit" if high < 0 else "no clear difference"
        return (f"against {label} ({within[f'{name}_auc']:.2f}) its AUC differs by {low:+.2f} to {high:+.2f} "
                f"(95% interval, entities resampled): {outcome}")

    entropy = against("entropy", "the small model's entropy")
    frequency = against("frequency", "the entity's frequency alone")
    sentences = [f"{reads}. {entropy[0].upper()}{entropy[1:]}; {frequency}."]
    rarest = within["within_frequency_thirds"][0] if within["within_frequency_thirds"] else None
    if rarest is not None:
        lead = rarest["probe_auc"] - rarest["frequency_auc"]
        word = "leads" if lead > 0.05 else "trails" if lead < -0.05 else "matches"
        sentences.append(f"Among the rarest third of entities the probe {word} frequency "
                         f"({rarest['probe_auc']:.2f} against {rarest['frequency_auc']:.2f}; the table below).")
    low, high = within["probe_and_frequency_minus_frequency_ci"]
    both, alone = within["probe_and_frequency_auc"], within["frequency_auc"]
    if low > 0:
        sentences.append(f"Given the frequency, the state still adds: a probe that sees both scores {both:.2f} "
                         f"against frequency's {alone:.2f} ({low:+.2f} to {high:+.2f}).")
    elif high < 0:
        sentences.append(f"A probe that sees the state and the frequency scores {both:.2f}, below frequency's "
                         f"{alone:.2f} ({low:+.2f} to {high:+.2f}): adding the state makes the fit worse, not "
                         "better.")
    else:
        sentences.append(f"A probe that sees the state and the frequency scores {both:.2f} against frequency's "
                         f"{alone:.2f} ({low:+.2f} to {high:+.2f}): no clear gain, so what the state tells "
                         "about which facts the large model knows is, as far as this measures, the entity's "
                         "frequency.")
    if within["probe_minus_entropy_ci"][0] <= 0:
        sentences.append("This is where our world parts from the paper, whose probes on real text predict where "
                         "the larger model is sure better than the small model's entropy does.")
    return " ".join(sentences)


def _knowledge_by_frequency(world: World, docs: Documents, h_small, h_large) -> dict:
    """Mean entropy on the first mention of a fact, by how often the entity appears in training.

    Frequencies are expected mentions of the entity per million training documents.
    """
    value = docs.slot == SLOTS.index("value")
    first = docs.first_mention.repeat_interleave(4, dim=1) & value
    fact = docs.fact.repeat_interleave(4, dim=1)
    per_million = (world.entity_weight[docs.entity] * 1e6)[:, None].expand_as(h_small)
    rows = []
    for low, high in zip(FREQUENCY_BINS[:-1], FREQUENCY_BINS[1:]):
        where = first & fact & (per_million >= low) & (per_million < high)
        if where.sum() >= 20:
            rows.append({"low": low, "high": high, "count": int(where.sum()),
                         "small": h_small[where].mean().item(), "large": h_large[where].mean().item()})
    chance = first & ~fact
    return {"bins": rows, "random_small": h_small[chance].mean().item(), "random_large": h_large[chance].mean().item()}


EXAMPLES = 8


def _example_documents(docs: Documents, labels, h_small, h_large, states, probe, held_out: np.ndarray) -> dict:
    """A few held-out format-A documents with labels of both kinds, every token scored, for the explorer."""
    chosen = [i for i in range(len(labels)) if held_out[i] and not docs.second_format[i]
              and (labels[i] == EPISTEMIC).any() and (labels[i] == ALEATORIC).any()][:EXAMPLES]
    index = torch.tensor(chosen, dtype=torch.long)
    d = states.shape[-1]
    scores = probe.predict_proba(states[index].reshape(-1, d).numpy())[:, 1].reshape(len(chosen), -1)
    return {"examples.tokens": docs.tokens[index], "examples.labels": labels[index],
            "examples.small_entropy": h_small[index], "examples.large_entropy": h_large[index],
            "examples.probe": torch.from_numpy(scores).float(), "examples.knowable": docs.knowable[index]}


def run(config: Config, use_cache: bool = True, device: str = "cpu") -> Result:
    """Train (or load) both models and measure everything the chapter reports."""
    return cached_training(NAME, VERSION, config, _analyse, use_cache=use_cache, device=device)


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
    changes = {key: (dataclasses.asdict(Config()).get(key), value) for key, value in SCALES["full"].items()}
    return runtime.reproducibility_card(NAME, VERSION, result, full_scale_changes=changes)


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
            "relation_transfer_auc", "relation_transfer_aucs", "relation_transfer_n", "entropy_bands")
    return {"topic": NAME, "scale": scale, "seed": seed, "config": m["config"], **{key: m[key] for key in keys}}


