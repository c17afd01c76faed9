"""Exercise checks of the chapter on feature emergence via margin maximisation. Each runs the student's
answer against the reference and prints what is right or a hint about the likeliest mistake.
"""

from __future__ import annotations

import numpy as np
import torch

from companion.core.checks import attempt, exercise_check, report, within

from .experiment import Config, make_task, neuron_norms, normalised_margin, phase_errors
from .explicit_networks import lookup_table_network


def _cosine_vectors(seed: int, count: int = 12):
    """Random (p, j, u, v, w): cosines at one frequency j with random phases, amplitudes, offsets and noise."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        p = int(rng.choice([7, 11, 23, 31]))
        j = int(rng.integers(1, (p - 1) // 2 + 1))
        a = np.arange(p)
        phases = rng.uniform(-np.pi, np.pi, 3)
        u, v, w = (rng.uniform(0.5, 2) * np.cos(2 * np.pi * j * a / p + phase) + rng.normal(0, 0.05, p)
                   for phase in phases)
        yield p, j, u + rng.uniform(-1.5, 1.5), v, w


@exercise_check
def check_dominant_frequency(fn) -> bool:
    """fn(u) -> the frequency j in 1..(p-1)/2 that carries most of u's power (p = len(u), odd)."""
    checked = 0
    for p, j, u, _, _ in _cosine_vectors(0):
        got, problem = attempt(fn, u.copy(), convert=int)
        if problem:
            return report(False, problem)
        checked += 1
        if got != j:
            if got == 0:
                hint = "0 is the constant (the mean): leave it out, only 1..(p-1)/2 are features."
            elif got == p - j:
                hint = "p - j is the mirror image of j in a full FFT of a real vector: look at 1..(p-1)/2 only."
            else:
                hint = "take |FFT(u)|^2 at frequencies 1..(p-1)/2 and return the index of the largest."
            return report(False, f"for a cosine at j={j} (p={p}) you returned {got}. {hint}")
    return report(True, f"right on {checked} noisy cosines with offsets.")


@exercise_check
def check_phase_relation(fn) -> bool:
    """fn(u, v, w) -> theta_u + theta_v - theta_w, wrapped into (-pi, pi], at the dominant frequency."""
    checked = 0
    for p, j, u, v, w in _cosine_vectors(1):
        weights = {"in": torch.from_numpy(np.concatenate([u, v]))[None], "out": torch.from_numpy(w)[None]}
        want = float(phase_errors(weights, p)[0])
        got, problem = attempt(fn, u.copy(), v.copy(), w.copy(), convert=float)
        if problem:
            return report(False, problem)
        checked += 1
        if not within(got, want, 1e-6):
            if abs(got + want) < 1e-6:
                hint = "the sign is flipped: theta_u + theta_v - theta_w, or you read phases at p - j."
            elif abs(np.remainder(got - want + np.pi, 2 * np.pi) - np.pi) < 1e-6:
                hint = "right modulo 2 pi: wrap the answer into (-pi, pi]."
            else:
                hint = "read each phase as the angle of the FFT coefficient at the dominant frequency."
            return report(False, f"for a neuron at j={j} (p={p}) expected {want:+.4f}, got {got:+.4f}. {hint}")
    return report(True, f"right on {checked} neurons with random phases.")


@exercise_check
def check_margin(fn, weights: dict | None = None) -> bool:
    """fn(in_weights, out_weights, x, y) -> the normalised margin of an x^2 network (see the chapter):
    min over inputs of correct logit minus best wrong logit, over sum_i ||theta_i||^3."""
    small = make_task(Config(p=11))
    generator = torch.Generator().manual_seed(0)
    cases = [(lookup_table_network(11), small),
             ({"in": torch.randn(30, 22, generator=generator), "out": torch.randn(30, 11, generator=generator)}, small)]
    if weights is not None:
        cases.append((weights, make_task(Config(p=weights["out"].shape[1]))))
    for network, task in cases:
        want = normalised_margin(network, task["x"], task["y"], "x^2", 3)
        got, problem = attempt(fn, network["in"].clone(), network["out"].clone(), task["x"].clone(),
                                task["y"].clone(), convert=float)
        if problem:
            return report(False, problem)
        if not within(got, want, 1e-5 * abs(want) + 1e-9):
            norms = neuron_norms(network)
            raw = want * float(norms.pow(3).sum())
            if abs(got - raw) < 1e-4 * abs(raw):
                hint = "divide by sum_i ||theta_i||^3 (the cubed L2,3 norm): then scaling the weights changes nothing."
            elif abs(got - raw / float(norms.pow(2).sum())) < 1e-4 * abs(raw / float(norms.pow(2).sum())):
                hint = "an x^2 network is 3-homogeneous: normalise by sum_i ||theta_i||^3, not the squared norms."
            else:
                hint = ("for each input take the correct logit minus the largest of the others, then the minimum "
                        "over inputs; theta_i is neuron i's input and output weights together.")
            return report(False, f"expected {want:.6g}, got {got:.6g}. {hint}")
    trained = ", and the trained one" if weights is not None else ""
    return report(True, f"right on {len(cases)} networks (the lookup table, a random one{trained}).")


