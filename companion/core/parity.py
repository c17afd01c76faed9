"""Sparse parities: the data of the hidden-progress and Pareto-frontiers chapters, and their Fourier facts.

A (n, k)-sparse parity labels x in {-1, +1}^n by the product of its bits on a hidden support S of
size k: y = chi_S(x) = prod_{i in S} x_i. Every function of fewer than k bits, and every function of
the other bits, is uncorrelated with y, which is what makes the support hard to find.

Fourier analysis on the cube writes any f: {-1, +1}^n -> R as sum_T f_hat(T) chi_T(x) with
f_hat(T) = E_x[f(x) chi_T(x)]. A symmetric function (one that depends only on how many bits are -1)
has f_hat(T) depending only on |T|, given exactly by Krawtchouk polynomials.
"""

from __future__ import annotations

from math import comb

import torch
from torch.nn import functional as F

from .config import check_int


def check_parity(n: int, k: int) -> None:
    check_int("n", n, 2, 10_000)
    check_int("k", k, 1)
    if k > n:
        raise ValueError(f"k must be between 1 and n={n}, got {k}")


def random_support(n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """k distinct coordinates out of n, sorted."""
    return torch.randperm(n, generator=generator)[:k].sort().values


def random_signs(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Uniform ±1 floats."""
    return torch.randint(0, 2, shape, generator=generator).float() * 2 - 1


def parity(x: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """chi_S(x): the product of the bits of x (..., n) on the support (k,) -> (...)."""
    return x[..., support].prod(-1)


def sample(n: int, support: torch.Tensor, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` uniform inputs (size, n) and their parity labels (size,)."""
    x = random_signs((size, n), generator)
    return x, parity(x, support)


def all_inputs(n: int) -> torch.Tensor:
    """The whole cube {-1, +1}^n as a (2^n, n) tensor: for exact expectations when n is small."""
    if n > 20:
        raise ValueError(f"n must be at most 20 to enumerate the cube, got {n}")
    bits = (torch.arange(2**n)[:, None] >> torch.arange(n)) & 1
    return 1.0 - 2.0 * bits.float()


def fourier_coefficient(f, n: int, subset) -> float:
    """f_hat(T) = E_x[f(x) chi_T(x)] over the whole cube (n <= 20); f maps (N, n) inputs to (N,) values."""
    x = all_inputs(n)
    values = torch.as_tensor(f(x), dtype=torch.float64)
    chi = x[:, list(subset)].prod(-1).double() if len(subset) else torch.ones(len(x), dtype=torch.float64)
    return float((values * chi).mean())


def krawtchouk(n: int, degree: int, minus_ones: int) -> int:
    """K_d(m) = sum_j (-1)^j C(m, j) C(n - m, d - j): the sum of chi_T(x) over all sets T of size d,
    at any x with m bits equal to -1."""
    return sum((-1) ** j * comb(minus_ones, j) * comb(n - minus_ones, degree - j) for j in range(degree + 1))


def symmetric_fourier(values_by_count, n: int, degree: int) -> float:
    """f_hat(T) for any |T| = degree, where f(x) = values_by_count[m] when m bits of x are -1.

    Every T of one size has the same coefficient, so it equals their average:
    2^-n sum_m C(n, m) f(m) K_d(m) / C(n, d), grouping the cube by m.
    """
    total = sum(values_by_count[m] * comb(n, m) * krawtchouk(n, degree, m) for m in range(n + 1))
    return total / (2**n * comb(n, degree))


def threshold_fourier(n: int, degree: int) -> float:
    """Fourier coefficient at any set of size `degree` of 1[x_1 + ... + x_n > 0] (ties count as 0).

    It is the derivative of a ReLU neuron with all-ones weights and no bias, seen as a function of
    its input; with weights w in {±1}^n the coefficient at T gets the sign prod_{i in T} w_i.
    """
    return symmetric_fourier([1.0 if n - 2 * m > 0 else 0.0 for m in range(n + 1)], n, degree)


MARGIN_LOSSES = ("hinge", "square", "logistic")


def margin_loss(name: str, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss over the last axis for real outputs and ±1 labels: (R, B) -> (R,), one per replicate.

    hinge max(0, 1 - y f); square (1 - y f)^2, which is (y - f)^2 since y^2 = 1; logistic log(1 + e^(-y f)).
    """
    margin = y * output
    if name == "hinge":
        values = (1 - margin).clamp(min=0)
    elif name == "square":
        values = (1 - margin) ** 2
    else:
        values = F.softplus(-margin)
    return values.mean(-1)
