"""Feature emergence via margin maximisation: Fourier features, parity supports, group representations.

After Morwani, Edelman, Oncescu, Zhao and Kakade (2024). A one-hidden-layer network without biases,
trained with cross-entropy and a small penalty on its norm, tends to the direction of maximum
normalised margin; for algebraic tasks that direction is known exactly, and it fixes what every
neuron computes. The story, in the order of this module:

1. the tasks as data: modular addition (a, b) -> a + b mod p, an (n, k) sparse parity, and
   composition a * b in the symmetric groups S3 and S4;
2. the network and its training: f(x) = sum_i sigma(<in_i, x>) out_i with sigma = x^2, x^k or ReLU,
   full-batch Adam on cross-entropy plus lambda * sum_i ||theta_i||^L (L the degree of homogeneity);
3. what is measured: the normalised margin, each neuron's Fourier spectrum and phases (modular
   addition), its weight on the support (parity), its energy per isotypic component (groups, with
   projectors computed from class sums); and the theory's maximum margins;
4. the certificates: explicit networks that reach each maximum exactly, measured with the same margin
   function, so that the theory's values are shown to be attained and not only never exceeded;
5. the chapter's experiments and `reproduce` (its figures, explorer and live widget are in `figures.py`).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from companion.core import parity
from companion.core.cache import Result, cached_training
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.runtime import derived_generator
from companion.core.sweeps import run_cached
from companion.core.training import log_spaced_steps, train

NAME = "margin-features"
VERSION = 2  # 2: an optional continuation at a second penalty; S5
TASKS = ("modular-addition", "sparse-parity", "S3", "S4", "S5")
GROUP_DEGREES = {"S3": 3, "S4": 4, "S5": 5}
ACTIVATIONS = ("x^2", "x^3", "x^4", "relu")
SINGLE = 0.9  # a neuron "has one frequency" (or one representation) when that share of its power is there


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % d for d in range(2, math.isqrt(p) + 1))


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """One network on one task, trained full-batch on every input the task has.

    ``regularisation`` is lambda in cross-entropy + lambda * sum_i ||theta_i||^L, where theta_i is
    neuron i's input and output weights together and L is the network's degree of homogeneity
    (3 for x^2, k + 1 for x^k, 2 for ReLU): the norm whose normalised margin the theory maximises.
    """

    task: str = "modular-addition"
    p: int = 23  # modulus (modular addition)
    n: int = 10  # input bits (sparse parity)
    k: int = 4  # support size (sparse parity)
    width: int = 96
    activation: str = "x^2"
    regularisation: float = 1e-4
    lr: float = 1e-2
    steps: int = 3000
    init_scale: float = 0.1
    evaluations: int = 30
    # after `steps` steps, train `then_steps` more at penalty `then_regularisation` (0 steps: no continuation)
    then_steps: int = 0
    then_regularisation: float = 0.0
    seed: int = 0

    def __post_init__(self):
        check_choice("task", self.task, TASKS)
        check_int("p", self.p, 5, 199)
        if not _is_prime(self.p):
            raise ValueError(f"p must be an odd prime between 5 and 199, got {self.p}")
        parity.check_parity(self.n, self.k)
        check_int("n", self.n, 2, 16)  # the whole cube is the training set
        check_int("width", self.width, 1, 4096)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_float("regularisation", self.regularisation, 0, 1)
        check_float("lr", self.lr, 0, 1, low_inclusive=False)
        check_int("steps", self.steps, 1, 10**6)
        check_float("init_scale", self.init_scale, 0, 10, low_inclusive=False)
        check_int("evaluations", self.evaluations, 2, 1000)
        check_int("then_steps", self.then_steps, 0, 10**6)
        check_float("then_regularisation", self.then_regularisation, 0, 1)
        check_seed("seed", self.seed)

    @property
    def homogeneity(self) -> int:
        """L: scaling every neuron's weights by c scales the output by c^L."""
        return 2 if self.activation == "relu" else int(self.activation[-1]) + 1


