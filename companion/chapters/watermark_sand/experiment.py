"""Watermarks in the sand: a random walk of small edits erases a watermark while the text stays good.

After Zhang, Edelman, Francati, Venturi, Ateniese and Barak (2024). A watermark tilts a language
model's sampling with a secret key so that a detector holding the key can tell its text from
anyone else's. The paper's argument: an attacker who can (i) perturb a text a little, keeping its
meaning, and (ii) tell whether a change kept the quality, can walk at random among good texts; the
walk mixes, and the watermark, which only a vanishing fraction of good texts carries, is lost. The
story, in the order of this module:

1. the world: documentation text that ships with Python, split into word tokens;
2. the language models trained here, each on its own share of the text: the *generator*, which
   watermarks; the *judge*, which only measures quality at the end; and on the attacker's share,
   three *attackers* of different strengths, all weaker than the generator, which propose the
   perturbations, and a *quality oracle*, a separate model that accepts or rejects them;
3. three watermarks, each with generation and detection: a green list seeded by the previous token
   (Kirchenbauer et al.), one fixed green list (Zhao et al.) and exponential-minimum sampling with a
   keyed sequence of uniforms and a Levenshtein-aligned test (Kuditipudi et al.);
4. the attack: mask a short span, resample it from an attacker's model (sampled at temperature 1,
   the filling chosen to fit the text on its right), keep the change only if the oracle scores the
   text no worse than the watermarked original; repeat;
5. the controls: each attacker simply *regenerating* the text from the prompt with its own model,
   and a *blind* walk whose fillings ignore the context;
6. the measurements: detection and paired false positives, and quality as a referee would accept it
   offline: a two-sample discriminator on the judge's hidden states (attacked texts against
   unwatermarked continuations of the same prompts), the judge's NLL difference to those
   continuations, and the texts' diversity.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import platform
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

from companion.core.cache import Result, cached, cached_training
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import Transformer
from companion.core.runtime import derived_generator
from companion.core.stats import mean_interval, verdict
from companion.core.sweeps import run_cached
from companion.core.training import train

NAME = "watermark-sand"
VERSION = 3  # 3: text split three ways, three attackers and a separate oracle, regeneration, the discriminator
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


def _standard_library_tokens() -> list[str]:
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
    return [token for text in texts for token in tokenize(text)]


CORPUS_VERSION = 1


@dataclass(frozen=True)
class CorpusSource:
    """The corpus's cache key: the standard library it is read from is that of this Python version."""

    python: str


def _parse_corpus(source: CorpusSource) -> Result:
    tokens = _standard_library_tokens()
    words = [word for word, _ in Counter(tokens).most_common()]
    index = {word: i for i, word in enumerate(words)}
    return Result(metrics={"config": dataclasses.asdict(source), "words": words},
                  arrays={"ids": torch.tensor([index[token] for token in tokens], dtype=torch.int32)})


@lru_cache(maxsize=1)
def corpus() -> tuple[tuple[str, ...], np.ndarray]:
    """Every distinct token, the commonest first (ties in order of first appearance), and the corpus as
    indices into them. Parsing the standard library takes seconds, so the result cache keeps it."""
    source = CorpusSource(platform.python_version())
    result = cached(f"{NAME}-corpus", CORPUS_VERSION, source, lambda: _parse_corpus(source))
    return tuple(result.metrics["words"]), result.arrays["ids"].numpy().astype(np.int64)


def corpus_tokens() -> tuple[str, ...]:
    """The docstrings of Python's standard library (its tests, IDLE and a few tool directories left
    out) as one token stream, in a fixed order: about a quarter of a million words of technical prose
    that every Python installation carries."""
    words, ids = corpus()
    return tuple(words[i] for i in ids)


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


def vocabulary(size: int) -> Vocabulary:
    """The `size` - 1 most frequent tokens and <unk> (id 0)."""
    return Vocabulary((UNKNOWN, *corpus()[0][:size - 1]))


DEAL = ("generator", "attack", "judge", "generator", "attack", "judge", "prompts")


