"""The knowable unknowable chapter's exercise checks pass right answers and fail wrong ones, with a hint."""

import math

import numpy as np
import torch

from companion import knowable_unknowable as ku


def token_entropy(logits):
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


def test_token_entropy_check(capsys):
    assert ku.check_token_entropy(token_entropy)
    assert not ku.check_token_entropy(lambda z: token_entropy(z) / math.log(2))
    assert "bits" in capsys.readouterr().out
    assert not ku.check_token_entropy(lambda z: -token_entropy(z))
    assert "sign" in capsys.readouterr().out
    assert not ku.check_token_entropy(lambda z: -(z.softmax(-1) * z.softmax(-1).log()).sum(-1))
    assert "log_softmax" in capsys.readouterr().out  # log(softmax) of a one-hot row is nan
    assert not ku.check_token_entropy(lambda z: token_entropy(z).sum())
    assert "shape" in capsys.readouterr().out


def balanced_dataset(labels, token_ids, rng):
    chosen = []
    for token in np.unique(token_ids[labels >= 0]):
        epistemic = np.flatnonzero((token_ids == token) & (labels == 1))
        aleatoric = np.flatnonzero((token_ids == token) & (labels == 0))
        count = min(len(epistemic), len(aleatoric))
        chosen += [rng.choice(epistemic, count, replace=False), rng.choice(aleatoric, count, replace=False)]
    return np.concatenate(chosen)


def test_balanced_dataset_check(capsys):
    assert ku.check_balanced_dataset(balanced_dataset)

    def totals_only(labels, token_ids, rng):
        epistemic, aleatoric = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        count = min(len(epistemic), len(aleatoric))
        return np.concatenate([epistemic[:count], aleatoric[:count]])
    assert not ku.check_balanced_dataset(totals_only)
    assert "each token id separately" in capsys.readouterr().out
    assert not ku.check_balanced_dataset(lambda labels, ids, rng: np.arange(len(labels)))
    assert "unlabelled" in capsys.readouterr().out
    halves = lambda labels, ids, rng: balanced_dataset(np.where(np.arange(len(labels)) % 2, labels, -1), ids, rng)  # noqa: E731
    assert not ku.check_balanced_dataset(halves)
    assert "were possible" in capsys.readouterr().out


def linear_probe(train_features, train_labels, test_features):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(train_features, train_labels)
    return probe.predict_proba(test_features)[:, 1]


def test_linear_probe_check(capsys):
    assert ku.check_linear_probe(linear_probe)
    assert not ku.check_linear_probe(lambda x, y, z: 1 - linear_probe(x, y, z))
    assert "backwards" in capsys.readouterr().out
    assert not ku.check_linear_probe(lambda x, y, z: (linear_probe(x, y, z) > 0.5).astype(float))
    assert "not 0/1 predictions" in capsys.readouterr().out
    assert not ku.check_linear_probe(lambda x, y, z: np.zeros(len(z) - 1))
    assert "one score per test example" in capsys.readouterr().out