BOOK = {
    "modular-addition": dict(p=23, width=96, steps=3000),
    "relu": dict(p=23, width=96, steps=3000, activation="relu", regularisation=1e-3),
    "sparse-parity": dict(n=10, k=4, width=40, steps=12000, activation="x^4", regularisation=1e-3),
    "S3": dict(width=40, steps=6000, regularisation=1e-5),
    "S4": dict(width=200, steps=8000, regularisation=1e-5),
    # S4 again, continued from the main run's end at a tenth of its penalty
    "S4-continued": dict(width=200, steps=8000, regularisation=1e-5, then_steps=4000, then_regularisation=1e-6),
    "penalties": (1e-3, 1e-4),  # S4 again with these larger penalties
}


def _changed(plan: dict, **changes) -> dict:
    return {run: ({**settings, **changes.get(run, {})} if isinstance(settings, dict) else changes.get(run, settings))
            for run, settings in plan.items()}


SCALES = {
    "test": _changed(BOOK, relu=dict(steps=2000), S3=dict(steps=3000), S4=dict(width=120, steps=4000),
                     **{"sparse-parity": dict(n=8, width=30, steps=8000),
                        "S4-continued": dict(width=120, steps=4000, then_steps=2000)}),
    "book": BOOK,
    "full": _changed(BOOK, S3=dict(width=100, steps=20000, regularisation=1e-6),
                     S4=dict(width=400, steps=30000, regularisation=1e-6), penalties=(1e-3, 1e-4, 1e-5),
                     **{"S4-continued": dict(width=400, steps=30000, regularisation=1e-6, then_steps=10000,
                                             then_regularisation=1e-7)},
                     **{run: dict(p=71, width=500, steps=10000) for run in ("modular-addition", "relu")},
                     **{"sparse-parity": dict(width=100, steps=30000)}),
}
SCALES["full"]["S5"] = dict(width=2000, steps=20000, regularisation=1e-6)  # the paper's width; full scale only


def config_for(scale: str | None, run: str, seed: int = 0, **changes) -> Config:
    """The config of one of a scale's runs ("modular-addition", "relu", "sparse-parity", "S3", "S4",
    "S4-continued", and "S5" at full scale)."""
    plan = dict(SCALES[resolve_scale(scale)][run])
    task = {"relu": "modular-addition", "S4-continued": "S4"}.get(run, run)
    return Config(task=task, seed=seed, **{**plan, **changes})


# ----------------------------------------------------------------------------- the tasks as data

@functools.cache
def symmetric_group(degree: int) -> dict:
    """S_degree: its elements (permutations as tuples, identity first), the product table
    ``table[a, b] = index of a * b`` (apply b, then a) and the conjugacy classes (lists of indices)."""
    elements = sorted(itertools.permutations(range(degree)))
    index = {g: i for i, g in enumerate(elements)}
    table = np.array([[index[tuple(a[i] for i in b)] for b in elements] for a in elements])
    inverse = [index[tuple(np.argsort(g))] for g in elements]
    classes, seen = [], set()
    for g in range(len(elements)):
        if g not in seen:
            orbit = sorted({table[table[h, g], inverse[h]] for h in range(len(elements))})
            seen.update(orbit)
            classes.append(orbit)
    return {"elements": elements, "table": table, "inverse": inverse, "classes": classes}


def make_task(config: Config) -> dict:
    """Every input of the task as a row of ``x`` and its class in ``y``.

    Modular addition and group composition feed the network one-hot(a) next to one-hot(b), so neuron
    i's input weights are two vectors u_i, v_i indexed by the elements; parity feeds the ±1 bits.
    """
    if config.task == "sparse-parity":
        support = parity.random_support(config.n, config.k, derived_generator(config.seed, 1))
        x = parity.all_inputs(config.n)
        y = ((1 - parity.parity(x, support)) / 2).long()  # class 0: parity +1, class 1: parity -1
        return {"x": x, "y": y, "classes": 2, "support": support}
    if config.task == "modular-addition":
        size = config.p
        table = (np.arange(size)[:, None] + np.arange(size)[None, :]) % size
    else:
        table = symmetric_group(GROUP_DEGREES[config.task])["table"]
        size = len(table)
    a, b = np.divmod(np.arange(size * size), size)
    x = torch.cat([F.one_hot(torch.from_numpy(a), size), F.one_hot(torch.from_numpy(b), size)], 1).float()
    return {"x": x, "y": torch.from_numpy(table[a, b]).long(), "classes": size}