def split_ids(size: int) -> dict[str, np.ndarray]:
    """The encoded stream in blocks of 2,000 tokens dealt in turn to four parts that share no text: the
    generator's, the attacker's (for its proposers and its oracle), the judge's, and held-out prompts."""
    ranks = corpus()[1]
    ids = np.where(ranks < size - 1, ranks + 1, 0)  # vocabulary(size).encode(corpus_tokens()), without the strings
    blocks = np.array_split(ids, max(1, len(ids) // 2000))
    parts = {name: [] for name in dict.fromkeys(DEAL)}
    for i, block in enumerate(blocks):
        parts[DEAL[i % len(DEAL)]].append(block)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


# ----------------------------------------------------------------------------- the language models

# Which text each model learns from; no two parts share any text.
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
    ids = torch.from_numpy(parts[config.part])
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


@lru_cache(maxsize=16)
def match_costs(watermark: Watermark) -> torch.Tensor:
    """(V, 2L) log(1 - xi_j[y]) for the key repeated twice (a text may start anywhere in the key and wrap
    around), in double precision, one row per token: computed once per key, not once per text."""
    return torch.log1p(-torch.cat([key_sequence(watermark)] * 2).double()).T.contiguous()


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
    orders = torch.stack([torch.arange(len(tokens))] +
                         [torch.randperm(len(tokens), generator=generator) for _ in range(permutations)])
    costs = match_costs(watermark)[tokens[orders]]  # (1 + permutations, n, 2L)
    statistics = levenshtein_statistic(costs)
    observed = float(statistics[0])
    p_value = (1 + int((statistics[1:] <= observed).sum())) / (1 + permutations)
    return observed, p_value


def detect(watermark: Watermark, text: torch.Tensor, prompt_length: int, generator: torch.Generator) -> dict:
    """The scheme's statistic on the text after its prompt, and whether it crosses the threshold."""
    tokens = text.numpy()
    if watermark.scheme == "exp":
        statistic, p_value = exp_p_value(watermark, tokens[prompt_length:], generator)
        return {"statistic": statistic, "p_value": p_value, "detected": p_value <= P_THRESHOLD}
    if watermark.scheme == "unigram":
        # Zhao et al. score each distinct token once: a repeated word would otherwise count again and
        # again, and text that repeats a common green word would be flagged without a watermark
        scored = np.unique(tokens[prompt_length:])
        z = green_z_score(watermark, scored, scored)  # one fixed list: the token before does not matter
    else:
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
    "both-sides" samples `candidates` fillings from the attacker's model given the left context (at
    `temperature`) and picks one with probability proportional to the likelihood it gives the next
    `lookahead` tokens on the right (so the filling fits both sides); "blind" draws the span from the
    attacker's text's word frequencies, ignoring the context. The quality oracle, a model separate from
    the proposer, accepts the change only if its mean log-likelihood per token of the text has not
    fallen more than `tolerance` below the watermarked original's; otherwise the walk stays where it
    was (it backtracks)."""

    span: int = 3
    candidates: int = 4
    temperature: float = 1.0
    lookahead: int = 8
    tolerance: float = 0.0
    steps: int = 60
    perturbation: str = "both-sides"
    record_every: int = 20

    def __post_init__(self):
        check_int("span", self.span, 1, 32)
        check_int("candidates", self.candidates, 1, 64)
        check_float("temperature", self.temperature, 0, 10, low_inclusive=False)
        check_int("lookahead", self.lookahead, 1, 512)
        check_float("tolerance", self.tolerance, 0, 10)
        check_int("steps", self.steps, 1, 100000)
        check_choice("perturbation", self.perturbation, PERTURBATIONS)
        check_int("record_every", self.record_every, 1, 100000)


def quality(model: Transformer, texts: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """Mean log-likelihood per token of each text after its prompt, under `model`: (B,)."""
    return token_log_probs(model, texts)[:, prompt_length - 1:].mean(-1)


FILL_CONTEXT = 24  # tokens before a span the filler reads: a 2-layer word model uses little more


def row_windows(texts: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """texts[i, starts[i] : starts[i] + length] for every row i: (B, length)."""
    return texts[torch.arange(len(texts))[:, None], starts[:, None] + torch.arange(length)]


def fill_logits(model: Transformer, texts: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The model's logits (B, V) for the token at `positions[i]` of each text, given the FILL_CONTEXT
    tokens before it. A causal model reads each position from the tokens before it, so it runs on a
    window ending at the position (what follows inside the window is ignored), not on the whole text."""
    width = min(FILL_CONTEXT, texts.shape[1])
    window_start = (positions - width).clamp(min=0)
    window = row_windows(texts, window_start, width)
    return model.unembed(hidden_states(model, window)[torch.arange(len(texts)), positions - 1 - window_start])


def propose(model: Transformer, texts: torch.Tensor, prompt_length: int, attack: Attack,
            word_frequencies: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One perturbation of each text (B, S): the same text with one span refilled."""
    B, S = texts.shape
    starts = torch.randint(prompt_length, S - attack.span + 1, (B,), generator=generator)
    if attack.perturbation == "blind":
        proposal = texts.clone()
        for j in range(attack.span):
            proposal[torch.arange(B), starts + j] = torch.multinomial(word_frequencies, B, replacement=True,
                                                                      generator=generator)
        return proposal
    K = attack.candidates
    candidates = texts.repeat_interleave(K, 0)
    rows, starts_k = torch.arange(B * K), starts.repeat_interleave(K)
    for j in range(attack.span):
        position = starts_k + j
        logits = fill_logits(model, candidates, position)
        logits[:, 0] = -torch.inf
        candidates[rows, position] = torch.multinomial((logits / attack.temperature).softmax(-1), 1,
                                                       generator=generator)[:, 0]
    # the log-likelihood of the `lookahead` tokens after the span, given the span and what precedes it
    first = starts_k + attack.span
    width = min(FILL_CONTEXT, S)
    length = min(width + attack.span + attack.lookahead, S)
    window_start = (starts_k - width).clamp(min=0).clamp(max=S - length)
    window = row_windows(candidates, window_start, length)
    scored = first[:, None] + torch.arange(attack.lookahead)[None]  # positions in the text
    inside = scored < S
    scored = scored.clamp(max=S - 1)
    logits = model.unembed(hidden_states(model, window)[rows[:, None], scored - 1 - window_start[:, None]])
    right = logits.log_softmax(-1).gather(-1, candidates[rows[:, None], scored][..., None])[..., 0]
    right = (right * inside).sum(-1).view(B, K)
    pick = torch.multinomial(right.softmax(-1), 1, generator=generator)[:, 0]
    return candidates.view(B, K, S)[torch.arange(B), pick]


def random_walk(proposer: Transformer | None, oracle: Transformer, texts: torch.Tensor, prompt_length: int,
                attack: Attack, word_frequencies: torch.Tensor, generator: torch.Generator) -> dict:
    """Walk every text (B, S) for `attack.steps` steps: the texts every `record_every` steps (and at
    the last), the steps they were taken at, and each text's share of accepted proposals."""
    current = texts.clone()
    recorded = [s for s in range(1, attack.steps + 1) if s % attack.record_every == 0 or s == attack.steps]
    with torch.no_grad():
        original = quality(oracle, texts, prompt_length)
        snapshots, accepted = [texts.clone()], torch.zeros(len(texts))
        for step in range(1, attack.steps + 1):
            proposal = propose(proposer, current, prompt_length, attack, word_frequencies, generator)
            accept = quality(oracle, proposal, prompt_length) >= original - attack.tolerance
            current = torch.where(accept[:, None], proposal, current)
            accepted += accept.float()
            if step in recorded:
                snapshots.append(current.clone())
    return {"snapshots": torch.stack(snapshots), "acceptance_rate": accepted / attack.steps, "steps": [0, *recorded]}


# ----------------------------------------------------------------------------- quality, as a referee measures it

def distinct_2(texts: torch.Tensor, prompt_length: int) -> np.ndarray:
    """Per text: distinct bigrams over bigrams after the prompt (1 when no bigram repeats)."""
    out = []
    for text in texts[:, prompt_length:].tolist():
        pairs = list(zip(text, text[1:]))
        out.append(len(set(pairs)) / len(pairs))
    return np.array(out)


def unique_ratio(texts: torch.Tensor, prompt_length: int) -> np.ndarray:
    """Per text: distinct tokens over tokens after the prompt."""
    return np.array([len(set(text)) / len(text) for text in texts[:, prompt_length:].tolist()])


def judge_features(judge: Transformer, texts: torch.Tensor, prompt_length: int) -> np.ndarray:
    """What the discriminator sees of each text: the judge's final hidden states averaged over the
    continuation, and the judge's NLL per token of it."""
    with torch.no_grad():
        states = hidden_states(judge, texts)[:, prompt_length:].mean(1)
        nll = -quality(judge, texts, prompt_length)
    return torch.cat([states, nll[:, None]], 1).numpy()


DISCRIMINATOR_FOLDS = 5


def _out_of_fold_scores(candidates: np.ndarray, candidate_prompts: np.ndarray, reference: np.ndarray,
                        reference_prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (1: candidate), cross-validated decision scores and prompt of every text. The folds keep
    all texts of a prompt together, so the classifier never meets a test text's prompt in training."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.concatenate([candidates, reference])
    labels = np.r_[np.ones(len(candidates)), np.zeros(len(reference))]
    groups = np.r_[candidate_prompts, reference_prompts]
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    folds = GroupKFold(n_splits=min(DISCRIMINATOR_FOLDS, len(np.unique(groups))))
    scores = cross_val_predict(classifier, features, labels, groups=groups, cv=folds, method="decision_function")
    return labels, scores, groups


def discriminator_auc(candidates: np.ndarray, candidate_prompts: np.ndarray, reference: np.ndarray,
                      reference_prompts: np.ndarray) -> float:
    """Cross-validated AUC of a linear classifier telling `candidates` from `reference` by their
    features: 0.5 when the two sets are indistinguishable to it, 1 when it separates them."""
    from sklearn.metrics import roc_auc_score

    labels, scores, _ = _out_of_fold_scores(candidates, candidate_prompts, reference, reference_prompts)
    return float(roc_auc_score(labels, scores))


NULL_DRAWS = 40


def discriminator_null(plain_features: np.ndarray, per_prompt: int, seed: int) -> list[float]:
    """The discriminator's AUC when there is nothing to find: each draw makes one random unwatermarked
    continuation of every prompt the candidate and the prompt's others the reference, and runs the
    whole cross-validation. Its spread is what an AUC must clear to say two sets differ (it includes the
    folds' refits and the dependence among a prompt's texts, which a formula for the AUC's error
    leaves out)."""
    prompts = len(plain_features) // per_prompt
    rng = np.random.default_rng([seed, 41])
    null = []
    for _ in range(NULL_DRAWS):
        chosen = np.arange(prompts) * per_prompt + rng.integers(0, per_prompt, prompts)
        rest = np.setdiff1d(np.arange(len(plain_features)), chosen)
        null.append(discriminator_auc(plain_features[chosen], np.arange(prompts), plain_features[rest],
                                      rest // per_prompt))
    return null


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
        watermark = config.watermark(scheme)
        rows = slice(i * n, (i + 1) * n)
        before = _detections(watermark, marked[scheme], P, generator)
        null = _detections(watermark, plain, P, generator)
        watermarked = referee.measure(marked[scheme])
        original_nll = np.array(watermarked["judge_nll"])
        per_attacker = {}
        for name in names:
            snapshots = walks[name]["snapshots"][:, rows]
            walk = _attacked(referee, watermark, snapshots[-1], original_nll, P, generator)
            if name == names[0]:  # the strongest attacker's walk, followed step by step on the page
                walk["score_trace"] = [[detection_score(watermark, r) for r in _detections(watermark, s, P, generator)]
                                       for s in snapshots[:-1]] + [walk["scores"]]
                arrays[f"{scheme}_walk"] = snapshots
            walk["changed_fraction"] = float((snapshots[-1][:, P:] != snapshots[0][:, P:]).float().mean())
            per_attacker[name] = {
                "walk": walk,
                "regeneration": _attacked(referee, watermark, regenerated[name], original_nll, P, generator),
                "acceptance_rate": float(walks[name]["acceptance_rate"][rows].mean())}
        blind_final = blind["snapshots"][-1, rows]
        metrics["schemes"][scheme] = {
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
                      "changed_fraction": float((blind_final[:, P:] != marked[scheme][:, P:]).float().mean())},
        }
    metrics["regeneration_texts"] = {name: regenerated[name].tolist() for name in names}
    losses = {role: language_model(c)[1].metrics["held_out_loss"] for role, c in config.language_models.items()}
    metrics["models"] = {"generator_loss": losses["generator"], "judge_loss": losses["judge"],
                         "oracle_loss": losses["oracle"],
                         "attackers": [{"name": name, "loss": losses[name]} for name in names]}
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    return Result(metrics=metrics, arrays=arrays)


def run(config: Config, use_cache: bool = True) -> Result:
    """Generate, detect, attack and judge (or load all of it from the cache)."""
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device="cpu")


# ----------------------------------------------------------------------------- what the page and the command line read

QUALITY_KEYS = ("erased", "erased_quality_kept", "discriminator_auc", "delta_nll", "distinct2", "unique_ratio")


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


def told_apart(result: Result, auc: float) -> bool:
    """Whether a discriminator AUC is above every AUC of the null draws (two unwatermarked samples):
    a one-sided test at level 1 / (NULL_DRAWS + 1)."""
    return auc > max(result.metrics["discriminator_null"])


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce watermark-sand` writes to watermark-sand.json."""
    scale = resolve_scale(scale)
    result = run(config_for(scale, seed))
    m = result.metrics
    report = {"topic": NAME, "scale": scale, "seed": seed, "models": m["models"],
              "false_positive_rate": {s: m["schemes"][s]["false_positive_rate"] for s in SCHEMES},
              "plain": {**{key: m["plain"][key] for key in ("distinct2", "unique_ratio", "discriminator_auc")},
                        "discriminator_null_max": max(m["discriminator_null"])}}
    for scheme in SCHEMES:
        s = m["schemes"][scheme]
        report[scheme] = {
            "detect_rate": s["detect_rate"], "false_positive_rate": s["false_positive_rate"],
            "watermarked": {key: s["watermarked"][key] for key in QUALITY_KEYS[2:]},
            "blind": {key: s["blind"][key] for key in (*QUALITY_KEYS, "acceptance_rate")},
            **{name: {"walk": {key: a["walk"][key] for key in QUALITY_KEYS},
                      "regeneration": {key: a["regeneration"][key] for key in QUALITY_KEYS},
                      "acceptance_rate": a["acceptance_rate"]}
               for name, a in s["attackers"].items()}}
    report["walk_against_regeneration"] = walk_against_regeneration(result)
    report["config"] = m["config"]
    return report


# ----------------------------------------------------------------------------- the page's sentences

SCHEME_NAMES = {"kgw": "KGW", "unigram": "Unigram", "exp": "EXP"}


def _percent(share: float) -> str:
    return f"{share:.0%}"


def _percent_range(shares) -> str:
    low, high = _percent(min(shares)), _percent(max(shares))
    return low if low == high else f"{low} to {high}"


def _auc_words(result: Result, measured: dict) -> str:
    """How the discriminator did against unwatermarked text, by the null draws."""
    auc = measured["discriminator_auc"]
    if told_apart(result, auc):
        return f"told apart from unwatermarked text (AUC {auc:.2f})"
    return f"not told apart from unwatermarked text (AUC {auc:.2f})"


def page_values(result: Result) -> dict[str, str]:
    """Every number and verdict the chapter's prose states, as text, computed from the run."""
    m = result.metrics
    models = m["models"]
    names = m["attackers"]
    strongest, weakest = names[0], names[-1]
    values = {
        "ws_generator_loss": f"{models['generator_loss']:.2f}", "ws_judge_loss": f"{models['judge_loss']:.2f}",
        "ws_oracle_loss": f"{models['oracle_loss']:.2f}",
        "ws_attacker_losses": ", ".join(f"{a['loss']:.2f}" for a in models["attackers"]),
        "ws_attackers_weaker": ("every attacker's held-out loss is above the generator's"
                                if all(a["loss"] > models["generator_loss"] for a in models["attackers"])
                                else "not every attacker's held-out loss is above the generator's"),
        "ws_oracle_versus": ("below the generator's: the attacker's judge of quality models the text better "
                             "than the watermarked model does (the paper's argument grants the attacker a "
                             "quality oracle; only the rewrites must come from a weaker model)"
                             if models["oracle_loss"] < models["generator_loss"] else
                             "above the generator's: the oracle, too, is weaker than the watermarked model"),
        "ws_strongest": strongest, "ws_weakest": weakest,
        "ws_plain_auc": f"{m['plain']['discriminator_auc']:.2f}",
        "ws_null_draws": str(len(m["discriminator_null"])),
        "ws_null_range": "{:.2f} to {:.2f}".format(min(m["discriminator_null"]), max(m["discriminator_null"])),
        "ws_plain_unique": f"{m['plain']['unique_ratio']:.2f}",
        "ws_plain_count": str(len(m["schemes"]["kgw"]["scores_unwatermarked"])),
    }
    compared = walk_against_regeneration(result)
    for scheme in SCHEMES:
        s = m["schemes"][scheme]
        values[f"ws_{scheme}_detect"] = _percent(s["detect_rate"])
        values[f"ws_{scheme}_fpr"] = _percent(s["false_positive_rate"])
        values[f"ws_{scheme}_marked"] = _auc_words(result, s["watermarked"])
        values[f"ws_{scheme}_cost"] = "{:+.2f} (95% interval {:+.2f} to {:+.2f})".format(
            s["watermarked"]["delta_nll"], *s["watermarked"]["delta_nll_ci"])
        walk = s["attackers"][strongest]["walk"]
        values[f"ws_{scheme}_erased"] = _percent(walk["erased"])
        values[f"ws_{scheme}_changed"] = _percent(walk["changed_fraction"])
        values[f"ws_{scheme}_walk_auc"] = _auc_words(result, walk)
        values[f"ws_{scheme}_walk_delta"] = "{:+.2f} ({:+.2f} to {:+.2f})".format(walk["delta_nll"],
                                                                               *walk["delta_nll_ci"])
        values[f"ws_{scheme}_blind_erased"] = _percent(s["blind"]["erased"])
        values[f"ws_{scheme}_blind_kept"] = _percent(s["blind"]["erased_quality_kept"])
        values[f"ws_{scheme}_blind_auc"] = _auc_words(result, s["blind"])
        values[f"ws_{scheme}_weak_erased"] = _percent(s["attackers"][weakest]["walk"]["erased"])
    for i, name in enumerate(names):
        acceptance = [m["schemes"][scheme]["attackers"][name]["acceptance_rate"] for scheme in SCHEMES]
        values[f"ws_accept_{i}"] = _percent_range(acceptance)
        c = compared[name]
        low, high = c["difference"]["ci"]
        side = verdict(c["difference"], above="beats", below="loses to", neither="is not separated from")
        values[f"ws_versus_{i}"] = (f"the walk {side} regeneration: {c['walk']['mean']:.0%} of texts erased with "
                                    f"the quality kept against {c['regeneration']['mean']:.0%} (difference "
                                    f"{low:+.0%} to {high:+.0%})")
        regeneration_auc = np.mean([m["schemes"][s]["attackers"][name]["regeneration"]["discriminator_auc"]
                                    for s in SCHEMES])
        walk_auc = np.mean([m["schemes"][s]["attackers"][name]["walk"]["discriminator_auc"] for s in SCHEMES])
        values[f"ws_aucs_{i}"] = f"{walk_auc:.2f} after the walk against {regeneration_auc:.2f} regenerated"
    differences = [compared[name]["difference"] for name in names]
    if all(verdict(d) == "above" for d in differences):
        values["ws_walk_verdict"] = ("For every attacker the walk erases the mark with the quality kept on more texts "
                                     "than regenerating does: an attacker that cannot write as well as the generator "
                                     "does better by editing the watermarked text than by replacing it, which is the "
                                     "paper's point in miniature.")
    else:
        values["ws_walk_verdict"] = ("The walk does not beat regeneration for every attacker, so this run does not "
                                     "show the paper's point that an attacker gains by walking rather than rewriting.")
    ceiling = fresh_sample_kept(result)
    values["ws_ceiling"] = _percent(ceiling["mean"])
    values["ws_ceiling_ci"] = "{:.0%} to {:.0%}".format(*ceiling["ci"])
    strongest_walks = [m["schemes"][scheme]["attackers"][strongest]["walk"] for scheme in SCHEMES]
    apart = [told_apart(result, w["discriminator_auc"]) for w in strongest_walks]
    erased = [w["erased"] for w in strongest_walks]
    judge_worse = all(w["delta_nll_ci"][0] > 0 for w in strongest_walks)
    if all(apart):
        values["ws_quality_verdict"] = ("So the walk does not keep the quality by a referee's measure: even after "
                                        "the strongest attacker's walk the classifier tells the texts of every scheme "
                                        "from unwatermarked ones" + (", and the judge finds them worse" if judge_worse
                                                                    else "") + ". Here the experiment "
                                        "departs from the paper, whose attack keeps the quality: with attackers this "
                                        "much weaker than the generator, it removes the mark from "
                                        f"{_percent(min(erased))} to {_percent(max(erased))} of the texts "
                                        "(by scheme) at a price in quality.")
    elif not any(apart):
        values["ws_quality_verdict"] = ("And the quality is kept: after the strongest attacker's walk the classifier "
                                        "cannot tell the texts of any scheme from unwatermarked ones, as the paper's "
                                        "argument says.")
    else:
        values["ws_quality_verdict"] = ("The quality is kept for some schemes and not others: after the strongest "
                                        "attacker's walk the classifier tells some schemes' texts from unwatermarked "
                                        "ones and not the others', so the paper's claim holds here only in part.")
    blind_kept = per_prompt([m["schemes"][s]["blind"]["erased_quality_kept_per_text"] for s in SCHEMES])
    walk_kept = per_prompt([w["erased_quality_kept_per_text"] for w in strongest_walks])
    blind_side = verdict(mean_interval(walk_kept - blind_kept), above="more texts than",
                         below="fewer texts than", neither="about as many texts as")
    values["ws_blind_versus"] = (f"by this measure the strongest attacker's walk erased with the quality kept "
                                 f"{blind_side} the blind walk ({walk_kept.mean():.0%} against "
                                 f"{blind_kept.mean():.0%}, paired by prompt)")
    blind_unique = max(m["schemes"][s]["blind"]["unique_ratio"] for s in SCHEMES)
    values["ws_blind_repeats"] = ("repeat themselves more than unwatermarked text"
                                  if blind_unique < m["plain"]["unique_ratio"] else
                                  "repeat themselves no more than unwatermarked text")
    walked_apart = [told_apart(result, m["schemes"][s]["attackers"][name]["walk"]["discriminator_auc"])
                    for s in SCHEMES for name in names]
    quality_words = ("a classifier tells every walk's texts from unwatermarked ones" if all(walked_apart) else
                     "a classifier tells none of the walks' texts from unwatermarked ones" if not any(walked_apart)
                     else "a classifier tells some of the walks' texts from unwatermarked ones")
    values["ws_alignment_measured"] = (
        f"rewrites from models weaker than the watermarked one removed the mark from {_percent(min(erased))} to "
        f"{_percent(max(erased))} of the texts (the strongest of three attackers, by scheme), and {quality_words}; "
        + ("walking beat rewriting from scratch for every attacker" if all(verdict(d) == "above" for d in differences)
           else "walking did not beat rewriting from scratch for every attacker"))
    exp_marked = told_apart(result, m["schemes"]["exp"]["watermarked"]["discriminator_auc"])
    values["ws_exp_note"] = ("The classifier tells even EXP's texts apart, although EXP leaves each token's "
                             "distribution unchanged; this chapter does not measure why (every text follows a "
                             "stretch of the same key of 256 rows, so texts share choices; that is one candidate)."
                             if exp_marked else
                             "EXP's texts are not told apart, as a scheme that leaves each token's distribution "
                             "unchanged should not be.")
    blind_acceptance = [m["schemes"][scheme]["blind"]["acceptance_rate"] for scheme in SCHEMES]
    values["ws_blind_accept"] = _percent_range(blind_acceptance)
    values["ws_blind_unique"] = "{:.2f} to {:.2f}".format(
        min(m["schemes"][s]["blind"]["unique_ratio"] for s in SCHEMES),
        max(m["schemes"][s]["blind"]["unique_ratio"] for s in SCHEMES))
    return values
