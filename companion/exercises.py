"""Checks for the chapters' exercises.

A check runs the student's answer against the reference on random inputs and prints what is right or,
when something is wrong, a hint about the likeliest mistake. It returns True or False and never
raises, so a notebook with an unfinished exercise still runs to the end.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import induction_heads as ih

PASS, FAIL = "\N{CHECK MARK}", "\N{BALLOT X}"


def _report(ok: bool, message: str) -> bool:
    print(f"{PASS if ok else FAIL} {message}")
    return ok


def _attempt(fn, *args, convert=lambda value: value):
    """Call the student's function; an unfinished stub or a crash becomes a hint, not an error.

    Returns (value, None) or (None, hint).
    """
    try:
        return convert(fn(*args)), None
    except NotImplementedError:
        return None, "not implemented yet: replace the `raise NotImplementedError` with your code."
    except Exception as err:  # the student's code is allowed to be wrong in any way
        return None, f"your function raised {type(err).__name__}: {err}"


def _call(fn, *args):
    """The student's answer as a float array, or a hint."""
    return _attempt(fn, *args, convert=lambda value: np.asarray(value, dtype=float))


def _random_sequences(k: int, count: int = 20, length: int = 30, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    config = ih.Config(k=k, seq_len=length)
    tokens, _ = ih.sample_batch(config, count, generator)
    return tokens


def _check_predictor(fn, n: int, name: str, mistakes: dict) -> bool:
    checked = 0
    for k in (2, 3, 5):
        for tokens in _random_sequences(k):
            checked += 1
            sequence = tokens.tolist()
            got, problem = _call(fn, sequence, k)
            if problem:
                return _report(False, problem)
            want = ih.ngram_strategy(tokens[None], k, n)[0].numpy()
            if got.shape != want.shape:
                return _report(False, f"expected an array of shape (len(sequence), k) = {want.shape}, "
                                      f"got {got.shape}. Row t predicts the token after position t.")
            if not np.allclose(got.sum(-1), 1, atol=1e-6):
                return _report(False, "each row must be a probability distribution summing to 1.")
            if not np.allclose(got, want, atol=1e-6):
                for hint, wrong in mistakes.items():
                    if np.allclose(got, wrong(tokens, k), atol=1e-6):
                        return _report(False, hint)
                t = int(np.argmax(np.abs(got - want).max(-1)))
                return _report(False, f"with k={k}, sequence {sequence[: t + 1]}..., row {t} should be "
                                      f"{np.round(want[t], 4).tolist()} but is {np.round(got[t], 4).tolist()}.")
    return _report(True, f"your {name} predictor matches the reference on {checked} random sequences.")


def _unsmoothed_unigram(tokens, k):
    counts = torch.nn.functional.one_hot(tokens, k).double().cumsum(0)
    return (counts / counts.sum(-1, keepdim=True)).numpy()


def _unigram_without_current(tokens, k):
    counts = torch.nn.functional.one_hot(tokens, k).double().cumsum(0) - torch.nn.functional.one_hot(tokens, k)
    return ((counts + 1) / (counts.sum(-1, keepdim=True) + k)).numpy()


def check_unigram_predictor(fn) -> bool:
    """fn(sequence: list[int], k: int) -> array (len(sequence), k), row t = (count_i + 1)/(t + 1 + k)."""
    return _check_predictor(fn, 1, "unigram", {
        "close: remember the add-one (Laplace) smoothing, (count_i + 1) / (t + 1 + k).": _unsmoothed_unigram,
        "row t should count the tokens at positions 0..t, including position t itself.": _unigram_without_current,
    })


def _bigram_from_unigram(tokens, k):
    return ih.ngram_strategy(tokens[None], k, 1)[0].numpy()


def _bigram_unsmoothed(tokens, k):
    T = len(tokens)
    out = np.full((T, k), 1.0 / k)
    for t in range(T):
        counts = np.zeros(k)
        for s in range(1, t + 1):
            if tokens[s - 1] == tokens[t]:
                counts[tokens[s]] += 1
        if counts.sum():
            out[t] = counts / counts.sum()
    return out


def check_bigram_predictor(fn) -> bool:
    """fn(sequence, k) -> array (len(sequence), k), row t = (N(x_t -> i) + 1) / (N(x_t -> .) + k)."""
    return _check_predictor(fn, 2, "bigram", {
        "these are unigram counts: count only the tokens right after earlier copies of x_t.": _bigram_from_unigram,
        "close: remember the add-one smoothing, (N(x_t -> i) + 1) / (N(x_t -> .) + k).": _bigram_unsmoothed,
    })


def check_plateau_height(estimate: float, result=None) -> bool:
    """The plateau sits at KL(true || unigram strategy); compare a student's estimate with it."""
    if result is None:
        result = ih.run(ih.config_for("test"))
    target = result.metrics["baselines"]["unigram"]
    try:
        estimate = float(estimate)
    except (TypeError, ValueError):
        return _report(False, f"expected a number of nats, got {estimate!r}")
    if abs(estimate - target) <= 0.01:
        return _report(True, f"{estimate:.3f} nats: within 0.01 of the measured plateau ({target:.3f}).")
    if abs(estimate - result.metrics["baselines"]["bigram"]) <= 0.01:
        return _report(False, "that is the bigram strategy's loss: where training ends, not the plateau.")
    if abs(estimate - result.metrics["baselines"]["uniform"]) <= 0.01:
        return _report(False, "that is the uniform predictor's loss: where training starts, not the plateau.")
    return _report(False, f"{estimate:.3f} nats is off: average KL(true next-token distribution || "
                          "unigram strategy) over the same positions and chains as the test set.")


PRIOR_ANSWERS = {
    "a": "No: look at the baselines. Under this prior the unigram strategy is no better than a uniform "
         "guess, so there is nothing for a plateau to sit on, however fast it is learned.",
    "b": "Right: a doubly stochastic chain has a uniform stationary distribution, so in-context "
         "single-token counts say nothing about the next token.",
    "c": "No: the bigram strategy is the posterior mean of the current row of P under any prior whose "
         "rows it estimates; it stays the better rule, and the model still learns it.",
}


def check_prior_experiment(answer: str, doubly_stochastic_result=None) -> bool:
    """Multiple choice on the prior experiment: 'a', 'b' or 'c' (see the chapter).

    With the doubly stochastic run's result, the check also confirms that the measurement agrees:
    the unigram strategy's loss is not below the uniform guess's there.
    """
    choice = str(answer).strip().lower()
    if choice not in PRIOR_ANSWERS:
        return _report(False, f"answer must be one of {sorted(PRIOR_ANSWERS)}, got {answer!r}")
    ok = _report(choice == "b", PRIOR_ANSWERS[choice])
    if ok and doubly_stochastic_result is not None:
        base = doubly_stochastic_result.metrics["baselines"]
        print(f"  measured: unigram strategy {base['unigram']:.3f} nats vs uniform guess {base['uniform']:.3f} nats")
        ok = base["unigram"] >= base["uniform"] - 0.005
        if not ok:
            _report(False, "but this run's baselines disagree: is its prior really doubly stochastic?")
    return ok


# ----------------------------------------------------------------------------- hidden progress

def _boolean_functions(n: int):
    """Named test functions on {-1, +1}^n, each mapping (N, n) inputs to (N,) values."""
    return {
        "majority of the first 5 bits": lambda x: torch.sign(x[:, :5].sum(-1)),
        "parity of bits 0, 2, 3": lambda x: x[:, [0, 2, 3]].prod(-1),
        "AND of bits 1, 4 (as 0/1)": lambda x: ((x[:, 1] > 0) & (x[:, 4] > 0)).float(),
        "threshold 1[x_1 + ... + x_n > 0]": lambda x: (x.sum(-1) > 0).float(),
        "dictator x_2 plus 0.5": lambda x: x[:, 2] + 0.5,
    }


def check_fourier_coefficient(fn) -> bool:
    """fn(f, n, subset) -> float: E over the cube of f(x) times the product of x_i over the subset."""
    from . import parity

    n = 7
    generator = np.random.default_rng(0)
    checked = 0
    for name, f in _boolean_functions(n).items():
        for size in (0, 1, 2, 3, 4):
            subset = sorted(generator.choice(n, size, replace=False).tolist())
            want = parity.fourier_coefficient(f, n, subset)
            got, problem = _attempt(fn, f, n, subset, convert=float)
            if problem:
                return _report(False, problem)
            checked += 1
            if abs(got - want) > 1e-6:
                if abs(got - parity.fourier_coefficient(f, n, [])) < 1e-6 and size:
                    hint = "that is the mean of f: multiply f(x) by chi_T(x), the product of x_i over T."
                elif abs(got - want * 2**n) < 1e-6:
                    hint = "that is a sum over the cube: divide by 2^n to get the expectation."
                else:
                    hint = "average f(x) * prod_{i in T} x_i over all 2^n points x in {-1, +1}^n."
                return _report(False, f"for the {name} with n={n} and T={subset}, expected {want:.6f}, "
                                      f"got {got:.6f}. Hint: {hint}")
    return _report(True, f"your Fourier coefficients match the reference on {checked} (function, set) pairs.")


def check_population_gradient(fn) -> bool:
    """fn(w, support) -> array (n,): the gradient of E[-y relu(w.x)] in w, y the parity on `support`."""
    from . import parity

    checked = 0
    for n, k, seed in ((6, 2, 0), (8, 3, 1), (10, 3, 2), (11, 4, 3)):
        generator = torch.Generator().manual_seed(seed)
        w = parity.random_signs((n,), generator)
        support = parity.random_support(n, k, generator)
        x = parity.all_inputs(n).double()
        y = parity.parity(x, support)
        want = -(y * (x @ w.double() > 0))[:, None].mul(x).mean(0).numpy()
        got, problem = _call(fn, w.numpy().copy(), support.tolist())
        if problem:
            return _report(False, problem)
        checked += 1
        if got.shape != want.shape:
            return _report(False, f"expected an array of shape ({n},), one entry per weight, got {got.shape}.")
        if not np.allclose(got, want, atol=1e-9):
            if np.allclose(got, -want, atol=1e-9):
                return _report(False, "the sign is flipped: the loss is -y f, so the gradient is "
                                      "-E[y 1[w.x > 0] x].")
            return _report(False, f"with n={n}, S={support.tolist()}, w={w.int().tolist()}: expected "
                                  f"{np.round(want, 5).tolist()}, got {np.round(got, 5).tolist()}. "
                                  "Average over all 2^n inputs; relu'(w.x) is 1 where w.x > 0, else 0.")
    closed = parity.threshold_fourier(10, 2)
    return _report(True, f"your gradient is exact on {checked} neurons; for n=10, k=3 its entries on S have "
                         f"size {abs(closed):.5f}, the threshold function's degree-2 Fourier coefficient.")


def check_t_c_prediction(answer: float, scaling_rows: list[dict], k: int, n: int) -> bool:
    """A prediction of the median t_c at a new n, from the power law fitted to the measured medians."""
    from .hidden_progress import predict_t_c

    want = predict_t_c(scaling_rows, k, n)
    try:
        answer = float(answer)
    except (TypeError, ValueError):
        return _report(False, f"expected a number of steps, got {answer!r}")
    if abs(answer - want) <= 0.02 * want:
        return _report(True, f"{answer:.0f} steps: within 2% of the fitted power law's {want:.0f}.")
    measured = [row["median_t_c"] for row in scaling_rows if row["k"] == k and row["median_t_c"]]
    if measured and abs(answer - max(measured)) < 1e-9:
        return _report(False, "that is the largest measured median: extrapolate the fitted line to the new n.")
    return _report(False, f"{answer:.0f} is off: fit log(median t_c) = a + b log(n) to the k={k} rows "
                          f"(numpy.polyfit on the logs), then evaluate it at n={n}.")


# ----------------------------------------------------------------------------- Pareto frontiers

def check_sparse_init(fn) -> bool:
    """fn(width, n, s, generator) -> tensor (width, n): each row has exactly s non-zero entries on
    coordinates drawn uniformly at random, independently for each row."""
    weights, problem = _attempt(fn, 4000, 20, 3, torch.Generator().manual_seed(0), convert=torch.as_tensor)
    again, _ = _attempt(fn, 4000, 20, 3, torch.Generator().manual_seed(1), convert=torch.as_tensor)
    if problem:
        return _report(False, problem)
    if tuple(weights.shape) != (4000, 20):
        return _report(False, f"expected shape (width, n) = (4000, 20), got {tuple(weights.shape)}.")
    per_row = (weights != 0).sum(1)
    if not bool((per_row == 3).all()):
        bad = int((per_row != 3).nonzero()[0, 0])
        return _report(False, f"row {bad} has {int(per_row[bad])} non-zero weights; every row needs exactly s = 3 "
                              "(draw the s coordinates without replacement, and no zero values on them).")
    share = (weights != 0).float().mean(0) / (3 / 20)  # each column's frequency against the expected s/n
    if float((share - 1).abs().max()) > 0.15:
        return _report(False, "some coordinates are chosen far more often than others: draw each row's s "
                              "coordinates uniformly at random (torch.randperm(n)[:s] per row, for example).")
    if torch.equal(weights != 0, again != 0):
        return _report(False, "two different generators gave the same pattern: draw with the generator passed in.")
    return _report(True, "every row has exactly s random non-zero weights, spread evenly over the coordinates.")


def check_cover_probability(fn) -> bool:
    """fn(n, k, s) -> the probability that s coordinates drawn without replacement include all k of S."""
    from math import comb

    cases = [(30, 3, 3), (30, 3, 6), (30, 3, 10), (20, 2, 5), (50, 4, 12), (10, 3, 2), (12, 3, 12)]
    for n, k, s in cases:
        want = comb(n - k, s - k) / comb(n, s) if s >= k else 0.0
        got, problem = _attempt(fn, n, k, s, convert=float)
        if problem:
            return _report(False, problem)
        if abs(got - want) > 1e-9 * max(1.0, want):
            if abs(got - (s / n) ** k) < 1e-12:
                hint = "(s/n)^k treats the draws as independent; they are without replacement."
            elif s < k and got != 0:
                hint = "with fewer than k coordinates a neuron cannot cover all of S: the answer is 0."
            else:
                hint = "count the s-subsets that contain S, C(n-k, s-k), over all s-subsets, C(n, s)."
            return _report(False, f"for n={n}, k={k}, s={s} expected {want:.6g}, got {got:.6g}. {hint}")
    p = comb(27, 3) / comb(30, 6)
    return _report(True, f"right on {len(cases)} cases. With n=30, k=3, s=6 a neuron covers S with probability "
                         f"{p:.4f}; among 1000 neurons about {1000 * p:.0f} do.")


def check_frontier_reading(answer, rows: list[dict], init: str = "sparse", width: int = 1000) -> bool:
    """The smallest m in the grid at which (init, width) succeeds at least half the time."""
    from .pareto_frontiers import frontier

    want = frontier(rows, init, width)
    if answer == want:
        return _report(True, f"m = {want}: the smallest size in the grid at which {init} nets of width {width} "
                             "succeed at least half the time.")
    dense = frontier(rows, "dense" if init == "sparse" else "sparse", width)
    if answer == dense and dense != want:
        return _report(False, "that is the other initialisation's frontier: read the other heat map.")
    return _report(False, f"{answer!r} is not it: in the heat map for {init} initialisation, go along the row "
                          f"width = {width} and find the first column whose rate is at least 0.50.")


# ----------------------------------------------------------------------------- increasing complexity

def _discrete_samples(seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    linear = np.where(rng.uniform(size=500) < 0.8, y, 1 - y)
    f = np.where(rng.uniform(size=500) < 0.7, linear, rng.integers(0, 2, 500))
    return f, y, linear


def check_mutual_information(fn) -> bool:
    """fn(a, b) -> the plug-in mutual information in bits of two discrete arrays."""
    from .increasing_complexity import mutual_information

    for seed in range(5):
        f, y, linear = _discrete_samples(seed)
        for a, b in ((f, y), (linear, y), (f, linear), (y, y)):
            want = mutual_information(a, b)
            got, problem = _attempt(fn, a.copy(), b.copy(), convert=float)
            if problem:
                return _report(False, problem)
            if abs(got - want) > 1e-9:
                if abs(got - want * np.log(2)) < 1e-9:
                    hint = "that is in nats: use log base 2 for bits."
                else:
                    hint = "count the joint outcomes, then sum p(a,b) log2(p(a,b) / (p(a) p(b)))."
                return _report(False, f"expected {want:.6f} bits, got {got:.6f}. {hint}")
    return _report(True, "your plug-in estimate matches the reference on 20 pairs of samples.")


def check_mu(fn) -> bool:
    """fn(f, y, linear) -> mu_Y(F; L) = I(F;Y) - I(F;Y|L) in bits."""
    from .increasing_complexity import conditional_mutual_information, mu, mutual_information

    for seed in range(5):
        f, y, linear = _discrete_samples(seed)
        want = mu(f, y, linear)
        got, problem = _attempt(fn, f.copy(), y.copy(), linear.copy(), convert=float)
        if problem:
            return _report(False, problem)
        if abs(got - want) > 1e-9:
            if abs(got - conditional_mutual_information(f, y, linear)) < 1e-9:
                hint = "that is I(F;Y|L) alone: mu subtracts it from I(F;Y)."
            elif abs(got - (mutual_information(f, y) - mutual_information(f, linear))) < 1e-9:
                hint = "I(F;L) is not the conditional term: use I(F;Y|L) = sum_l p(l) I(F;Y | L=l)."
            else:
                hint = "mu = I(F;Y) - sum over l of p(L=l) I(F;Y | L=l)."
            return _report(False, f"expected {want:.6f} bits, got {got:.6f}. {hint}")
    return _report(True, "your mu matches the reference on 5 samples.")


NEGATIVE_MU_ANSWERS = {
    "a": "No: estimation noise can make mu slightly negative, but mu can be far below zero for exact "
         "distributions too. Try F = Y xor L with Y and L independent fair coins.",
    "b": "Right: when F says something about Y only in combination with L (F = Y xor L, say), F alone "
         "knows nothing, I(F;Y) = 0, yet given L it determines Y, I(F;Y|L) = 1 bit: mu = -1 bit.",
    "c": "No: a worse classifier than L can still have mu >= 0 (for example F = L with some noise); "
         "mu compares what F knows with what L explains, not their accuracies.",
}


def check_negative_mu(answer: str) -> bool:
    """Multiple choice: when is mu negative? 'a', 'b' or 'c' (see the chapter); shows the measurement."""
    from .increasing_complexity import conditional_mutual_information, mu, mutual_information

    choice = str(answer).strip().lower()
    if choice not in NEGATIVE_MU_ANSWERS:
        return _report(False, f"answer must be one of {sorted(NEGATIVE_MU_ANSWERS)}, got {answer!r}")
    ok = _report(choice == "b", NEGATIVE_MU_ANSWERS[choice])
    if ok:
        rng = np.random.default_rng(0)
        y, linear = rng.integers(0, 2, 20000), rng.integers(0, 2, 20000)
        f = y ^ linear
        print(f"  measured on 20,000 samples: I(F;Y) = {mutual_information(f, y):.3f}, "
              f"I(F;Y|L) = {conditional_mutual_information(f, y, linear):.3f}, mu = {mu(f, y, linear):.3f} bits")
    return ok


# ----------------------------------------------------------------------------- margin features

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


def check_dominant_frequency(fn) -> bool:
    """fn(u) -> the frequency j in 1..(p-1)/2 that carries most of u's power (p = len(u), odd)."""
    checked = 0
    for p, j, u, _, _ in _cosine_vectors(0):
        got, problem = _attempt(fn, u.copy(), convert=int)
        if problem:
            return _report(False, problem)
        checked += 1
        if got != j:
            if got == 0:
                hint = "0 is the constant (the mean): leave it out, only 1..(p-1)/2 are features."
            elif got == p - j:
                hint = "p - j is the mirror image of j in a full FFT of a real vector: look at 1..(p-1)/2 only."
            else:
                hint = "take |FFT(u)|^2 at frequencies 1..(p-1)/2 and return the index of the largest."
            return _report(False, f"for a cosine at j={j} (p={p}) you returned {got}. {hint}")
    return _report(True, f"right on {checked} noisy cosines with offsets.")


def check_phase_relation(fn) -> bool:
    """fn(u, v, w) -> theta_u + theta_v - theta_w, wrapped into (-pi, pi], at the dominant frequency."""
    import torch as _torch

    from .margin_features import phase_errors

    checked = 0
    for p, j, u, v, w in _cosine_vectors(1):
        weights = {"in": _torch.from_numpy(np.concatenate([u, v]))[None], "out": _torch.from_numpy(w)[None]}
        want = float(phase_errors(weights, p)[0])
        got, problem = _attempt(fn, u.copy(), v.copy(), w.copy(), convert=float)
        if problem:
            return _report(False, problem)
        checked += 1
        if abs(got - want) > 1e-6:
            if abs(got + want) < 1e-6:
                hint = "the sign is flipped: theta_u + theta_v - theta_w, or you read phases at p - j."
            elif abs(np.remainder(got - want + np.pi, 2 * np.pi) - np.pi) < 1e-6:
                hint = "right modulo 2 pi: wrap the answer into (-pi, pi]."
            else:
                hint = "read each phase as the angle of the FFT coefficient at the dominant frequency."
            return _report(False, f"for a neuron at j={j} (p={p}) expected {want:+.4f}, got {got:+.4f}. {hint}")
    return _report(True, f"right on {checked} neurons with random phases.")


def check_margin(fn, weights: dict | None = None) -> bool:
    """fn(in_weights, out_weights, x, y) -> the normalised margin of an x^2 network (see the chapter):
    min over inputs of correct logit minus best wrong logit, over sum_i ||theta_i||^3."""
    from .margin_features import Config, lookup_table_network, make_task, neuron_norms, normalised_margin

    small = make_task(Config(p=11))
    generator = torch.Generator().manual_seed(0)
    cases = [(lookup_table_network(11), small),
             ({"in": torch.randn(30, 22, generator=generator), "out": torch.randn(30, 11, generator=generator)}, small)]
    if weights is not None:
        cases.append((weights, make_task(Config(p=weights["out"].shape[1]))))
    for network, task in cases:
        want = normalised_margin(network, task["x"], task["y"], "x^2", 3)
        got, problem = _attempt(fn, network["in"].clone(), network["out"].clone(), task["x"].clone(),
                                task["y"].clone(), convert=float)
        if problem:
            return _report(False, problem)
        if abs(got - want) > 1e-5 * abs(want) + 1e-9:
            norms = neuron_norms(network)
            raw = want * float(norms.pow(3).sum())
            if abs(got - raw) < 1e-4 * abs(raw):
                hint = "divide by sum_i ||theta_i||^3 (the cubed L2,3 norm): then scaling the weights changes nothing."
            elif abs(got - raw / float(norms.pow(2).sum())) < 1e-4 * abs(raw / float(norms.pow(2).sum())):
                hint = "an x^2 network is 3-homogeneous: normalise by sum_i ||theta_i||^3, not the squared norms."
            else:
                hint = ("for each input take the correct logit minus the largest of the others, then the minimum "
                        "over inputs; theta_i is neuron i's input and output weights together.")
            return _report(False, f"expected {want:.6g}, got {got:.6g}. {hint}")
    trained = ", and the trained one" if weights is not None else ""
    return _report(True, f"right on {len(cases)} networks (the lookup table, a random one{trained}).")


# ----------------------------------------------------------------------------- variable creation

def _pair_of_arrays(value):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError("return a pair (x, y): the bits and the labels")
    return tuple(np.asarray(a, dtype=float) for a in value)


def check_and_samples(fn) -> bool:
    """fn(T, support, m, rng) -> (x, y): m rows of T bits and their s-way AND on the support, with
    each bit 1 with probability 0.5^(1/s) so that half the labels are 1."""
    checked = 0
    for T, support, seed in ((16, [2, 7, 11], 0), (64, [0, 31, 63], 1), (10, [4, 5], 2), (40, [1, 9, 20, 33], 3)):
        m, s = 20000, len(support)
        got, problem = _attempt(fn, T, list(support), m, np.random.default_rng(seed), convert=_pair_of_arrays)
        if problem:
            return _report(False, problem)
        x, y = got
        if x.shape != (m, T) or y.shape != (m,):
            return _report(False, f"with T={T} and m={m} expected x of shape {(m, T)} and y of shape {(m,)}, "
                                  f"got {x.shape} and {y.shape}.")
        if not np.isin(x, (0, 1)).all():
            return _report(False, "the bits must be 0 or 1.")
        if not np.array_equal(y, x[:, support].prod(1)):
            return _report(False, f"y must be 1 exactly when every bit on the support {support} is 1.")
        bit_rate, want = x.mean(), 0.5 ** (1 / s)
        if abs(bit_rate - want) > 0.01:
            hint = (" With fair bits an AND of s bits is 1 only a fraction 2^-s of the time."
                    if abs(bit_rate - 0.5) < 0.01 else "")
            return _report(False, f"with s={s} a bit should be 1 with probability 0.5^(1/s) = {want:.3f}; "
                                  f"yours are 1 a fraction {bit_rate:.3f} of the time.{hint}")
        if abs(y.mean() - 0.5) > 0.02:
            return _report(False, f"the labels should be balanced, but a fraction {y.mean():.3f} are 1.")
        checked += 1
    return _report(True, f"right on {checked} supports: exact labels, bits 1 with probability 0.5^(1/s), "
                         "labels balanced.")


def check_support_attention(fn, result=None) -> bool:
    """fn(attention, support) -> the mean over inputs of the [CLS] attention mass on the support, where
    attention is (inputs, T + 1) with [CLS]'s attention to itself in the last column."""
    from .variable_creation import support_attention_mass

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
        got, problem = _attempt(fn, attention.copy(), list(support), convert=float)
        if problem:
            return _report(False, problem)
        if abs(got - want) > 1e-9:
            if abs(got - attention[:, support].sum(1).sum()) < 1e-9 and len(attention) > 1:
                hint = "average over the inputs (rows), do not add them up."
            elif abs(got - attention[:, support].mean()) < 1e-9:
                hint = "add the attention over the support's positions, then average over the inputs."
            elif abs(got - (attention[:, support].sum(1) + attention[:, -1]).mean()) < 1e-9:
                hint = "the last column is [CLS] attending to itself, not a position of the input."
            else:
                hint = "for each row sum attention[row, support], then take the mean over rows."
            return _report(False, f"with support {support} and T={attention.shape[1] - 1} expected {want:.6f}, "
                                  f"got {got:.6f}. {hint}")
    trained = ", and a trained model's attention" if result is not None else ""
    return _report(True, f"right on {len(cases)} attention patterns (random ones{trained}).")


def check_log_fit(fn, Ts=None, critical_m=None) -> bool:
    """fn(Ts, m_star) -> (a, b, r2) for the least-squares line m* = a + b ln T and its r^2."""
    from .variable_creation import log_fit

    rng = np.random.default_rng(0)
    cases = [([16, 32, 64, 128, 256], [20.0, 28.0, 40.0, 40.0, 57.0]),
             ([8, 64, 512], [10.0, 30.0, 51.0]),
             ([16, 32, 64, 128], (5 + 9 * np.log([16, 32, 64, 128]) + rng.normal(0, 2, 4)).tolist())]
    if Ts is not None:
        cases.append((list(Ts), [float(m) for m in critical_m]))
    for Ts_, m_star in cases:
        want = log_fit(Ts_, m_star)
        got, problem = _attempt(fn, list(Ts_), list(m_star), convert=lambda abr: [float(v) for v in abr])
        if problem:
            return _report(False, problem)
        if len(got) != 3:
            return _report(False, "return three numbers: the intercept a, the slope b and r^2.")
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
            return _report(False, f"for T={list(Ts_)} and m*={[round(m, 1) for m in m_star]} expected "
                                  f"a={want['a']:.3f}, b={want['b']:.3f}, r2={want['r2']:.3f}; got "
                                  f"a={a:.3f}, b={b:.3f}, r2={r2:.3f}. {hint}")
    measured = ", and the chapter's measured m*" if Ts is not None else ""
    return _report(True, f"right on {len(cases)} data sets (made-up ones{measured}).")


# ----------------------------------------------------------------------------- watermarks

def check_kgw_z_score(fn) -> bool:
    """fn(tokens, green, gamma) -> the z-score of tokens[1:], token t scored green when
    green[tokens[t - 1], tokens[t]] is True."""
    from .watermark_sand import Watermark, green_lists, green_z_score

    rng = np.random.default_rng(0)
    checked = 0
    for gamma, V, n in ((0.25, 50, 40), (0.5, 30, 80), (0.1, 100, 25)):
        watermark = Watermark(scheme="kgw", gamma=gamma, vocab_size=V, key=7)
        green = green_lists(watermark).numpy()
        for _ in range(4):
            tokens = rng.integers(0, V, n)
            if rng.random() < 0.5:  # some texts tilted towards green, as a watermark would
                for t in range(1, n):
                    if rng.random() < 0.6:
                        tokens[t] = int(rng.choice(np.flatnonzero(green[tokens[t - 1]])))
            want = green_z_score(watermark, tokens[:-1], tokens[1:])
            got, problem = _attempt(fn, tokens.tolist(), green.copy(), gamma, convert=float)
            if problem:
                return _report(False, problem)
            checked += 1
            if abs(got - want) > 1e-6:
                hits = int(green[tokens[:-1], tokens[1:]].sum())
                m = n - 1
                if abs(got - (hits - gamma * m) / (m * gamma * (1 - gamma))) < 1e-6:
                    hint = "divide by the standard deviation sqrt(n gamma (1 - gamma)), not the variance."
                elif abs(got - (hits - gamma * n) / math.sqrt(n * gamma * (1 - gamma))) < 1e-6:
                    hint = "the first token has no token before it: only n - 1 tokens are scored."
                elif abs(got - (hits - gamma * m) / math.sqrt(m * gamma)) < 1e-6:
                    hint = "a count of green tokens has variance n gamma (1 - gamma)."
                else:
                    hint = ("count green[tokens[t-1], tokens[t]] for t >= 1, subtract gamma n, divide by "
                            "sqrt(n gamma (1-gamma)).")
                return _report(False, f"with gamma={gamma} and {n} tokens expected z = {want:.4f}, got {got:.4f}. "
                                      f"{hint}")
    return _report(True, f"right on {checked} texts, watermarked and not.")


def check_walk_step(fn) -> bool:
    """fn(text, propose, quality, original_quality, tolerance) -> the walk's next text: the proposal if
    quality(proposal) >= original_quality - tolerance, else the text unchanged."""
    cases = [  # (current quality, proposal quality, original quality, tolerance, accepted?)
        (-4.0, -4.05, -4.0, 0.1, True), (-4.0, -4.2, -4.0, 0.1, False), (-4.5, -4.3, -4.0, 0.1, False),
        (-3.0, -4.05, -4.0, 0.1, True), (-4.0, -4.1, -4.0, 0.1, True), (-4.0, -3.0, -4.0, 0.0, True),
    ]
    for current_quality, proposal_quality, original, tolerance, accepted in cases:
        text, proposal = ["a", "text"], ["a", "proposal"]
        scores = {tuple(text): current_quality, tuple(proposal): proposal_quality}
        got, problem = _attempt(fn, list(text), lambda t: list(proposal), lambda t: scores[tuple(t)], original,
                                tolerance)
        if problem:
            return _report(False, problem)
        if list(got) != (proposal if accepted else text):
            if accepted:
                hint = ("accept when quality(proposal) >= original_quality - tolerance; compare with the original "
                        "text's quality, not the current one's, and count equality as acceptance.")
            elif list(got) == proposal:
                hint = ("a proposal whose quality falls more than `tolerance` below the original must be rejected: "
                        "the walk stays where it was.")
            else:
                hint = "return the proposal itself when it is accepted, and the current text when it is not."
            return _report(False, f"quality {proposal_quality} for the proposal, {original} for the original, "
                                  f"tolerance {tolerance}: expected the {'proposal' if accepted else 'current text'}. "
                                  f"{hint}")
    return _report(True, f"right on {len(cases)} steps, accepted and rejected, including the boundary.")


def check_critical_tolerance(fn, sweep: dict | None = None) -> bool:
    """fn(tolerances, success_rates) -> the smallest tolerance at which at least half the texts escape
    detection, or None if there is none."""
    cases = [([0.0, 0.1, 0.2, 0.4], [0.0, 0.2, 0.6, 0.9], 0.2), ([0.0, 0.1, 0.2], [0.5, 0.8, 1.0], 0.0),
             ([0.0, 0.1, 0.2], [0.0, 0.1, 0.3], None), ([0.0, 0.05, 0.1, 0.2], [0.1, 0.55, 0.45, 0.9], 0.05)]
    if sweep is not None:
        for rates in sweep["success_rate"].values():
            want = next((t for t, r in zip(sweep["tolerance"], rates) if r >= 0.5), None)
            cases.append((list(sweep["tolerance"]), list(rates), want))
    for tolerances, rates, want in cases:
        got, problem = _attempt(fn, list(tolerances), list(rates))
        if problem:
            return _report(False, problem)
        if got != want and not (got is not None and want is not None and abs(got - want) < 1e-12):
            hint = ("the first tolerance, in increasing order, whose success rate is at least 0.5; None when no "
                    "tolerance reaches it.")
            return _report(False, f"for tolerances {tolerances} and success rates {rates} expected {want}, got {got}. "
                                  f"{hint}")
    measured = " and the chapter's measured sweep" if sweep is not None else ""
    return _report(True, f"right on {len(cases)} sweeps (made-up ones{measured}).")


def check_temperature_scale(fn) -> bool:
    """fn(p, tau) -> softmax(log p / tau) along the last axis, for tau > 0 (zero-probability actions stay 0)."""
    from .transcendence import temperature_scale

    rng = np.random.default_rng(0)
    checked = 0
    for tau in (1.0, 0.5, 0.1, 0.01, 2.0):
        for _ in range(3):
            p = rng.dirichlet(np.full(6, 0.7), size=4)
            p[0, 2] = 0.0
            p /= p.sum(1, keepdims=True)
            want = temperature_scale(p, tau)
            got, problem = _call(fn, p.copy(), tau)
            if problem:
                return _report(False, problem)
            checked += 1
            if got.shape != want.shape or not np.allclose(got, want, atol=1e-8):
                if got.shape == want.shape and np.allclose(got, temperature_scale(p, 1 / tau), atol=1e-8):
                    hint = "divide the log-probabilities by tau (a small tau sharpens); you multiplied."
                elif got.shape == want.shape and not np.allclose(got.sum(-1), 1):
                    hint = "normalise each row so it sums to one."
                elif got.shape == want.shape and np.isnan(got).any():
                    hint = ("log 0 = -inf: subtract each row's maximum before exponentiating, and keep "
                            "zero-probability actions at zero.")
                else:
                    hint = "compute p ** (1 / tau) row by row and divide by its sum (softmax of log p / tau)."
                return _report(False, f"at tau = {tau} your distribution differs from softmax(log p / tau). {hint}")
    return _report(True, f"right on {checked} distributions at five temperatures, including a zero entry.")


def check_vote_reward(fn) -> bool:
    """fn(policies, reward) -> the exact reward of the experts' vote: the argmax of their mixture in each
    state (ties shared equally), states equally likely. policies: (experts, states, actions); reward:
    (states, actions)."""
    from .transcendence import ToyConfig, expected_reward, expert_policies, rewards, temperature_scale

    rng = np.random.default_rng(1)
    configs = [ToyConfig(experts=3, noise=0.0, error_share=0.3), ToyConfig(experts=3, noise=0.0, error_share=0.3,
                                                                           diversity="shared"),
               ToyConfig(experts=1, noise=0.4, error_share=0.0), ToyConfig(experts=2, noise=0.3, error_share=0.4)]
    cases = []
    for _ in range(3):  # made-up experts and rewards, with ties, and then the toy scenarios
        policies = rng.dirichlet(np.ones(4), size=(3, 10))
        policies[:, 0] = [[0.5, 0.5, 0, 0]] * 3
        cases.append((policies, rng.random((10, 4))))
    cases += [(expert_policies(c), rewards(c)) for c in configs]
    for policies, reward in cases:
        mixture = policies.mean(0)
        want = expected_reward(temperature_scale(mixture, 0.0), reward)
        got, problem = _attempt(fn, policies.copy(), reward.copy(), convert=float)
        if problem:
            return _report(False, problem)
        if abs(got - want) > 1e-9:
            if abs(got - expected_reward(mixture, reward)) < 1e-9:
                hint = "that is the mixture's reward at tau = 1 (the experts' average); the vote plays the argmax."
            elif abs(got - max(expected_reward(p, reward) for p in policies)) < 1e-9:
                hint = "that is the best expert's reward; the vote follows the mixture's argmax in every state."
            else:
                hint = ("average the experts' policies, put all the mass on each state's most likely actions "
                        "(shared equally on ties), and average the reward over states.")
            return _report(False, f"expected {want:.4f}, got {got:.4f}. {hint}")
    return _report(True, f"right on {len(cases)} worlds, the chapter's toy scenarios among them.")


def _elo_reference(opponents: np.ndarray, scores: np.ndarray) -> float:
    from scipy.optimize import brentq

    def excess(r):
        return float(np.sum(scores - 1 / (1 + 10 ** ((opponents - r) / 400))))
    return brentq(excess, -5000, 5000)


def check_elo_rating(fn, result=None) -> bool:
    """fn(opponent_ratings, scores) -> the maximum-likelihood Elo rating of a player who scored
    `scores[i]` (1, 0.5 or 0) against an opponent rated `opponent_ratings[i]`."""
    rng = np.random.default_rng(2)
    cases = []
    for _ in range(6):
        opponents = rng.normal(500, 250, size=40)
        true = rng.normal(500, 200)
        expected = 1 / (1 + 10 ** ((opponents - true) / 400))
        scores = (rng.random(40) < expected).astype(float)
        scores[rng.random(40) < 0.1] = 0.5
        if 0 < scores.sum() < len(scores):
            cases.append((opponents, scores))
    for opponents, scores in cases:
        want = _elo_reference(opponents, scores)
        got, problem = _attempt(fn, opponents.copy(), scores.copy(), convert=float)
        if problem:
            return _report(False, problem)
        if abs(got - want) > 0.5:
            natural = _elo_reference(opponents / math.log(10), scores) * math.log(10)
            if abs(got - natural) < 1.0:
                hint = "Elo's curve is 1 / (1 + 10 ** (difference / 400)), base 10, not e."
            else:
                hint = ("the likelihood is largest where the player's total score equals its expected score, "
                        "sum_i 1 / (1 + 10 ** ((r_i - R) / 400)); solve for R (scipy.optimize.brentq).")
            return _report(False, f"expected a rating of {want:.1f}, got {got:.1f}. {hint}")
    message = f"right on {len(cases)} made-up players."
    if result is not None:
        from .transcendence import chess_config

        config = chess_config(result)
        rungs = result.metrics["ratings"]
        name = f"model, tau = {config.tau_star:g}"
        games = [g for g in result.metrics["games"] if name in (g["white"], g["black"])]
        opponents = np.array([rungs[g["black"] if g["white"] == name else g["white"]][0] for g in games])
        scores = np.array([g["score"] if g["white"] == name else 1 - g["score"] for g in games])
        got, problem = _attempt(fn, opponents, scores, convert=float)
        if problem is None:
            message += (f" Against the ladder's fitted ratings, your function rates the model at tau* "
                        f"{got:.0f}; the joint fit gave {rungs[name][0]:.0f}.")
    return _report(True, message)


def check_token_entropy(fn) -> bool:
    """fn(logits) -> the entropy in nats of softmax(logits) along the last axis (a torch tensor in, one out)."""
    from .knowable_unknowable import entropy

    generator = torch.Generator().manual_seed(3)
    cases = [torch.randn(5, 7, generator=generator) * scale for scale in (0.1, 1.0, 5.0)]
    cases += [torch.randn(2, 3, 11, generator=generator) * 3, torch.tensor([[0.0, 0.0, 0.0, 0.0], [200.0, 0, 0, 0]])]
    for logits in cases:
        want = entropy(logits).numpy()
        got, problem = _attempt(fn, logits.clone(), convert=lambda v: np.asarray(torch.as_tensor(v), dtype=float))
        if problem:
            return _report(False, problem)
        if got.shape != want.shape or not np.allclose(got, want, atol=1e-4):
            if got.shape != want.shape:
                hint = f"one entropy per row: expected shape {want.shape}, got {got.shape}."
            elif np.allclose(got, want / math.log(2), atol=1e-4):
                hint = "that is in bits; use the natural logarithm (nats)."
            elif np.allclose(got, -want, atol=1e-4):
                hint = "the sign: H = -sum p log p is never negative."
            elif np.isnan(got).any():
                hint = "0 log 0 counts as 0: use log_softmax rather than log(softmax(...))."
            else:
                hint = "turn the logits into probabilities first (softmax), then H = -sum p log p."
            return _report(False, f"your entropies differ from the reference. {hint}")
    return _report(True, f"right on {len(cases)} batches of logits, from nearly uniform to one-hot.")


def check_balanced_dataset(fn) -> bool:
    """fn(labels, token_ids, rng) -> indices of a data set with, for every token id, as many epistemic (1)
    as aleatoric (0) examples, as many as possible; unlabelled (-1) tokens never chosen."""
    rng = np.random.default_rng(4)
    for trial in range(4):
        size = 400
        labels = rng.choice([-1, 0, 1], size=size, p=[0.3, 0.5, 0.2])
        token_ids = rng.integers(0, 12, size=size)
        got, problem = _attempt(fn, labels.copy(), token_ids.copy(), np.random.default_rng(trial),
                                convert=lambda v: np.asarray(v, dtype=int).reshape(-1))
        if problem:
            return _report(False, problem)
        if len(np.unique(got)) != len(got):
            return _report(False, "some index appears twice: draw without replacement.")
        if len(got) and (got.min() < 0 or got.max() >= size):
            return _report(False, "return indices into the arrays (0 to len - 1), not labels or token ids.")
        if (labels[got] < 0).any():
            return _report(False, "unlabelled tokens (-1) crept in: keep only epistemic (1) and aleatoric (0).")
        for token in range(12):
            chosen = labels[got][token_ids[got] == token]
            n_epistemic, n_aleatoric = (chosen == 1).sum(), (chosen == 0).sum()
            available = min(((labels == 1) & (token_ids == token)).sum(), ((labels == 0) & (token_ids == token)).sum())
            if n_epistemic != n_aleatoric:
                overall = (labels[got] == 1).sum() == (labels[got] == 0).sum()
                hint = (" The totals match, but the balance must hold for each token id separately."
                        if overall else "")
                return _report(False, f"token {token}: {n_epistemic} epistemic against {n_aleatoric} aleatoric.{hint}")
            if n_epistemic < available:
                return _report(False, f"token {token}: only {n_epistemic} pairs kept where {available} were possible; "
                                      "keep min(#epistemic, #aleatoric) of each.")
    return _report(True, "balanced per token id, as large as possible, on four random data sets.")


def check_linear_probe(fn) -> bool:
    """fn(train_features, train_labels, test_features) -> one score per test example, higher meaning
    more likely epistemic (label 1)."""
    from .knowable_unknowable import auc, fit_probe

    rng = np.random.default_rng(5)
    for _ in range(3):
        direction = rng.normal(size=16)
        features = rng.normal(size=(800, 16)) * rng.uniform(0.1, 30, size=16)  # scales differ, as in a network
        labels = ((features / features.std(0)) @ direction + rng.normal(scale=2.0, size=800) > 0).astype(int)
        train, test = slice(0, 600), slice(600, None)
        want = auc(labels[test], fit_probe(features[train], labels[train]).predict_proba(features[test])[:, 1])
        got, problem = _attempt(fn, features[train].copy(), labels[train].copy(), features[test].copy(),
                                convert=lambda v: np.asarray(v, dtype=float).reshape(-1))
        if problem:
            return _report(False, problem)
        if got.shape != (200,):
            return _report(False, f"expected one score per test example (200), got shape {got.shape}.")
        found = auc(labels[test], got)
        if found < want - 0.03:
            if found < 0.5:
                hint = "your scores rank backwards: return the probability of class 1 (predict_proba(...)[:, 1])."
            elif len(np.unique(got)) <= 2:
                hint = "return scores (probabilities), not 0/1 predictions: the AUC needs a ranking."
            else:
                hint = "standardise the features (their scales differ a lot) before the logistic regression."
            return _report(False, f"test AUC {found:.3f}, the reference probe reaches {want:.3f}. {hint}")
    return _report(True, f"your probe ranks held-out examples as well as the reference (AUC {found:.3f} on the "
                         "last data set).")