# ----------------------------------------------------------------------------- the network

def activate(z: torch.Tensor, activation: str) -> torch.Tensor:
    return torch.relu(z) if activation == "relu" else z ** int(activation[-1])


def forward(weights: dict, x: torch.Tensor, activation: str) -> torch.Tensor:
    """f(x) = sum_i sigma(<in_i, x>) out_i: (samples, d_in) -> (samples, classes)."""
    return activate(x @ weights["in"].T, activation) @ weights["out"]  # (samples, width) -> (samples, classes)


def neuron_norms(weights: dict) -> torch.Tensor:
    """||theta_i||: each neuron's input and output weights as one vector."""
    return (weights["in"].pow(2).sum(1) + weights["out"].pow(2).sum(1)).sqrt()  # (width,)


def normalised_margin(weights: dict, x: torch.Tensor, y: torch.Tensor, activation: str, homogeneity: int) -> float:
    """min over inputs of (correct logit - best wrong logit), divided by sum_i ||theta_i||^L.

    Scaling the weights leaves it unchanged, so it compares networks of any size; the theory's
    maximum is over all networks of any width.
    """
    logits = forward(weights, x, activation)  # (samples, classes)
    correct = logits.gather(1, y[:, None])[:, 0]  # (samples,)
    wrong = logits.scatter(1, y[:, None], -torch.inf).max(1).values  # (samples,): the best wrong class
    return float((correct - wrong).min() / neuron_norms(weights).pow(homogeneity).sum())


def accuracy(weights: dict, x: torch.Tensor, y: torch.Tensor, activation: str) -> float:
    return float((forward(weights, x, activation).argmax(1) == y).float().mean())


# ----------------------------------------------------------------------------- the measured features

def fourier_power(vectors: torch.Tensor) -> torch.Tensor:
    """Power of real vectors (..., p) at frequencies 0..(p-1)/2, summing to the squared norm (p odd).

    Frequency j > 0 stands for the pair e^(±2 pi i j a / p), a cosine of any phase; Parseval counts
    both halves, hence the factor 2.
    """
    p = vectors.shape[-1]
    spectrum = torch.fft.rfft(vectors.double(), dim=-1).abs().pow(2) / p
    spectrum[..., 1:] *= 2
    return spectrum


def neuron_spectra(weights: dict, p: int) -> torch.Tensor:
    """(width, (p+1)/2): each neuron's power per frequency over u_i, v_i and w_i together, as shares."""
    u, v, w = weights["in"][:, :p], weights["in"][:, p:], weights["out"]
    power = fourier_power(u) + fourier_power(v) + fourier_power(w)
    return power / power.sum(1, keepdim=True).clamp_min(1e-30)


def dominant_frequencies(spectra: torch.Tensor) -> torch.Tensor:
    """Each neuron's strongest frequency among 1..(p-1)/2 (frequency 0, a constant, is never a feature)."""
    return spectra[:, 1:].argmax(1) + 1


def phases(vectors: torch.Tensor, frequencies: torch.Tensor) -> torch.Tensor:
    """theta with vector[a] ~ A cos(2 pi j a / p + theta) at each row's frequency j."""
    coefficients = torch.fft.rfft(vectors.double(), dim=-1)
    return coefficients.gather(1, frequencies[:, None])[:, 0].angle()


def wrap(angle: torch.Tensor) -> torch.Tensor:
    """An angle in (-pi, pi]."""
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi


def phase_errors(weights: dict, p: int) -> torch.Tensor:
    """theta_u + theta_v - theta_w at each neuron's dominant frequency, wrapped: the theory says 0.

    u[a] v[b] w[c] with u ~ cos(ja + theta_u), v ~ cos(jb + theta_v) contains cos(j(a+b) + theta_u +
    theta_v) / 2, which adds the most to the correct logit c = a + b when w ~ cos(jc + theta_u + theta_v).
    """
    frequencies = dominant_frequencies(neuron_spectra(weights, p))
    u, v, w = weights["in"][:, :p], weights["in"][:, p:], weights["out"]
    return wrap(phases(u, frequencies) + phases(v, frequencies) - phases(w, frequencies))


