"""Watermarks in the sand, part 4: the attack, a random walk of small edits.

Mask a short span, resample it from an attacker's model (at temperature 1, the filling chosen to fit
the text on its right), and keep the change only if the quality oracle scores the text no worse than
the watermarked original; repeat, backtracking after many rejections.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from companion.core.config import check_choice, check_float, check_int
from companion.core.models import Transformer

from .language_models import hidden_states, token_log_probs

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


def oracle_quality(model: Transformer, texts: torch.Tensor, prompt_length: int) -> torch.Tensor:
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
        original = oracle_quality(oracle, texts, prompt_length)
        snapshots, accepted = [texts.clone()], torch.zeros(len(texts))
        for step in range(1, attack.steps + 1):
            proposal = propose(proposer, current, prompt_length, attack, word_frequencies, generator)
            accept = oracle_quality(oracle, proposal, prompt_length) >= original - attack.tolerance
            current = torch.where(accept[:, None], proposal, current)
            accepted += accept.float()
            if step in recorded:
                snapshots.append(current.clone())
    return {"snapshots": torch.stack(snapshots), "acceptance_rate": accepted / attack.steps, "steps": [0, *recorded]}
