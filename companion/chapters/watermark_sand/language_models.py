"""Watermarks in the sand, part 2: the language models, each trained on its own share of the text.

The generator (which watermarks), the judge (which only measures quality at the end), three attackers
of different strengths, all weaker than the generator, and the attackers' quality oracle: small
causal transformers over word tokens, cached by their settings.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from companion.core.cache import Result, cached_training
from companion.core.config import check_choice, check_float, check_int, check_seed
from companion.core.models import Transformer
from companion.core.runtime import derived_generator
from companion.core.training import train

from .corpus import NAME, VERSION, split_ids

# Which text each model learns from; no two parts share any text.
MODEL_PARTS = ("generator", "attack", "judge")  # who trains on which share of the text


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
        check_choice("part", self.part, MODEL_PARTS)
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
