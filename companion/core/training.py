"""The training loop every chapter shares: fresh or fixed batches, log-spaced evaluation, snapshots."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .runtime import progress_enabled


def log_spaced_steps(total: int, count: int) -> list[int]:
    """About `count` distinct steps from 0 to `total`, evenly spaced in log(1 + step)."""
    steps = np.unique(np.round(np.geomspace(1, total + 1, count) - 1).astype(int))
    return [int(s) for s in steps]


def train(
    model: torch.nn.Module,
    batch: Callable[[int], tuple[torch.Tensor, ...]],
    loss: Callable[..., torch.Tensor],
    *,
    steps: int,
    optimizer: torch.optim.Optimizer,
    evaluate: Callable[[int], dict],
    eval_steps: list[int],
    description: str = "training",
    stop: Callable[[dict], bool] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    clip_grad_norm: float | None = None,
) -> dict[str, list]:
    """Train for `steps` steps and evaluate at each step in `eval_steps` (step 0 is before training).

    ``batch(step)`` returns the tensors of one batch; ``loss(model, *tensors)`` returns a scalar.
    ``evaluate(step)`` returns a dict of numbers and tensors: numbers become lists in the returned
    history, tensors are stacked along a new first axis (snapshots for scrubbing through training).
    ``stop(measured)``, when given, is asked after each evaluation whether training can end early.
    ``scheduler``, when given, is stepped after every optimizer step. ``clip_grad_norm``, when given,
    rescales the gradients so that their joint norm is at most that before each step.
    """
    wanted = set(eval_steps)
    history: dict[str, list] = {"step": []}

    def record(step: int) -> bool:
        model.eval()
        with torch.no_grad():
            measured = evaluate(step)
        model.train()
        history["step"].append(step)
        for name, value in measured.items():
            history.setdefault(name, []).append(value)
        return stop is not None and stop(measured)

    if 0 in wanted and record(0):
        steps = 0
    model.train()
    for step in tqdm(range(1, steps + 1), desc=description, disable=not progress_enabled()):
        optimizer.zero_grad(set_to_none=True)
        loss(model, *batch(step)).backward()
        if clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if step in wanted and record(step):
            break
    return {
        name: torch.stack(values) if isinstance(values[0], torch.Tensor) else values
        for name, values in history.items()
    }
