"""The variable creation chapter's exercise checks pass right answers and fail wrong ones, with a hint."""


import numpy as np
from conftest import unfinished

from companion import variable_creation as vc


def and_samples(T, support, m, rng, q=None):
    q = 0.5 ** (1 / len(support)) if q is None else q
    x = (rng.random((m, T)) < q).astype(float)
    return x, x[:, support].prod(1)


def test_and_samples_check(capsys):
    assert vc.check_and_samples(and_samples)
    assert not vc.check_and_samples(lambda T, S, m, rng: and_samples(T, S, m, rng, q=0.5))
    assert "2^-s" in capsys.readouterr().out
    assert not vc.check_and_samples(lambda T, S, m, rng: (and_samples(T, S, m, rng)[0],
                                                                  and_samples(T, S, m, rng)[1]))
    assert "exactly when" in capsys.readouterr().out  # labels from other bits than x's
    assert not vc.check_and_samples(lambda T, S, m, rng: and_samples(T, S, m, rng)[0])
    assert "return a pair" in capsys.readouterr().out
    assert not vc.check_and_samples(lambda *args: unfinished())
    assert "not implemented" in capsys.readouterr().out


def test_support_attention_check(capsys):
    from companion import variable_creation as vc

    result = vc.run(vc.config_for("test", "attention", 16, 80))
    assert vc.check_support_attention(lambda a, s: float(a[:, s].sum(1).mean()), result)
    assert not vc.check_support_attention(lambda a, s: float(a[:, s].sum()))
    assert "average over the inputs" in capsys.readouterr().out
    assert not vc.check_support_attention(lambda a, s: float(a[:, s].mean()))
    assert "add the attention" in capsys.readouterr().out
    assert not vc.check_support_attention(lambda a, s: float((a[:, s].sum(1) + a[:, -1]).mean()))
    assert "[CLS] attending to itself" in capsys.readouterr().out


def test_log_fit_check(capsys):
    from scipy.stats import linregress

    def fit(Ts, m, log=np.log, power=2):
        result = linregress(log(Ts), m)
        return result.intercept, result.slope, abs(result.rvalue) ** power

    assert vc.check_log_fit(fit, [32, 64, 128], [30, 41, 49])
    assert not vc.check_log_fit(lambda Ts, m: fit(Ts, m, log=np.log2))
    assert "natural logarithm" in capsys.readouterr().out
    assert not vc.check_log_fit(lambda Ts, m: fit(Ts, m)[1::-1] + (fit(Ts, m)[2],))
    assert "intercept" in capsys.readouterr().out
    assert not vc.check_log_fit(lambda Ts, m: fit(Ts, m, power=1))
    assert "square of the correlation" in capsys.readouterr().out
    assert not vc.check_log_fit(lambda Ts, m: fit(Ts, m)[:2])
    assert "three numbers" in capsys.readouterr().out
