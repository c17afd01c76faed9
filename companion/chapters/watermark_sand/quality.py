"""Watermarks in the sand, part 5: quality as a referee would accept it, offline.

The texts' diversity, and a two-sample discriminator on the judge's hidden states with a permutation
null: can a classifier tell attacked texts from unwatermarked continuations of the same prompts?
"""
from __future__ import annotations

import numpy as np
import torch

from companion.core.models import Transformer

from .attack import oracle_quality
from .language_models import hidden_states


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
        nll = -oracle_quality(judge, texts, prompt_length)
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