def modular_features(weights: dict, p: int) -> dict:
    spectra = neuron_spectra(weights, p)
    top = spectra[:, 1:].max(1).values
    frequencies = dominant_frequencies(spectra)
    single = top > SINGLE
    used = sorted({int(f) for f in frequencies[single]})
    return {
        "frac_single_freq": float(single.float().mean()),
        "mean_top_share": float(top.mean()),
        "freqs_covered": used,
        "num_freqs": (p - 1) // 2,
        "neurons_per_freq": [int(((frequencies == j) & single).sum()) for j in range(1, (p - 1) // 2 + 1)],
    }


def support_share(weights: dict, support: torch.Tensor) -> float:
    """Share of all input-weight norm (squared) that sits on the support's coordinates."""
    return float(weights["in"][:, support].pow(2).sum() / weights["in"].pow(2).sum())


def parity_features(weights: dict, support: torch.Tensor) -> dict:
    """On-support share, how equal the neurons' support magnitudes are, and how their output weights align
    with [1, -1] (the only direction that separates the two classes)."""
    on_support = weights["in"][:, support].abs()
    big = neuron_norms(weights) > 0.1 * neuron_norms(weights).max()  # neurons the penalty has not switched off
    spread = (on_support.std(1) / on_support.mean(1).clamp_min(1e-12))[big]
    direction = torch.tensor([1.0, -1.0]) / math.sqrt(2)
    alignment = (weights["out"] @ direction).abs() / weights["out"].norm(dim=1).clamp_min(1e-12)
    return {
        "frac_norm_on_support": support_share(weights, support),
        "active_neurons": int(big.sum()),
        "median_support_spread": float(spread.median()),
        "median_output_alignment": float(alignment[big].median()),
    }


@functools.cache
def isotypic_components(degree: int) -> list[dict]:
    """The isotypic components of functions on S_degree, from class sums alone.

    Convolving with a class sum commutes with the group's action on both sides, so it acts on each
    isotypic component (the span of one irreducible representation's matrix entries, of dimension
    d^2) as a scalar, different for different representations. A random combination of class sums,
    diagonalised, therefore splits R^G into exactly these components: the eigenvalue clusters.
    Returns, per component, its representation's dimension d, an orthonormal basis (|G|, d^2), and
    whether it is the trivial one (the constants). Symmetric groups have real representations and
    classes closed under inverses, so the combination is a symmetric matrix.
    """
    group = symmetric_group(degree)
    table, size = group["table"], len(group["table"])
    weights = np.random.default_rng(0).normal(size=len(group["classes"]))
    operator = np.zeros((size, size))
    for weight, members in zip(weights, group["classes"]):
        for g in members:
            operator[np.arange(size), table[g]] += weight  # (C f)(x) = sum_{g in C} f(g x)
    values, vectors = np.linalg.eigh(operator)
    breaks = np.flatnonzero(np.diff(values) > 1e-6 * (1 + np.abs(values).max())) + 1
    components = []
    for block in np.split(np.arange(size), breaks):
        basis = vectors[:, block]
        d = math.isqrt(len(block))
        if d * d != len(block):
            raise RuntimeError(f"an eigenvalue cluster of size {len(block)} is not a square: the split failed")
        trivial = len(block) == 1 and abs(abs(basis[:, 0].sum()) - math.sqrt(size)) < 1e-8
        components.append({"dimension": d, "basis": torch.from_numpy(basis), "trivial": trivial})
    return sorted(components, key=lambda c: (not c["trivial"], c["dimension"]))


def irrep_shares(weights: dict, degree: int) -> torch.Tensor:
    """(width, components): each neuron's weight energy (u_i, v_i and w_i together) per isotypic component."""
    size = math.factorial(degree)
    blocks = (weights["in"][:, :size], weights["in"][:, size:], weights["out"])
    energy = torch.stack([sum((block.double() @ c["basis"]).pow(2).sum(1) for block in blocks)
                          for c in isotypic_components(degree)], 1)
    return energy / energy.sum(1, keepdim=True).clamp_min(1e-30)


def group_features(weights: dict, degree: int) -> dict:
    shares = irrep_shares(weights, degree)
    nontrivial = torch.tensor([not c["trivial"] for c in isotypic_components(degree)])
    top, which = shares[:, nontrivial].max(1)
    single = top > SINGLE
    dimensions = [c["dimension"] for c in isotypic_components(degree) if not c["trivial"]]
    trivial = shares[:, ~nontrivial].sum(1)
    return {
        "frac_single_irrep": float(single.float().mean()),
        "max_trivial_share": float(trivial.max()),
        "irrep_dimensions": dimensions,
        "neurons_per_irrep": [int(((which == j) & single).sum()) for j in range(len(dimensions))],
    }


def features(config: Config, weights: dict, task: dict) -> dict:
    if config.task == "modular-addition":
        return modular_features(weights, config.p)
    if config.task == "sparse-parity":
        return parity_features(weights, task["support"])
    return group_features(weights, GROUP_DEGREES[config.task])


FEATURE_SHARE = {"modular-addition": "frac_single_freq", "sparse-parity": "frac_norm_on_support",
                 **{group: "frac_single_irrep" for group in GROUP_DEGREES}}


# ----------------------------------------------------------------------------- the theory's margins

def modular_margin_theory(p: int) -> float:
    """Maximum L2,3-normalised margin for modular addition with x^2 (width >= 4(p-1))."""
    return math.sqrt(2 / 27) / (math.sqrt(p) * (p - 1))


def parity_margin_theory(k: int) -> float:
    """Maximum normalised margin for an (n, k) sparse parity with x^k and two outputs."""
    return math.factorial(k) * math.sqrt(2 * (k + 1) ** -(k + 1))


def group_margin_theory(degree: int) -> float:
    """Maximum L2,3-normalised margin for composition in S_degree with x^2:
    2 / (3 sqrt(3) sqrt(|G|) sum over non-trivial irreducible representations of d^(5/2)),
    with the dimensions d read off the isotypic components (all of S_n's representations are real)."""
    total = sum(c["dimension"] ** 2.5 for c in isotypic_components(degree) if not c["trivial"])
    return 2 / (3 * math.sqrt(3) * math.sqrt(math.factorial(degree)) * total)


def margin_theory(config: Config) -> float | None:
    """The theory's maximum for this config, or None where it makes no claim (ReLU, other powers)."""
    if config.task == "modular-addition":
        return modular_margin_theory(config.p) if config.activation == "x^2" else None
    if config.task == "sparse-parity":
        return parity_margin_theory(config.k) if config.activation == f"x^{config.k}" else None
    return group_margin_theory(GROUP_DEGREES[config.task]) if config.activation == "x^2" else None


# ----------------------------------------------------------------------------- the theorem's structure

def representation_norm_shares(weights: dict, degree: int) -> list[float]:
    """How the network's norm is shared among the non-trivial representations: sum_i ||theta_i||^3 times
    neuron i's energy share in each component, normalised to sum to one."""
    shares = irrep_shares(weights, degree)
    nontrivial = torch.tensor([not c["trivial"] for c in isotypic_components(degree)])
    mass = (neuron_norms(weights).double().pow(3)[:, None] * shares[:, nontrivial]).sum(0)
    return (mass / mass.sum()).tolist()


def theory_norm_shares(degree: int) -> list[float]:
    """The maximum-margin networks' shares: proportional to d^(5/2) for each non-trivial representation."""
    dimensions = [c["dimension"] for c in isotypic_components(degree) if not c["trivial"]]
    total = sum(d**2.5 for d in dimensions)
    return [d**2.5 / total for d in dimensions]


def frequency_norm_shares(weights: dict, p: int) -> list[float]:
    """How the network's norm sum_i ||theta_i||^3 is shared among the frequencies 1..(p-1)/2, each neuron's
    part split by its power spectrum: the theorem's networks give every frequency 1 / ((p-1)/2)."""
    spectra = neuron_spectra(weights, p)[:, 1:]
    mass = (neuron_norms(weights).double().pow(3)[:, None] * spectra).sum(0)
    return (mass / mass.sum()).tolist()


def parity_balance(weights: dict, support: torch.Tensor) -> dict:
    """Per active neuron, the mean |u_j| over the support divided by ||w||: the theorem's networks have 1."""
    big = neuron_norms(weights) > 0.1 * neuron_norms(weights).max()
    ratio = weights["in"][:, support].abs().mean(1) / weights["out"].norm(dim=1).clamp_min(1e-12)
    ratio = ratio[big].double()
    return {"median": float(ratio.median()), "min": float(ratio.min()), "max": float(ratio.max())}


def group_top_shares(weights: dict, degree: int) -> dict:
    """Each neuron's share of energy inside its strongest non-trivial representation's span."""
    shares = irrep_shares(weights, degree)
    nontrivial = torch.tensor([not c["trivial"] for c in isotypic_components(degree)])
    top = shares[:, nontrivial].max(1).values
    return {"median": float(top.median()), "min": float(top.min())}


# ----------------------------------------------------------------------------- training

def _compute(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    task = make_task(config)
    x, y = task["x"].to(device), task["y"].to(device)
    generator = derived_generator(config.seed, 0)
    weights = {
        "in": torch.randn(config.width, x.shape[1], generator=generator) * config.init_scale,
        "out": torch.randn(config.width, task["classes"], generator=generator) * config.init_scale,
    }
    model = torch.nn.ParameterDict({key: torch.nn.Parameter(value.to(device)) for key, value in weights.items()})
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    L = config.homogeneity

    def loss(model, x, y, regularisation):
        penalty = neuron_norms(model).pow(L).sum()
        return F.cross_entropy(forward(model, x, config.activation), y) + regularisation * penalty

    def batch(step: int):
        return x, y, config.regularisation if step <= config.steps else config.then_regularisation

    def evaluate(step: int) -> dict:
        current = {key: value.detach().cpu() for key, value in model.items()}
        measured = {
            "loss": float(F.cross_entropy(forward(current, task["x"], config.activation), task["y"])),
            "accuracy": accuracy(current, task["x"], task["y"], config.activation),
            "margin": normalised_margin(current, task["x"], task["y"], config.activation, L),
            "feature_share": features(config, current, task)[FEATURE_SHARE[config.task]],
            "snapshot.in": current["in"].clone(),
            "snapshot.out": current["out"].clone(),
        }
        return measured

    total = config.steps + config.then_steps
    eval_steps = sorted(set(log_spaced_steps(total, config.evaluations)) | {config.steps})
    history = train(model, batch, loss, steps=total, optimizer=optimizer, evaluate=evaluate, eval_steps=eval_steps,
                    description=f"{NAME} {config.task} {config.activation}")
    final = {key: value.detach().cpu() for key, value in model.items()}
    theory = margin_theory(config)
    metrics = {
        "config": dataclasses.asdict(config),
        "step": history["step"],
        "loss": history["loss"],
        "accuracy": history["accuracy"],
        "margin": history["margin"],
        "feature_share": history["feature_share"],
        "margin_theory": theory,
        "margin_ratio": history["margin"][-1] / theory if theory else None,
        "features": features(config, final, task),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    arrays = {"snapshot.in": history["snapshot.in"], "snapshot.out": history["snapshot.out"],
              "final.in": final["in"], "final.out": final["out"]}
    if "support" in task:
        arrays["support"] = task["support"]
    return Result(metrics=metrics, arrays=arrays)


def run(config: Config, use_cache: bool = True, device: str = "auto") -> Result:
    """Train (or load from the cache) one network and measure it; one CPU thread, the fastest here."""
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device=device)


def run_many(configs: list[Config], n_jobs: int = 2) -> list[Result]:
    return run_cached(run, configs, NAME, VERSION, n_jobs=n_jobs)


def weights_at(result: Result, evaluation: int = -1) -> dict:
    return {"in": result.arrays["snapshot.in"][evaluation], "out": result.arrays["snapshot.out"][evaluation]}
