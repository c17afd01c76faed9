"""Watermarks in the sand, part 3: three watermarks, each with generation and detection.

A green list seeded by the previous token (Kirchenbauer et al.), one fixed green list (Zhao et al.), and
exponential-minimum sampling with a keyed sequence of uniforms and a Levenshtein-aligned permutation
test (Kuditipudi et al.).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from companion.core.config import check_choice, check_float, check_int
from companion.core.models import Transformer
from companion.core.runtime import derived_generator

from .language_models import next_token_logits

SCHEMES = ("kgw", "unigram", "exp")


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
