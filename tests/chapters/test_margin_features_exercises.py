"""The margin features chapter's exercise checks pass right answers and fail wrong ones, with a hint."""


import numpy as np
import torch
from conftest import unfinished

from companion import margin_features as mf


def dominant_frequency(u):
    return int(np.argmax(np.abs(np.fft.rfft(u))[1:]) + 1)


def phase_relation(u, v, w, wrap=True, sign=1):
    power = sum(np.abs(np.fft.rfft(x)) ** 2 for x in (u, v, w))
    j = int(np.argmax(power[1:]) + 1)
    theta_u, theta_v, theta_w = (np.angle(np.fft.rfft(x)[j]) for x in (u, v, w))
    difference = sign * (theta_u + theta_v - theta_w)
    return float(np.angle(np.exp(1j * difference))) if wrap else float(difference)


def margin(in_w, out_w, x, y, power=3, normalise=True):
    logits = (x @ in_w.T) ** 2 @ out_w
    rows = torch.arange(len(y))
    correct = logits[rows, y]
    others = logits.clone()
    others[rows, y] = -torch.inf
    worst = (correct - others.max(1).values).min()
    norms = (in_w.pow(2).sum(1) + out_w.pow(2).sum(1)).sqrt()
    return float(worst / norms.pow(power).sum()) if normalise else float(worst)


def test_dominant_frequency_check(capsys):
    assert mf.check_dominant_frequency(dominant_frequency)
    assert not mf.check_dominant_frequency(lambda u: int(np.argmax(np.abs(np.fft.rfft(u)))))
    assert "constant" in capsys.readouterr().out
    assert not mf.check_dominant_frequency(lambda u: len(u) - dominant_frequency(u))
    assert "mirror" in capsys.readouterr().out


def test_phase_relation_check(capsys):
    assert mf.check_phase_relation(phase_relation)
    assert not mf.check_phase_relation(lambda u, v, w: phase_relation(u, v, w, sign=-1))
    assert "sign is flipped" in capsys.readouterr().out
    assert not mf.check_phase_relation(lambda u, v, w: phase_relation(u, v, w, wrap=False) + 2 * np.pi)
    assert "modulo 2 pi" in capsys.readouterr().out


def test_margin_check(capsys):
    from companion import margin_features as mf

    trained = mf.weights_at(mf.run(mf.config_for("test", "modular-addition", 0)))
    assert mf.check_margin(margin, trained)
    assert "trained one" in capsys.readouterr().out
    assert not mf.check_margin(lambda *args: margin(*args, normalise=False))
    assert "cubed L2,3 norm" in capsys.readouterr().out
    assert not mf.check_margin(lambda *args: margin(*args, power=2))
    assert "3-homogeneous" in capsys.readouterr().out
    assert not mf.check_margin(lambda *args: unfinished())
    assert "not implemented" in capsys.readouterr().out
