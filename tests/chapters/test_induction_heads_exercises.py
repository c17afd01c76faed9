"""The induction heads chapter's exercise checks pass right answers and fail wrong ones, with a hint."""


import numpy as np
import pytest
from conftest import unfinished

from companion import induction_heads as ih


def unigram(sequence, k):
    counts = np.cumsum(np.eye(k)[sequence], axis=0)
    return (counts + 1) / (counts.sum(1, keepdims=True) + k)


def bigram(sequence, k):
    table, rows = np.zeros((k, k)), []
    for t, token in enumerate(sequence):
        if t:
            table[sequence[t - 1], token] += 1
        rows.append((table[token] + 1) / (table[token].sum() + k))
    return np.array(rows)


def test_reference_answers_pass(capsys):
    assert ih.check_unigram_predictor(unigram)
    assert ih.check_bigram_predictor(bigram)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (unfinished, "not implemented yet"),
    (lambda s, k: np.cumsum(np.eye(k)[s], 0) / np.arange(1, len(s) + 1)[:, None], "add-one"),
    (lambda s, k: np.ones((len(s) - 1, k)) / k, "shape"),
    (lambda s, k: np.ones((len(s), k)), "sum"),
    (lambda s, k: 1 / 0, "ZeroDivisionError"),
    (lambda s, k: unigram(s, k)[::-1], "row"),
])
def test_wrong_unigram_answers_fail_with_a_hint(capsys, wrong, hint):
    assert not ih.check_unigram_predictor(wrong)
    assert hint in capsys.readouterr().out


def test_unigram_counts_are_not_a_bigram_predictor(capsys):
    assert not ih.check_bigram_predictor(unigram)
    assert "right after earlier copies" in capsys.readouterr().out


def test_plateau_check_uses_the_measured_plateau(capsys):
    result = ih.run(ih.config_for("test"))
    metrics = result.metrics
    base = metrics["baselines"]
    on_plateau = [metrics["kl_model"][metrics["step"].index(s)] for s in ih.phase_checks(metrics)["plateau_steps"]]
    plateau = sum(on_plateau) / len(on_plateau)
    assert ih.check_plateau_height(plateau + 0.015, result)
    assert not ih.check_plateau_height(plateau + 0.03, result)  # compared with the plateau, not a baseline
    assert not ih.check_plateau_height(base["bigram"], result)
    assert "bigram strategy's loss" in capsys.readouterr().out
    assert not ih.check_plateau_height("lots", result)


def test_prior_question(capsys):
    assert ih.check_prior_experiment("b", ih.prior_baselines("doubly-stochastic", "test"))
    assert not ih.check_prior_experiment("b", ih.prior_baselines("dirichlet", "test"))  # the measurement disagrees
    assert not ih.check_prior_experiment("a")
    assert not ih.check_prior_experiment(Ellipsis)
    assert "must be one of" in capsys.readouterr().out
