"""Exercise checks of the knowable-unknowable chapter. Each runs the student's answer against the
reference and prints what is right or a hint about the likeliest mistake.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from companion.core.checks import attempt, exercise_check, report

from .experiment import entropy
from .probes import auc, fit_probe


@exercise_check
def check_token_entropy(fn) -> bool:
    """fn(logits) -> the entropy in nats of softmax(logits) along the last axis (a torch tensor in, one out)."""
    generator = torch.Generator().manual_seed(3)
    cases = [torch.randn(5, 7, generator=generator) * scale for scale in (0.1, 1.0, 5.0)]
    cases += [torch.randn(2, 3, 11, generator=generator) * 3, torch.tensor([[0.0, 0.0, 0.0, 0.0], [200.0, 0, 0, 0]])]
    for logits in cases:
        want = entropy(logits).numpy()
        got, problem = attempt(fn, logits.clone(), convert=lambda v: np.asarray(torch.as_tensor(v), dtype=float),
                               not_finite_hint="your entropies contain NaN: 0 log 0 counts as 0, so use log_softmax "
                                               "rather than log(softmax(...)).")
        if problem:
            return report(False, problem)
        if got.shape != want.shape or not np.allclose(got, want, atol=1e-4):
            if got.shape != want.shape:
                hint = f"one entropy per row: expected shape {want.shape}, got {got.shape}."
            elif np.allclose(got, want / math.log(2), atol=1e-4):
                hint = "that is in bits; use the natural logarithm (nats)."
            elif np.allclose(got, -want, atol=1e-4):
                hint = "the sign: H = -sum p log p is never negative."
            else:
                hint = "turn the logits into probabilities first (softmax), then H = -sum p log p."
            return report(False, f"your entropies differ from the reference. {hint}")
    return report(True, f"right on {len(cases)} batches of logits, from nearly uniform to one-hot.")


@exercise_check
def check_balanced_dataset(fn) -> bool:
    """fn(labels, token_ids, rng) -> indices of a data set with, for every token id, as many epistemic (1)
    as aleatoric (0) examples, as many as possible; unlabelled (-1) tokens never chosen."""
    rng = np.random.default_rng(4)
    for trial in range(4):
        size = 400
        labels = rng.choice([-1, 0, 1], size=size, p=[0.3, 0.5, 0.2])
        token_ids = rng.integers(0, 12, size=size)
        got, problem = attempt(fn, labels.copy(), token_ids.copy(), np.random.default_rng(trial),
                                convert=lambda v: np.asarray(v, dtype=int).reshape(-1))
        if problem:
            return report(False, problem)
        if len(np.unique(got)) != len(got):
            return report(False, "some index appears twice: draw without replacement.")
        if len(got) and (got.min() < 0 or got.max() >= size):
            return report(False, "return indices into the arrays (0 to len - 1), not labels or token ids.")
        if (labels[got] < 0).any():
            return report(False, "unlabelled tokens (-1) crept in: keep only epistemic (1) and aleatoric (0).")
        for token in range(12):
            chosen = labels[got][token_ids[got] == token]
            n_epistemic, n_aleatoric = (chosen == 1).sum(), (chosen == 0).sum()
            available = min(((labels == 1) & (token_ids == token)).sum(), ((labels == 0) & (token_ids == token)).sum())
            if n_epistemic != n_aleatoric:
                overall = (labels[got] == 1).sum() == (labels[got] == 0).sum()
                hint = (" The totals match, but the balance must hold for each token id separately."
                        if overall else "")
                return report(False, f"token {token}: {n_epistemic} epistemic against {n_aleatoric} aleatoric.{hint}")
            if n_epistemic < available:
                return report(False, f"token {token}: only {n_epistemic} pairs kept where {available} were possible; "
                                      "keep min(#epistemic, #aleatoric) of each.")
    return report(True, "balanced per token id, as large as possible, on four random data sets.")


@exercise_check
def check_linear_probe(fn) -> bool:
    """fn(train_features, train_labels, test_features) -> one score per test example, higher meaning
    more likely epistemic (label 1)."""
    rng = np.random.default_rng(5)
    for _ in range(3):
        direction = rng.normal(size=16)
        features = rng.normal(size=(800, 16)) * rng.uniform(0.1, 30, size=16)  # scales differ, as in a network
        labels = ((features / features.std(0)) @ direction + rng.normal(scale=2.0, size=800) > 0).astype(int)
        train, test = slice(0, 600), slice(600, None)
        want = auc(labels[test], fit_probe(features[train], labels[train]).predict_proba(features[test])[:, 1])
        got, problem = attempt(fn, features[train].copy(), labels[train].copy(), features[test].copy(),
                                convert=lambda v: np.asarray(v, dtype=float).reshape(-1))
        if problem:
            return report(False, problem)
        if got.shape != (200,):
            return report(False, f"expected one score per test example (200), got shape {got.shape}.")
        found = auc(labels[test], got)
        if found < want - 0.03:
            if found < 0.5:
                hint = "your scores rank backwards: return the probability of class 1 (predict_proba(...)[:, 1])."
            elif len(np.unique(got)) <= 2:
                hint = "return scores (probabilities), not 0/1 predictions: the AUC needs a ranking."
            else:
                hint = "standardise the features (their scales differ a lot) before the logistic regression."
            return report(False, f"test AUC {found:.3f}, the reference probe reaches {want:.3f}. {hint}")
    return report(True, f"your probe ranks held-out examples as well as the reference (AUC {found:.3f} on the "
                         "last data set).")
