"""Watermarks in the sand: a random walk of small edits erases a watermark while the text stays good.

After Zhang, Edelman, Francati, Venturi, Ateniese and Barak (2024). A watermark tilts a language
model's sampling with a secret key so that a detector holding the key can tell its text from
anyone else's. The paper's argument: an attacker who can (i) perturb a text a little, keeping its
meaning, and (ii) tell whether a change kept the quality, can walk at random among good texts; the
walk mixes, and the watermark, which only a vanishing fraction of good texts carries, is lost. The
story, in the order of this module:

1. the world: documentation text that ships with Python, split into word tokens;
2. two language models trained here: the *generator* (which watermarks, and later judges quality)
   and a smaller *attack model* trained on the other half of the text, which the attacker uses for
   both oracles;
3. three watermarks, each with generation and detection: a green list seeded by the previous token
   (Kirchenbauer et al.), one fixed green list (Zhao et al.) and exponential-minimum sampling with a
   keyed sequence of uniforms and a Levenshtein-aligned test (Kuditipudi et al.);
4. the attack: mask a short span, resample it from the attack model conditioned on both sides,
   keep the change only if the attack model's quality score does not fall beyond a tolerance; repeat;
5. the measurements: detection power and false positives, the statistic along each walk, and the
   quality before and after, judged by the generator's own unwatermarked model, which the attack
   never saw; and a weak attacker (blind spans and a noisy quality oracle) for contrast.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
import sysconfig
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from companion.core.cache import Result, cached_training
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import Transformer
from companion.core.runtime import derived_generator
from companion.core.sweeps import run_cached
from companion.core.training import train

NAME = "watermark-sand"
VERSION = 2  # 2: attention scales q, not the scores (float reassociation at head width 32)
SCHEMES = ("kgw", "unigram", "exp")
UNKNOWN = "<unk>"


# ----------------------------------------------------------------------------- the text

TOKEN = re.compile(r"[a-z_][a-z0-9_]*(?:'[a-z]+)?|[0-9]+|[^\sa-z0-9_]")
# reStructuredText underlines (a line of one repeated mark) and interactive-session lines are not prose
NOT_PROSE = re.compile(r"^\s*(?:([^\w\s])\1{2,}|>>>.*|\.\.\. .*)\s*$", re.M)


def tokenize(text: str) -> list[str]:
    """Lower-case words (identifiers with underscores count as words), numbers and single marks."""
    return TOKEN.findall(NOT_PROSE.sub("", text).lower())


def detokenize(tokens: list[str]) -> str:
    """Words joined by spaces, punctuation attached to the word before it."""
    out = ""
    for token in tokens:
        glued = token in ".,;:!?)]}" or (out.endswith(("(", "[", "{")))
        out += token if (glued or not out) else " " + token
    return out


NOT_LIBRARY_PROSE = ("test", "idlelib", "lib2to3", "site-packages", "tkinter", "turtledemo", "ensurepip", "config-")


@lru_cache(maxsize=1)
def corpus_tokens() -> tuple[str, ...]:
    """The docstrings of Python's standard library (its tests, IDLE and a few tool directories left
    out) as one token stream, in a fixed order: about a quarter of a million words of technical prose
    that every Python installation carries."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for path in sorted(stdlib.rglob("*.py")):
        if any(part.startswith(NOT_LIBRARY_PROSE) for part in path.relative_to(stdlib).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                docstring = ast.get_docstring(node)
                if docstring:
                    texts.append(docstring)
    return tuple(token for text in texts for token in tokenize(text))


@dataclass(frozen=True)
class Vocabulary:
    words: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.words)

    def encode(self, tokens) -> np.ndarray:
        index = {word: i for i, word in enumerate(self.words)}
        return np.array([index.get(token, 0) for token in tokens], dtype=np.int64)

    def decode(self, ids) -> list[str]:
        return [self.words[int(i)] for i in ids]


@lru_cache(maxsize=4)
def vocabulary(size: int) -> Vocabulary:
    """The `size` - 1 most frequent tokens and <unk> (id 0)."""
    counts = Counter(corpus_tokens())
    return Vocabulary((UNKNOWN, *[word for word, _ in counts.most_common(size - 1)]))


