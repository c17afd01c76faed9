"""Exercise checks of the increasing-complexity chapter. Each runs the student's answer against the
reference and prints what is right or a hint about the likeliest mistake.
"""

from __future__ import annotations

import numpy as np

from companion.core.checks import attempt, exercise_check, report, within

from .experiment import conditional_mutual_information, mu, mutual_information


def _discrete_samples(seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    linear = np.where(rng.uniform(size=500) < 0.8, y, 1 - y)
    f = np.where(rng.uniform(size=500) < 0.7, linear, rng.integers(0, 2, 500))
    return f, y, linear


@exercise_check
def check_mutual_information(fn) -> bool:
    """fn(a, b) -> the plug-in mutual information in bits of two discrete arrays."""
    for seed in range(5):
        f, y, linear = _discrete_samples(seed)
        for a, b in ((f, y), (linear, y), (f, linear), (y, y)):
            want = mutual_information(a, b)
            got, problem = attempt(fn, a.copy(), b.copy(), convert=float)
            if problem:
                return report(False, problem)
            if not within(got, want, 1e-9):
                if abs(got - want * np.log(2)) < 1e-9:
                    hint = "that is in nats: use log base 2 for bits."
                else:
                    hint = "count the joint outcomes, then sum p(a,b) log2(p(a,b) / (p(a) p(b)))."
                return report(False, f"expected {want:.6f} bits, got {got:.6f}. {hint}")
    return report(True, "your plug-in estimate matches the reference on 20 pairs of samples.")


@exercise_check
def check_mu(fn) -> bool:
    """fn(f, y, linear) -> mu_Y(F; L) = I(F;Y) - I(F;Y|L) in bits."""
    for seed in range(5):
        f, y, linear = _discrete_samples(seed)
        want = mu(f, y, linear)
        got, problem = attempt(fn, f.copy(), y.copy(), linear.copy(), convert=float)
        if problem:
            return report(False, problem)
        if not within(got, want, 1e-9):
            if abs(got - conditional_mutual_information(f, y, linear)) < 1e-9:
                hint = "that is I(F;Y|L) alone: mu subtracts it from I(F;Y)."
            elif abs(got - (mutual_information(f, y) - mutual_information(f, linear))) < 1e-9:
                hint = "I(F;L) is not the conditional term: use I(F;Y|L) = sum_l p(l) I(F;Y | L=l)."
            else:
                hint = "mu = I(F;Y) - sum over l of p(L=l) I(F;Y | L=l)."
            return report(False, f"expected {want:.6f} bits, got {got:.6f}. {hint}")
    return report(True, "your mu matches the reference on 5 samples.")


NEGATIVE_MU_ANSWERS = {
    "a": "No: estimation noise can make mu slightly negative, but mu can be far below zero for exact "
         "distributions too. Try F = Y xor L with Y and L independent fair coins.",
    "b": "Right: when F says something about Y only in combination with L (F = Y xor L, say), F alone "
         "knows nothing, I(F;Y) = 0, yet given L it determines Y, I(F;Y|L) = 1 bit: mu = -1 bit.",
    "c": "No: a worse classifier than L can still have mu >= 0 (for example F = L with some noise); "
         "mu compares what F knows with what L explains, not their accuracies.",
}


@exercise_check
def check_negative_mu(answer: str) -> bool:
    """Multiple choice: when is mu negative? 'a', 'b' or 'c' (see the chapter); shows the measurement."""
    choice = str(answer).strip().lower()
    if choice not in NEGATIVE_MU_ANSWERS:
        return report(False, f"answer must be one of {sorted(NEGATIVE_MU_ANSWERS)}, got {answer!r}")
    ok = report(choice == "b", NEGATIVE_MU_ANSWERS[choice])
    if ok:
        rng = np.random.default_rng(0)
        y, linear = rng.integers(0, 2, 20000), rng.integers(0, 2, 20000)
        f = y ^ linear
        print(f"  measured on 20,000 samples: I(F;Y) = {mutual_information(f, y):.3f}, "
              f"I(F;Y|L) = {conditional_mutual_information(f, y, linear):.3f}, mu = {mu(f, y, linear):.3f} bits")
    return ok


