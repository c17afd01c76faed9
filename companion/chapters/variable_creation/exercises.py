"""Exercise checks of the chapter on sparse variable creation in self-attention. Each runs the
student's answer against the reference and prints what is right or a hint about the likeliest
mistake.
"""

from __future__ import annotations

import numpy as np

from companion.core.checks import attempt, exercise_check, report, within

from .analysis import log_fit
from .experiment import support_attention_mass


def _pair_of_arrays(value):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError("return a pair (x, y): the bits and the labels")
    return tuple(np.asarray(a, dtype=float) for a in value)


@exercise_check
def check_and_samples(fn) -> bool:
    """fn(T, support, m, rng) -> (x, y): m rows of T bits and their s-way AND on the support, with
    each bit 1 with probability 0.5^(1/s) so that half the labels are 1."""
    checked = 0
    for T, support, seed in ((16, [2, 7, 11], 0), (64, [0, 31, 63], 1), (10, [4, 5], 2), (40, [1, 9, 20, 33], 3)):
        m, s = 20000, len(support)
        got, problem = attempt(fn, T, list(support), m, np.random.default_rng(seed), convert=_pair_of_arrays)
        if problem:
            return report(False, problem)
        x, y = got
        if x.shape != (m, T) or y.shape != (m,):
            return report(False, f"with T={T} and m={m} expected x of shape {(m, T)} and y of shape {(m,)}, "
                                  f"got {x.shape} and {y.shape}.")
        if not np.isin(x, (0, 1)).all():
            return report(False, "the bits must be 0 or 1.")
        if not np.array_equal(y, x[:, support].prod(1)):
            return report(False, f"y must be 1 exactly when every bit on the support {support} is 1.")
        bit_rate, want = x.mean(), 0.5 ** (1 / s)
        if not within(bit_rate, want, 0.01):
            hint = (" With fair bits an AND of s bits is 1 only a fraction 2^-s of the time."
                    if abs(bit_rate - 0.5) < 0.01 else "")
            return report(False, f"with s={s} a bit should be 1 with probability 0.5^(1/s) = {want:.3f}; "
                                  f"yours are 1 a fraction {bit_rate:.3f} of the time.{hint}")
        if not within(y.mean(), 0.5, 0.02):
            return report(False, f"the labels should be balanced, but a fraction {y.mean():.3f} are 1.")
        checked += 1
    return report(True, f"right on {checked} supports: exact labels, bits 1 with probability 0.5^(1/s), "
                         "labels balanced.")


@exercise_check
def check_support_attention(fn, result=None) -> bool:
    """fn(attention, support) -> the mean over inputs of the [CLS] attention mass on the support, where
    attention is (inputs, T + 1) with [CLS]'s attention to itself in the last column."""
    rng = np.random.default_rng(0)
    cases = []
    for T in (8, 32, 100):
        attention = rng.dirichlet(np.full(T + 1, 0.3), size=50)
        cases.append((attention, sorted(rng.choice(T, 3, replace=False).tolist())))
    if result is not None:
        replicate = int(np.argmax(result.metrics["test_accuracy"]))
        cases.append((result.arrays["mean_attention"][replicate].numpy()[None], result.metrics["supports"][replicate]))
    for attention, support in cases:
        want = support_attention_mass(attention, support)
        got, problem = attempt(fn, attention.copy(), list(support), convert=float)
        if problem:
            return report(False, problem)
        if not within(got, want, 1e-9):
            if abs(got - attention[:, support].sum(1).sum()) < 1e-9 and len(attention) > 1:
                hint = "average over the inputs (rows), do not add them up."
            elif abs(got - attention[:, support].mean()) < 1e-9:
                hint = "add the attention over the support's positions, then average over the inputs."
            elif abs(got - (attention[:, support].sum(1) + attention[:, -1]).mean()) < 1e-9:
                hint = "the last column is [CLS] attending to itself, not a position of the input."
            else:
                hint = "for each row sum attention[row, support], then take the mean over rows."
            return report(False, f"with support {support} and T={attention.shape[1] - 1} expected {want:.6f}, "
                                  f"got {got:.6f}. {hint}")
    trained = ", and a trained model's attention" if result is not None else ""
    return report(True, f"right on {len(cases)} attention patterns (random ones{trained}).")


@exercise_check
def check_log_fit(fn, Ts=None, critical_m=None) -> bool:
    """fn(Ts, m_star) -> (a, b, r2) for the least-squares line m* = a + b ln T and its r^2."""
    rng = np.random.default_rng(0)
    cases = [([16, 32, 64, 128, 256], [20.0, 28.0, 40.0, 40.0, 57.0]),
             ([8, 64, 512], [10.0, 30.0, 51.0]),
             ([16, 32, 64, 128], (5 + 9 * np.log([16, 32, 64, 128]) + rng.normal(0, 2, 4)).tolist())]
    if Ts is not None:
        cases.append((list(Ts), [float(m) for m in critical_m]))
    for Ts_, m_star in cases:
        want = log_fit(Ts_, m_star)
        got, problem = attempt(fn, list(Ts_), list(m_star), convert=lambda abr: [float(v) for v in abr])
        if problem:
            return report(False, problem)
        if len(got) != 3:
            return report(False, "return three numbers: the intercept a, the slope b and r^2.")
        a, b, r2 = got
        if not np.allclose([a, b, r2], [want["a"], want["b"], want["r2"]], rtol=1e-6, atol=1e-9):
            if np.isclose(b, want["b"] * np.log(2)) or np.isclose(b, want["b"] * np.log(10)):
                hint = "use the natural logarithm ln T (np.log), not log2 or log10."
            elif np.isclose(a, want["b"]) and np.isclose(b, want["a"]):
                hint = "a is the intercept and b the slope: the order is (a, b, r2)."
            elif np.isclose(r2, abs(want["r2"]) ** 0.5):
                hint = "r2 is the square of the correlation coefficient."
            else:
                hint = "regress m* on ln T by least squares (scipy.stats.linregress or np.polyfit)."
            return report(False, f"for T={list(Ts_)} and m*={[round(m, 1) for m in m_star]} expected "
                                  f"a={want['a']:.3f}, b={want['b']:.3f}, r2={want['r2']:.3f}; got "
                                  f"a={a:.3f}, b={b:.3f}, r2={r2:.3f}. {hint}")
    measured = ", and the chapter's measured m*" if Ts is not None else ""
    return report(True, f"right on {len(cases)} data sets (made-up ones{measured}).")


