"""Margin features: explicit networks that attain the theory's maximum margins, and one that does not.

For each task the theory covers, a network written down by hand from the features the theorem names
(single frequencies with phases that add up; support-only neurons; one irreducible representation per
neuron) whose normalised margin should equal the maximum: a check of the theory's formula and of
`normalised_margin` at once. The lookup table gets every pair right with none of those features.
"""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch

from .experiment import GROUP_DEGREES, Config, make_task, normalised_margin, symmetric_group


def lookup_table_network(p: int) -> dict:
    """A network that gets every pair right with no Fourier features: one neuron per pair (a, b), with
    u = e_a, v = e_b, w = e_(a+b). The pair's own neuron gives the correct class (1 + 1)^2 = 4, any
    wrong class gets at most 2 from neurons that share a or b; the margin is 2 for p^2 neurons."""
    a, b = np.divmod(np.arange(p * p), p)
    eye = torch.eye(p)
    return {"in": torch.cat([eye[a], eye[b]], 1), "out": eye[(a + b) % p]}


def modular_certificate(p: int) -> dict:
    """A network that attains the modular-addition maximum exactly: for every frequency j and every pair
    of phases (theta_u, theta_v) on the grid {0, 2 pi/3, 4 pi/3}^2, one neuron u = cos(2 pi j a/p +
    theta_u), v = cos(2 pi j b/p + theta_v), w = cos(2 pi j c/p + theta_u + theta_v). The grid makes
    the squared terms u^2 w and v^2 w cancel over the nine phases, leaving only the products u v w."""
    angles = 2 * np.pi * np.arange(p) / p
    grid = (0.0, 2 * np.pi / 3, 4 * np.pi / 3)
    rows = [(np.cos(j * angles + tu), np.cos(j * angles + tv), np.cos(j * angles + tu + tv))
            for j in range(1, (p - 1) // 2 + 1) for tu in grid for tv in grid]
    u, v, w = (torch.from_numpy(np.array(part)) for part in zip(*rows))
    return {"in": torch.cat([u, v], 1), "out": w}


def parity_certificate(n: int, k: int, support: torch.Tensor) -> dict:
    """A network that attains the parity maximum exactly: one neuron per sign pattern s in {+-1}^k, input
    s / sqrt(k+1) on the support, output chi(s) (1, -1) / sqrt(2 (k+1)) with chi(s) the product of the
    signs; every |u_j| equals ||w||, and each neuron's norm is 1. Summed over s with the sign chi(s),
    (s . x)^k keeps only k! times the product of the support bits."""
    patterns = torch.tensor(list(itertools.product((1.0, -1.0), repeat=k)), dtype=torch.float64)
    inputs = torch.zeros(len(patterns), n, dtype=torch.float64)
    inputs[:, support] = patterns / math.sqrt(k + 1)
    chi = patterns.prod(1, keepdim=True)
    return {"in": inputs, "out": chi * torch.tensor([1.0, -1.0], dtype=torch.float64) / math.sqrt(2 * (k + 1))}


def _permutation_matrix(g: tuple) -> np.ndarray:
    """P with P e_i = e_g(i): P(a) P(b) = P(a * b) for the product "apply b, then a"."""
    matrix = np.zeros((len(g), len(g)))
    matrix[list(g), range(len(g))] = 1.0
    return matrix


def _sum_zero_basis(n: int) -> np.ndarray:
    """An orthonormal basis (n, n-1) of the vectors whose entries sum to zero."""
    return np.linalg.qr(np.eye(n) - 1.0 / n)[0][:, : n - 1]


@functools.cache
def irreducible_representations(degree: int) -> dict[str, np.ndarray]:
    """The non-trivial irreducible representations of S3 or S4 as orthogonal matrices, (|G|, d, d) each:
    the sign; the standard one (permutations acting on the vectors that sum to zero); for S4, the
    standard one times the sign, and the two-dimensional one through S4's action on the three ways of
    splitting {0, 1, 2, 3} into pairs (a map onto S3)."""
    if degree not in (3, 4):
        raise ValueError(f"degree must be 3 or 4 for the explicit representations, got {degree}")
    elements = symmetric_group(degree)["elements"]
    basis = _sum_zero_basis(degree)
    sign = np.array([[[np.linalg.det(_permutation_matrix(g))]] for g in elements])
    standard = np.array([basis.T @ _permutation_matrix(g) @ basis for g in elements])
    if degree == 3:
        return {"sign": sign, "standard": standard}
    splits = [frozenset(frozenset(pair) for pair in split)
              for split in (((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2)))]
    acting = [tuple(splits.index(frozenset(frozenset(g[i] for i in pair) for pair in split)) for split in splits)
              for g in elements]
    three = _sum_zero_basis(3)
    two = np.array([three.T @ _permutation_matrix(h) @ three for h in acting])
    return {"sign": sign, "two-dimensional": two, "standard": standard, "standard x sign": standard * sign}


def group_certificate(degree: int) -> dict:
    """A network that attains the group maximum exactly: for each non-trivial irreducible representation
    rho of dimension d and each matrix entry (j, k, l), the neuron u = rho_jk, v = rho_kl, w = rho_jl and
    its partner (u, -v, -w), scaled by d^(1/3). A pair contributes 4 u[a] v[b] w[c]; summed over
    (j, k, l) that is 4 trace(rho(a b) rho(c)^T), the character of c^-1 a b; weighted by d it adds up,
    over the representations, to |G| when c = a b and to the same -1 for every wrong c."""
    rows = []
    for matrices in irreducible_representations(degree).values():
        d = matrices.shape[1]
        scale = d ** (1 / 3)
        for j, k, l in itertools.product(range(d), repeat=3):
            u, v, w = scale * matrices[:, j, k], scale * matrices[:, k, l], scale * matrices[:, j, l]
            rows += [(u, v, w), (u, -v, -w)]
    u, v, w = (torch.from_numpy(np.array(part)) for part in zip(*rows))
    return {"in": torch.cat([u, v], 1), "out": w}


def certificate(config: Config) -> dict:
    """The explicit maximum-margin network for a config the theory covers."""
    if config.task == "modular-addition":
        return modular_certificate(config.p)
    if config.task == "sparse-parity":
        return parity_certificate(config.n, config.k, make_task(config)["support"])
    return group_certificate(GROUP_DEGREES[config.task])


def certified_margin(config: Config) -> float:
    """The normalised margin of `certificate(config)`, measured by `normalised_margin` like a trained network's."""
    task = make_task(config)
    return normalised_margin(certificate(config), task["x"].double(), task["y"], config.activation,
                             config.homogeneity)