def split_ids(size: int) -> dict[str, np.ndarray]:
    """The encoded stream in blocks of 2,000 tokens dealt to three parts: the generator's training
    text, the attack model's training text (disjoint from it), and held-out prompts."""
    ids = vocabulary(size).encode(corpus_tokens())
    blocks = np.array_split(ids, max(1, len(ids) // 2000))
    parts = {"generator": [], "attack": [], "prompts": []}
    for i, block in enumerate(blocks):
        parts[("generator", "attack", "generator", "attack", "prompts")[i % 5]].append(block)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


# ----------------------------------------------------------------------------- the language models

# Which text each model learns from: the generator and the attack model see disjoint halves; the judge,
# which only scores quality at the end, sees both and is trained from another seed.
PARTS = ("generator", "attack", "judge")


@dataclass(frozen=True)
class ModelConfig:
    """A word-level transformer trained on one part of the text (`part`) with AdamW on random windows."""

    part: str = "generator"
    vocab_size: int = 2000
    width: int = 64
    layers: int = 2
    heads: int = 2
    context: int = 64
    steps: int = 1000
    batch: int = 16
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self):
        check_choice("part", self.part, PARTS)
        check_int("vocab_size", self.vocab_size, 100, 3000)
        check_int("width", self.width, 8, 1024)
        check_int("layers", self.layers, 1, 12)
        check_int("heads", self.heads, 1, 16)
        if self.width % self.heads:
            raise ValueError(f"width must be divisible by heads, got width={self.width} and heads={self.heads}")
        check_int("context", self.context, 8, 512)
        check_int("steps", self.steps, 1, 10**6)
        check_int("batch", self.batch, 1, 4096)
        check_float("lr", self.lr, 0, 1, low_inclusive=False)
        check_seed("seed", self.seed)


def build_language_model(config: ModelConfig) -> Transformer:
    torch.manual_seed(config.seed)
    return Transformer(config.vocab_size, d_model=config.width, n_layers=config.layers, n_heads=config.heads,
                       max_len=config.context, positional="learned", attention_only=False, layer_norm=True,
                       init_std=0.02)


def _windows(ids: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    return ids[starts[:, None] + torch.arange(length)]


def _train_language_model(config: ModelConfig, device: torch.device) -> Result:
    started = time.perf_counter()
    parts = split_ids(config.vocab_size)
    ids = torch.from_numpy(parts[config.part] if config.part != "judge"
                           else np.concatenate([parts["generator"], parts["attack"]]))
    held_out = torch.from_numpy(parts["prompts"])
    model = build_language_model(config).to(device)
    generator = derived_generator(config.seed, 11)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps,
                                                   pct_start=0.1)
    evaluation_windows = _windows(held_out, torch.arange(0, len(held_out) - config.context - 1, config.context)[:200],
                                  config.context + 1).to(device)

    def batch(step: int) -> tuple[torch.Tensor]:
        if step > 1:  # the learning-rate schedule moves once per optimiser step, after it
            schedule.step()
        starts = torch.randint(0, len(ids) - config.context - 1, (config.batch,), generator=generator)
        return (_windows(ids, starts, config.context + 1).to(device),)

    def loss(model, windows):
        logits, _ = model(windows[:, :-1])
        return F.cross_entropy(logits.reshape(-1, config.vocab_size), windows[:, 1:].reshape(-1))

    history = train(model, batch, loss, steps=config.steps, optimizer=optimizer,
                    evaluate=lambda step: {"held_out_loss": float(loss(model, evaluation_windows))},
                    eval_steps=[config.steps], description=f"{NAME} {config.part} model")
    metrics = {"config": dataclasses.asdict(config), "held_out_loss": history["held_out_loss"][-1],
               "training_tokens": len(ids), "wall_seconds": round(time.perf_counter() - started, 2)}
    arrays = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    return Result(metrics=metrics, arrays=arrays)


def train_language_model(config: ModelConfig, use_cache: bool = True) -> Result:
    """Train one model (or load it from the cache): its weights and its held-out loss."""
    return cached_training(f"{NAME}-lm", VERSION, config, _train_language_model, use_cache=use_cache, device="cpu")


def language_model(config: ModelConfig, use_cache: bool = True) -> tuple[Transformer, Result]:
    """The trained model, ready to use, and its training record."""
    result = train_language_model(config, use_cache=use_cache)
    model = build_language_model(config)
    model.load_state_dict(dict(result.arrays))
    model.eval()
    return model, result


def hidden_states(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """The final hidden states (B, S, D), before the read-out: most uses need the logits at a few
    positions only, and the read-out over the vocabulary is the model's largest product."""
    x = model.embed(tokens) + model.position(torch.arange(tokens.shape[1]))
    for block in model.blocks:
        x, _ = block(x)
    return model.norm(x)


def next_token_logits(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """Logits (B, K) for the token after each row, with <unk> ruled out (it is not a word to write)."""
    logits = model.unembed(hidden_states(model, tokens[:, -model.position.num_embeddings:])[:, -1])
    logits[:, 0] = -torch.inf
    return logits


def token_log_probs(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """log p(token_t | tokens before t) for t >= 1: (B, S - 1)."""
    logits = model.unembed(hidden_states(model, tokens[:, :-1]))
    return logits.log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]


# ----------------------------------------------------------------------------- the three watermarks

@dataclass(frozen=True)
class Watermark:
    """A scheme and its secret key. `gamma` is the green fraction and `delta` the logit bias of the two
    green-list schemes; `key_length` is the length of the exponential scheme's keyed sequence."""

    scheme: str = "kgw"
    gamma: float = 0.25
    delta: float = 2.0
    key: int = 15485863
    key_length: int = 256
    vocab_size: int = 2000

    def __post_init__(self):
        check_choice("scheme", self.scheme, SCHEMES)
        check_float("gamma", self.gamma, 0, 1, low_inclusive=False)
        if self.gamma >= 1:
            raise ValueError(f"gamma must be < 1 (the green fraction), got {self.gamma!r}")
        check_float("delta", self.delta, 0, 20)
        check_int("key", self.key, 0)
        check_int("key_length", self.key_length, 8, 100000)
        check_int("vocab_size", self.vocab_size, 2)

    @property
    def green_size(self) -> int:
        return max(1, round(self.gamma * self.vocab_size))


@lru_cache(maxsize=16)
def green_lists(watermark: Watermark) -> torch.Tensor:
    """(V, V) booleans: row u is the green list after token u (kgw), or every row the one fixed list
    (unigram). Each list is the first gamma V entries of a keyed random permutation."""
    V = watermark.vocab_size
    rows = 1 if watermark.scheme == "unigram" else V
    order = torch.rand(rows, V, generator=derived_generator(watermark.key, 21)).argsort(-1)
    green = torch.zeros(rows, V, dtype=torch.bool)
    green.scatter_(1, order[:, :watermark.green_size], True)
    return green.expand(V, V) if rows == 1 else green


@lru_cache(maxsize=16)
def key_sequence(watermark: Watermark) -> torch.Tensor:
    """(key_length, V) uniforms: the exponential scheme's secret xi_1, xi_2, ..."""
    return torch.rand(watermark.key_length, watermark.vocab_size, generator=derived_generator(watermark.key, 22))


def choose_tokens(logits: torch.Tensor, watermark: Watermark | None, previous: torch.Tensor,
                  positions: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The next token of each row. Green-list schemes add delta to the green logits and sample;
    the exponential scheme picks argmax_v xi[v]^(1 / p_v), which is a sample from p for a uniform xi
    (so the text is distributed as without a watermark) but is fixed once the key is known."""
    if watermark is None:
        return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
    if watermark.scheme in ("kgw", "unigram"):
        biased = logits + watermark.delta * green_lists(watermark)[previous].float()
        return torch.multinomial(biased.softmax(-1), 1, generator=generator)[:, 0]
    xi = key_sequence(watermark)[positions % watermark.key_length]  # (B, V)
    return (xi.log() / logits.softmax(-1)).argmax(-1)


def generate(model: Transformer, prompts: torch.Tensor, new_tokens: int, watermark: Watermark | None,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Continue each prompt (B, P) by `new_tokens`; returns the texts (B, P + new_tokens) and, for the
    exponential scheme, each text's random offset into the key sequence (zeros otherwise)."""
    tokens = prompts.clone()
    offsets = torch.randint(0, 10**6, (len(prompts),), generator=generator)
    with torch.no_grad():
        for step in range(new_tokens):
            chosen = choose_tokens(next_token_logits(model, tokens), watermark, tokens[:, -1], offsets + step,
                                   generator)
            tokens = torch.cat([tokens, chosen[:, None]], 1)
    return tokens, offsets


# ----------------------------------------------------------------------------- detection

Z_THRESHOLD = 4.0  # the green-list schemes flag a text when z >= 4 (Kirchenbauer et al.'s choice)
P_THRESHOLD = 0.01  # the exponential scheme flags a text when its permutation p-value is <= 0.01
GAP_PENALTY = 1.0  # the Levenshtein test's cost for a skipped token or key entry
PERMUTATIONS = 99


def green_z_score(watermark: Watermark, previous: np.ndarray, tokens: np.ndarray) -> float:
    """z = (G - gamma n) / sqrt(n gamma (1 - gamma)) over the n scored tokens, G of them green (in the
    list seeded by the token before, for kgw; in the one fixed list, for unigram). Without a watermark
    each token is green with probability gamma, so z is roughly standard normal."""
    green = green_lists(watermark)[torch.as_tensor(previous), torch.as_tensor(tokens)]
    n, gamma = len(tokens), watermark.gamma
    return float((green.sum() - gamma * n) / math.sqrt(n * gamma * (1 - gamma)))


def levenshtein_statistic(costs: torch.Tensor, gap: float = GAP_PENALTY) -> torch.Tensor:
    """Smallest alignment cost of a text against a key sequence, for a batch of keys.

    costs (K, n, L): the cost of aligning token i with key entry j. The text is aligned in full, the
    key from any start to any end; a skipped token or key entry costs `gap`. The row recursion's
    within-row term (skipping key entries) is a running minimum, so each row is a few array operations.
    """
    K, n, L = costs.shape
    columns = torch.arange(L + 1, dtype=costs.dtype)
    row = torch.zeros(K, L + 1, dtype=costs.dtype)  # free start anywhere in the key
    for i in range(n):
        new = torch.empty_like(row)
        new[:, 0] = (i + 1) * gap
        new[:, 1:] = torch.minimum(row[:, :-1] + costs[:, i], row[:, 1:] + gap)
        new = torch.cummin(new - gap * columns, dim=1).values + gap * columns
        row = new
    return row[:, 1:].min(1).values


def exp_p_value(watermark: Watermark, tokens: np.ndarray, generator: torch.Generator,
                permutations: int = PERMUTATIONS) -> tuple[float, float]:
    """(statistic, p-value) of the exponential scheme's test on the scored tokens: the Levenshtein
    statistic of the text against the key, ranked among the statistics of `permutations` random
    reorderings of the same tokens. Matching token y with entry xi_j costs log(1 - xi_j[y]), very
    negative where the key chose y.

    Reordering keeps the words and the key, and breaks only what the watermark creates: the match
    between the i-th token and the i-th entry of the key. (Comparing with fresh random keys instead, as
    one might, makes the p-value depend on the fixed key's luck with the commonest words: with some keys
    it flags several times more plain texts than it should.)"""
    tokens = torch.as_tensor(tokens)
    doubled = torch.cat([key_sequence(watermark)] * 2)  # the text may start anywhere and wrap around
    orders = torch.stack([torch.arange(len(tokens))] +
                         [torch.randperm(len(tokens), generator=generator) for _ in range(permutations)])
    costs = torch.log1p(-doubled[:, tokens[orders]]).permute(1, 2, 0)  # (1 + permutations, n, 2L)
    statistics = levenshtein_statistic(costs.double())
    observed = float(statistics[0])
    p_value = (1 + int((statistics[1:] <= observed).sum())) / (1 + permutations)
    return observed, p_value


def detect(watermark: Watermark, text: torch.Tensor, prompt_length: int, generator: torch.Generator) -> dict:
    """The scheme's statistic on the text after its prompt, and whether it crosses the threshold."""
    tokens = text.numpy()
    if watermark.scheme == "exp":
        statistic, p_value = exp_p_value(watermark, tokens[prompt_length:], generator)
        return {"statistic": statistic, "p_value": p_value, "detected": p_value <= P_THRESHOLD}
    z = green_z_score(watermark, tokens[prompt_length - 1:-1], tokens[prompt_length:])
    return {"statistic": z, "detected": z >= Z_THRESHOLD}


def detection_score(watermark: Watermark, result: dict) -> float:
    """One number per text where larger means "more watermarked": z, or -log10 p for the exponential
    scheme, so that traces of all three schemes read the same way."""
    return result["statistic"] if watermark.scheme != "exp" else -math.log10(result["p_value"])


def score_threshold(watermark: Watermark) -> float:
    return Z_THRESHOLD if watermark.scheme != "exp" else -math.log10(P_THRESHOLD)


# ----------------------------------------------------------------------------- the attack

PERTURBATIONS = ("both-sides", "blind")


@dataclass(frozen=True)
class Attack:
    """The random walk. Each step masks `span` tokens at a random place after the prompt and fills them:
    "both-sides" samples `candidates` fillings from the attack model given the left context and picks
    one with probability proportional to the likelihood they give the text on the right (so the
    filling fits both sides); "blind" draws the span from the attack text's word frequencies, ignoring
    the context. The quality oracle (the attack model's mean log-likelihood per token, plus Gaussian
    noise of size `oracle_noise`) accepts the change only if it has not fallen more than `tolerance`
    below the original text's; otherwise the walk backtracks to where it was."""

    span: int = 3
    candidates: int = 4
    temperature: float = 1.0
    tolerance: float = 0.1
    steps: int = 120
    perturbation: str = "both-sides"
    oracle_noise: float = 0.0
    record_every: int = 10

    def __post_init__(self):
        check_int("span", self.span, 1, 32)
        check_int("candidates", self.candidates, 1, 64)
        check_float("temperature", self.temperature, 0, 10, low_inclusive=False)
        check_float("tolerance", self.tolerance, 0, 10)
        check_int("steps", self.steps, 1, 100000)
        check_choice("perturbation", self.perturbation, PERTURBATIONS)
        check_float("oracle_noise", self.oracle_noise, 0, 10)
        check_int("record_every", self.record_every, 1, 100000)


def quality(model: Transformer, texts: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """Mean log-likelihood per token of each text after its prompt, under `model`: (B,)."""
    return token_log_probs(model, texts)[:, prompt_length - 1:].mean(-1)


def propose(model: Transformer, texts: torch.Tensor, prompt_length: int, attack: Attack,
            word_frequencies: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One perturbation of each text (B, S) and the attack model's quality of it (B,)."""
    B, S = texts.shape
    starts = torch.randint(prompt_length, S - attack.span + 1, (B,), generator=generator)
    K = attack.candidates if attack.perturbation == "both-sides" else 1
    candidates = texts.repeat_interleave(K, 0)
    rows, starts_k = torch.arange(B * K), starts.repeat_interleave(K)
    for j in range(attack.span):
        position = starts_k + j
        if attack.perturbation == "both-sides":
            logits = model.unembed(hidden_states(model, candidates)[rows, position - 1])
            logits[:, 0] = -torch.inf
            candidates[rows, position] = torch.multinomial((logits / attack.temperature).softmax(-1), 1,
                                                           generator=generator)[:, 0]
        else:
            candidates[rows, position] = torch.multinomial(word_frequencies, B * K, replacement=True,
                                                           generator=generator)
    log_probs = token_log_probs(model, candidates)  # (B K, S - 1); entry t - 1 scores token t
    after_span = torch.arange(1, S)[None] >= (starts_k + attack.span)[:, None]
    right = (log_probs * after_span).sum(-1).view(B, K)
    pick = torch.multinomial(right.softmax(-1), 1, generator=generator)[:, 0]
    chosen = candidates.view(B, K, S)[torch.arange(B), pick]
    scores = log_probs[:, prompt_length - 1:].mean(-1).view(B, K)[torch.arange(B), pick]
    return chosen, scores


def random_walk(model: Transformer, texts: torch.Tensor, prompt_length: int, attack: Attack,
                word_frequencies: torch.Tensor, generator: torch.Generator) -> dict:
    """Walk every text (B, S) for `attack.steps` steps; the texts every `record_every` steps, the
    acceptance rate, and the attack model's quality of the original texts."""
    current = texts.clone()
    with torch.no_grad():
        original = quality(model, texts, prompt_length)
        snapshots, accepted = [texts.clone()], torch.zeros(len(texts))
        for step in range(1, attack.steps + 1):
            proposal, score = propose(model, current, prompt_length, attack, word_frequencies, generator)
            if attack.oracle_noise:
                score = score + attack.oracle_noise * torch.randn(len(score), generator=generator)
            accept = score >= original - attack.tolerance
            current = torch.where(accept[:, None], proposal, current)
            accepted += accept.float()
            if step % attack.record_every == 0 or step == attack.steps:
                snapshots.append(current.clone())
    return {"snapshots": torch.stack(snapshots), "acceptance_rate": (accepted / attack.steps),
            "steps": [0, *[s for s in range(1, attack.steps + 1) if s % attack.record_every == 0 or s == attack.steps]]}


# ----------------------------------------------------------------------------- the experiment

# The attack model fills spans a little below temperature 1: at 1 its fillings read slightly worse to
# the judge than the generator's text (about 0.1 to 0.2 nats per token at book scale), at 0.85 slightly
# better. Likelihood favours predictable text, which the chapter says when it shows the quality.
FILL_TEMPERATURE = 0.85
QUALITY_SLACK = 0.1  # a text "keeps its quality" if the judge's NLL per token rises by at most this

@dataclass(frozen=True)
class Config:
    """Everything one run of the chapter depends on. `texts` prompts (of `prompt_length` held-out
    tokens) are continued by `new_tokens` once with each scheme, and every watermarked text is then
    attacked by `attack` and, for contrast, by `weak_attack`; `null_texts` other prompts are continued
    without a watermark, to measure false positives (a rate of a few percent needs many texts)."""

    texts: int = 32
    null_texts: int = 96
    prompt_length: int = 8
    new_tokens: int = 56
    gamma: float = 0.25
    delta: float = 2.0
    generator: ModelConfig = ModelConfig(part="generator")
    attack_model: ModelConfig = ModelConfig(part="attack")
    judge: ModelConfig = ModelConfig(part="judge", seed=1)
    attack: Attack = Attack(temperature=FILL_TEMPERATURE, steps=80)
    weak_attack: Attack = Attack(temperature=FILL_TEMPERATURE, steps=80, perturbation="blind")
    seed: int = 0

    def __post_init__(self):
        check_int("texts", self.texts, 1, 10000)
        check_int("null_texts", self.null_texts, 1, 100000)
        check_int("prompt_length", self.prompt_length, 1, 64)
        check_int("new_tokens", self.new_tokens, 8, 512)
        for name, kind in (("generator", ModelConfig), ("attack_model", ModelConfig), ("judge", ModelConfig),
                           ("attack", Attack), ("weak_attack", Attack)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        if self.prompt_length + self.new_tokens > self.generator.context:
            raise ValueError(f"prompt_length + new_tokens must be at most the models' context "
                             f"{self.generator.context}, got {self.prompt_length + self.new_tokens}")
        check_seed("seed", self.seed)
        for scheme in SCHEMES:  # gamma and delta as each watermark checks them (gamma < 1, say)
            self.watermark(scheme)
        parts = (self.generator.part, self.attack_model.part, self.judge.part)
        if parts != ("generator", "attack", "judge"):
            raise ValueError(f"generator, attack_model and judge must train on the parts 'generator', 'attack' "
                             f"and 'judge', got {parts}")

    def watermark(self, scheme: str) -> Watermark:
        return Watermark(scheme=scheme, gamma=self.gamma, delta=self.delta, key=15485863 + self.seed,
                         vocab_size=self.generator.vocab_size)


def _three_models(**settings) -> dict[str, ModelConfig]:
    return {"generator": ModelConfig(part="generator", **settings),
            "attack_model": ModelConfig(part="attack", **settings),
            "judge": ModelConfig(part="judge", seed=1, **settings)}


def _attacks(steps: int) -> dict[str, Attack]:
    return {"attack": Attack(temperature=FILL_TEMPERATURE, steps=steps),
            "weak_attack": Attack(temperature=FILL_TEMPERATURE, steps=steps, perturbation="blind")}


SCALES = {
    "test": dict(texts=12, null_texts=36, **_three_models(steps=300), **_attacks(40)),
    "book": dict(),
    "full": dict(texts=100, null_texts=300, **_three_models(width=128, heads=4, steps=3000), **_attacks(160)),
}


def config_for(scale: str | None = None, seed: int = 0, **changes) -> Config:
    return Config(seed=seed, **{**SCALES[resolve_scale(scale)], **changes})


def models(config: Config) -> dict[str, Transformer]:
    """The three language models, trained in parallel processes when the cache lacks them."""
    wanted = {"generator": config.generator, "attack": config.attack_model, "judge": config.judge}
    run_cached(train_language_model, list(wanted.values()), f"{NAME}-lm", VERSION)
    return {role: language_model(c)[0] for role, c in wanted.items()}


def word_frequencies(vocab_size: int) -> torch.Tensor:
    """The attack text's token frequencies (no <unk>): what a blind perturbation draws from."""
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


def _scores(watermark: Watermark, texts: torch.Tensor, prompt_length: int, generator: torch.Generator) -> list[dict]:
    return [detect(watermark, text, prompt_length, generator) for text in texts]


def _compute(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    lms = models(config)
    P = config.prompt_length
    prompts = held_out_prompts(config, config.texts)
    generator = derived_generator(config.seed, 32)
    frequencies = word_frequencies(config.generator.vocab_size)
    plain, _ = generate(lms["generator"], held_out_prompts(config, config.null_texts, stream=33), config.new_tokens,
                        None, generator)
    marked = {scheme: generate(lms["generator"], prompts, config.new_tokens, config.watermark(scheme), generator)[0]
              for scheme in SCHEMES}
    everything = torch.cat([marked[scheme] for scheme in SCHEMES])
    walks = {name: random_walk(lms["attack"], everything, P, attack, frequencies, generator)
             for name, attack in (("strong", config.attack), ("weak", config.weak_attack))}
    metrics = {"config": dataclasses.asdict(config), "schemes": {}, "checkpoints": walks["strong"]["steps"]}
    arrays = {"prompts": prompts, "plain": plain}
    with torch.no_grad():
        judge_plain = -quality(lms["judge"], plain, P)
    for i, scheme in enumerate(SCHEMES):
        watermark = config.watermark(scheme)
        rows = slice(i * config.texts, (i + 1) * config.texts)
        strong, weak = walks["strong"]["snapshots"][:, rows], walks["weak"]["snapshots"][:, rows]
        trace = [[detection_score(watermark, r) for r in _scores(watermark, snapshot, P, generator)]
                 for snapshot in strong]
        before = _scores(watermark, strong[0], P, generator)
        after = _scores(watermark, strong[-1], P, generator)
        weak_after = _scores(watermark, weak[-1], P, generator)
        null = _scores(watermark, plain, P, generator)
        with torch.no_grad():
            judge_before, judge_after = (-quality(lms["judge"], texts, P) for texts in (strong[0], strong[-1]))
            judge_weak = -quality(lms["judge"], weak[-1], P)
        kept = (judge_after <= judge_before + QUALITY_SLACK).tolist()
        weak_kept = (judge_weak <= judge_before + QUALITY_SLACK).tolist()
        metrics["schemes"][scheme] = {
            "detect_rate": float(np.mean([r["detected"] for r in before])),
            "false_positive_rate": float(np.mean([r["detected"] for r in null])),
            "attack_success_rate": float(np.mean([not r["detected"] for r in after])),
            "stat_before": float(np.median([r["statistic"] for r in before])),
            "stat_after": float(np.median([r["statistic"] for r in after])),
            "stat_null": float(np.median([r["statistic"] for r in null])),
            "steps": config.attack.steps,
            "quality_before": float(judge_before.mean()),
            "quality_after": float(judge_after.mean()),
            "quality_unwatermarked": float(judge_plain.mean()),
            "weak_oracle_success_rate": float(np.mean([not r["detected"] for r in weak_after])),
            "quality_kept_success_rate": float(np.mean([not r["detected"] and ok for r, ok in zip(after, kept)])),
            "weak_quality_kept_success_rate": float(np.mean([not r["detected"] and ok
                                                             for r, ok in zip(weak_after, weak_kept)])),
            "weak_quality_after": float(judge_weak.mean()),
            "acceptance_rate": float(walks["strong"]["acceptance_rate"][rows].mean()),
            "weak_acceptance_rate": float(walks["weak"]["acceptance_rate"][rows].mean()),
            "changed_fraction": float((strong[-1][:, P:] != strong[0][:, P:]).float().mean()),
            "score_trace": trace,  # (checkpoints, texts): z, or -log10 p for exp
            "scores_unwatermarked": [detection_score(watermark, r) for r in null],
            "scores_weak_after": [detection_score(watermark, r) for r in weak_after],
            "judge_nll": {"unwatermarked": judge_plain.tolist(), "watermarked": judge_before.tolist(),
                          "attacked": judge_after.tolist(), "weakly attacked": judge_weak.tolist()},
            "score_threshold": score_threshold(watermark),
        }
        arrays[f"{scheme}_walk"] = strong
        arrays[f"{scheme}_weak_final"] = weak[-1]
    metrics["tolerance_sweep"] = tolerance_sweep(config, lms, everything, frequencies, generator)
    metrics["model_losses"] = {role: language_model(c)[1].metrics["held_out_loss"]
                               for role, c in (("generator", config.generator), ("attack", config.attack_model),
                                               ("judge", config.judge))}
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    return Result(metrics=metrics, arrays=arrays)


TOLERANCES = (0.0, 0.1, 0.2, 0.4, 0.8)


def tolerance_sweep(config: Config, lms: dict, texts: torch.Tensor, frequencies: torch.Tensor,
                    generator: torch.Generator) -> dict:
    """The weak (blind) walk at each tolerance of the quality oracle: per scheme, the share of texts
    brought under the threshold and the judge's NLL per token afterwards. A blind filling is usually
    worse than what it replaces, so the walk only moves when the oracle is lenient."""
    P = config.prompt_length
    sweep = {"tolerance": list(TOLERANCES), "success_rate": {s: [] for s in SCHEMES},
             "quality_after": {s: [] for s in SCHEMES}}
    for tolerance in TOLERANCES:
        attack = dataclasses.replace(config.weak_attack, tolerance=tolerance)
        final = random_walk(lms["attack"], texts, P, attack, frequencies, generator)["snapshots"][-1]
        with torch.no_grad():
            judged = -quality(lms["judge"], final, P)
        for i, scheme in enumerate(SCHEMES):
            rows = slice(i * config.texts, (i + 1) * config.texts)
            found = _scores(config.watermark(scheme), final[rows], P, generator)
            sweep["success_rate"][scheme].append(float(np.mean([not r["detected"] for r in found])))
            sweep["quality_after"][scheme].append(float(judged[rows].mean()))
    return sweep


def run(config: Config, use_cache: bool = True) -> Result:
    """Generate, detect, attack and judge (or load all of it from the cache)."""
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device="cpu")


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce watermark-sand` writes to watermark-sand.json."""
    scale = resolve_scale(scale)
    result = run(config_for(scale, seed))
    schemes = {scheme: {key: value for key, value in m.items()
                        if key not in ("score_trace", "scores_unwatermarked", "scores_weak_after", "judge_nll")}
               for scheme, m in result.metrics["schemes"].items()}
    return {"topic": NAME, "scale": scale, "seed": seed, **schemes,
            "model_losses": result.metrics["model_losses"], "config": result.metrics["config"]}


