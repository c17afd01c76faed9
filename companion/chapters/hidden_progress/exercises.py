"""Exercise checks of the chapter on hidden progress. Each runs the student's answer against the
reference and prints what is right or a hint about the likeliest mistake.
"""

from __future__ import annotations

import numpy as np
import torch

from companion.core import parity
from companion.core.checks import attempt, call, exercise_check, report, within

from .analysis import predict_t_c


def _boolean_functions(n: int):
    """Named test functions on {-1, +1}^n, each mapping (N, n) inputs to (N,) values."""
    return {
        "majority of the first 5 bits": lambda x: torch.sign(x[:, :5].sum(-1)),
        "parity of bits 0, 2, 3": lambda x: x[:, [0, 2, 3]].prod(-1),
        "AND of bits 1, 4 (as 0/1)": lambda x: ((x[:, 1] > 0) & (x[:, 4] > 0)).float(),
        "threshold 1[x_1 + ... + x_n > 0]": lambda x: (x.sum(-1) > 0).float(),
        "dictator x_2 plus 0.5": lambda x: x[:, 2] + 0.5,
    }


@exercise_check
def check_fourier_coefficient(fn) -> bool:
    """fn(f, n, subset) -> float: E over the cube of f(x) times the product of x_i over the subset."""
    n = 7
    generator = np.random.default_rng(0)
    checked = 0
    for name, f in _boolean_functions(n).items():
        for size in (0, 1, 2, 3, 4):
            subset = sorted(generator.choice(n, size, replace=False).tolist())
            want = parity.fourier_coefficient(f, n, subset)
            got, problem = attempt(fn, f, n, subset, convert=float)
            if problem:
                return report(False, problem)
            checked += 1
            if not within(got, want, 1e-6):
                if abs(got - parity.fourier_coefficient(f, n, [])) < 1e-6 and size:
                    hint = "that is the mean of f: multiply f(x) by chi_T(x), the product of x_i over T."
                elif abs(got - want * 2**n) < 1e-6:
                    hint = "that is a sum over the cube: divide by 2^n to get the expectation."
                else:
                    hint = "average f(x) * prod_{i in T} x_i over all 2^n points x in {-1, +1}^n."
                return report(False, f"for the {name} with n={n} and T={subset}, expected {want:.6f}, "
                                      f"got {got:.6f}. Hint: {hint}")
    return report(True, f"your Fourier coefficients match the reference on {checked} (function, set) pairs.")


@exercise_check
def check_population_gradient(fn) -> bool:
    """fn(w, support) -> array (n,): the gradient of E[-y relu(w.x)] in w, y the parity on `support`."""
    checked = 0
    for n, k, seed in ((6, 2, 0), (8, 3, 1), (10, 3, 2), (11, 4, 3)):
        generator = torch.Generator().manual_seed(seed)
        w = parity.random_signs((n,), generator)
        support = parity.random_support(n, k, generator)
        x = parity.all_inputs(n).double()
        y = parity.parity(x, support)
        want = -(y * (x @ w.double() > 0))[:, None].mul(x).mean(0).numpy()
        got, problem = call(fn, w.numpy().copy(), support.tolist())
        if problem:
            return report(False, problem)
        checked += 1
        if got.shape != want.shape:
            return report(False, f"expected an array of shape ({n},), one entry per weight, got {got.shape}.")
        if not np.allclose(got, want, atol=1e-9):
            if np.allclose(got, -want, atol=1e-9):
                return report(False, "the sign is flipped: the loss is -y f, so the gradient is "
                                      "-E[y 1[w.x > 0] x].")
            return report(False, f"with n={n}, S={support.tolist()}, w={w.int().tolist()}: expected "
                                  f"{np.round(want, 5).tolist()}, got {np.round(got, 5).tolist()}. "
                                  "Average over all 2^n inputs; relu'(w.x) is 1 where w.x > 0, else 0.")
    closed = parity.threshold_fourier(10, 2)
    return report(True, f"your gradient is exact on {checked} neurons; for n=10, k=3 its entries on S have "
                         f"size {abs(closed):.5f}, the threshold function's degree-2 Fourier coefficient.")


@exercise_check
def check_t_c_prediction(answer: float, scaling_rows: list[dict], k: int, n: int) -> bool:
    """A prediction of the median t_c at a new n, from the power law fitted to the measured medians."""
    want = predict_t_c(scaling_rows, k, n)
    try:
        answer = float(answer)
    except (TypeError, ValueError):
        return report(False, f"expected a number of steps, got {answer!r}")
    if abs(answer - want) <= 0.02 * want:
        return report(True, f"{answer:.0f} steps: within 2% of the fitted power law's {want:.0f}.")
    measured = [row["median_t_c"] for row in scaling_rows if row["k"] == k and row["median_t_c"]]
    if measured and abs(answer - max(measured)) < 1e-9:
        return report(False, "that is the largest measured median: extrapolate the fitted line to the new n.")
    return report(False, f"{answer:.0f} is off: fit log(median t_c) = a + b log(n) to the k={k} rows "
                          f"(numpy.polyfit on the logs), then evaluate it at n={n}.")


