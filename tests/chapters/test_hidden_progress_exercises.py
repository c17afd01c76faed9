"""The hidden progress chapter's exercise checks pass right answers and fail wrong ones, with a hint."""


import pytest

from companion import hidden_progress as hp
from companion.core import parity


def exact_gradient(w, support):
    x = parity.all_inputs(len(w)).double().numpy()
    y = x[:, support].prod(axis=1)
    return -((y * (x @ w > 0))[:, None] * x).mean(axis=0)


def test_fourier_coefficient_check(capsys):
    assert hp.check_fourier_coefficient(parity.fourier_coefficient)
    assert not hp.check_fourier_coefficient(lambda f, n, subset: float(f(parity.all_inputs(n)).mean()))
    assert "mean of f" in capsys.readouterr().out
    assert not hp.check_fourier_coefficient(
        lambda f, n, subset: parity.fourier_coefficient(f, n, subset) * 2**n)
    assert "divide by 2^n" in capsys.readouterr().out


def test_population_gradient_check(capsys):
    assert hp.check_population_gradient(exact_gradient)
    assert not hp.check_population_gradient(lambda w, s: -exact_gradient(w, s))
    assert "sign is flipped" in capsys.readouterr().out
    assert not hp.check_population_gradient(lambda w, s: exact_gradient(w, s)[:-1])
    assert not hp.check_population_gradient(lambda w, s: exact_gradient(w, s) + 1e-3)


def test_t_c_prediction_check(capsys):
    rows = [{"n": 10, "k": 4, "median_t_c": 300.0}, {"n": 20, "k": 4, "median_t_c": 1200.0}]
    assert hp.predict_t_c(rows, 4, 40) == pytest.approx(4800.0)
    assert hp.check_t_c_prediction(4800, rows, k=4, n=40)
    assert not hp.check_t_c_prediction(1200, rows, k=4, n=40)
    assert "largest measured median" in capsys.readouterr().out
    assert not hp.check_t_c_prediction(2000, rows, k=4, n=40)
