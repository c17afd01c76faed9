"""Sparse variable creation in self-attention: the samples a transformer needs grow with log T.

After Edelman, Goel, Kakade and Zhang (2022). An input is T bits; its label is a Boolean function of
s hidden positions (a 3-way AND by default). A transformer block reads the answer from a [CLS] token
that attends over the bits: if its attention lands on the s relevant positions, it has "created" the
s variables the function needs, and the rest is a small function of them. Bounded-norm attention can
only afford to do this in a way whose sample cost grows with log T, not T; a multilayer perceptron on
the flattened bits has no such bias. The story, in the order of this module:

1. the data: T biased bits, labels from an s-way AND (or parity) of hidden positions;
2. the models: one [CLS] attention block, and an MLP baseline, each trained full-batch on m samples;
3. the search: for each T, m grows until every seed succeeds (test accuracy >= 0.95); the critical
   sample size m*(T) is the smallest m at which at least half the seeds do;
4. the fit m* = a + b log T, the baseline's growth, and the [CLS] attention on the support.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from companion.core import runtime
from companion.core.cache import Result, cached_training
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import EnsembleMLP
from companion.core.runtime import derived_generator
from companion.core.sweeps import sweep
from companion.core.training import train

NAME = "variable-creation"
VERSION = 1
MODELS = ("attention", "mlp")
FUNCTIONS = ("and", "parity")
SUCCESS_ACCURACY = 0.95
SCAN_PAST = 1.4  # a scan stops a grid step past m*: the rare seeds that never succeed would cost the most
BISECTIONS = 2  # then the grid's step below m* is split twice, to a factor 2^(1/8)
M_GRID = tuple(int(round(10 * 2 ** (i / 2))) for i in range(23))  # 10, 14, 20, 28, 40, ... ~20,000


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """One cell of the search: `replicates` seeds of one (model, T, m), trained side by side.

    Replicate i draws its support, its m training samples, its test set and its initial weights from
    seed ``seed + i`` alone. ``width`` is the attention block's model width d, or the MLP's hidden
    width; ``hidden`` is the width of the small MLP that reads the [CLS] token.
    """

    model: str = "attention"
    function: str = "and"
    T: int = 64
    m: int = 100
    s: int = 3
    width: int = 16
    hidden: int = 64
    lr: float = 1e-2
    steps: int = 300
    init_scale: float = 0.1
    test_size: int = 2000
    replicates: int = 16
    seed: int = 0

    def __post_init__(self):
        check_choice("model", self.model, MODELS)
        check_choice("function", self.function, FUNCTIONS)
        check_int("T", self.T, 2, 8192)
        check_int("m", self.m, 1, 10**6)
        check_int("s", self.s, 1, 8)
        if self.s > self.T:
            raise ValueError(f"s must be at most T={self.T}, got {self.s}")
        check_int("width", self.width, 1, 4096)
        check_int("hidden", self.hidden, 1, 4096)
        check_float("lr", self.lr, 0, 1, low_inclusive=False)
        check_int("steps", self.steps, 1, 10**6)
        check_float("init_scale", self.init_scale, 0, 10, low_inclusive=False)
        check_int("test_size", self.test_size, 10, 10**6)
        check_int("replicates", self.replicates, 1, 1024)
        check_seed("seed", self.seed)

    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.replicates)]


# Each model's training recipe: full-batch Adam; attention fits in a few hundred steps, the MLP's test
# accuracy keeps improving for a while after it fits its training set.
RECIPES = {"attention": dict(width=16, hidden=64, lr=3e-2, steps=300),
           "mlp": dict(width=32, lr=3e-3, steps=600)}

# Seeds per cell for each model. The MLP's success rate jumps from 0 to 1 within a step or two of m, so
# half as many seeds place its m* as well, and its cells at large T and m are the costliest of all.
SCALES = {
    "test": dict(Ts=(16, 64, 256), replicates={"attention": 8, "mlp": 4}, max_m=2560),
    "book": dict(Ts=(32, 64, 128, 256, 512), replicates={"attention": 32, "mlp": 8}, max_m=5120),
    "full": dict(Ts=(32, 64, 128, 256, 512, 1024), replicates={"attention": 64, "mlp": 16}, max_m=10240),
}


def config_for(scale: str | None, model: str, T: int, m: int, seed: int = 0, **changes) -> Config:
    plan = SCALES[resolve_scale(scale)]
    settings = {**RECIPES[model], "replicates": plan["replicates"][model], **changes}
    return Config(model=model, T=T, m=m, seed=seed, **settings)


# ----------------------------------------------------------------------------- data

def one_probability(function: str, s: int) -> float:
    """P(bit = 1): 0.5^(1/s) makes an s-way AND true half the time; fair bits for parity."""
    return 0.5 ** (1 / s) if function == "and" else 0.5


def label(x: torch.Tensor, support: torch.Tensor, function: str) -> torch.Tensor:
    """AND or parity (XOR) of the bits of x (..., T) on the support (s,): 0/1 floats (...)."""
    bits = x[..., support]
    return bits.prod(-1) if function == "and" else bits.sum(-1).remainder(2)


def sample(config: Config, support: torch.Tensor, size: int, generator: torch.Generator):
    x = (torch.rand(size, config.T, generator=generator) < one_probability(config.function, config.s)).float()
    return x, label(x, support, config.function)


def make_data(config: Config) -> dict[str, torch.Tensor]:
    """Per replicate: a support, m training samples and a test set, stacked on a leading axis."""
    columns = {key: [] for key in ("support", "train_x", "train_y", "test_x", "test_y")}
    for seed in config.seeds():
        support = torch.randperm(config.T, generator=derived_generator(seed, 0))[:config.s].sort().values
        train_x, train_y = sample(config, support, config.m, derived_generator(seed, 1))
        test_x, test_y = sample(config, support, config.test_size, derived_generator(seed, 2))
        for key, value in zip(columns, (support, train_x, train_y, test_x, test_y)):
            columns[key].append(value)
    return {key: torch.stack(values) for key, values in columns.items()}


# ----------------------------------------------------------------------------- the models

class ClsAttention(nn.Module):
    """R independent one-block transformers that read a [CLS] token, evaluated as one batched network.

    Token j is e[x_j] + p_j (a bit embedding plus a learned position embedding); the [CLS] token c
    attends over itself and the T tokens with query W_Q c and keys W_K t, and the block outputs
    c + sum_j alpha_j W_V t_j, read by a one-hidden-layer MLP. Only the [CLS] output is needed, and its
    query does not depend on the input, so the scores are q.W_K(e_0 + p_j) + x_j q.W_K(e_1 - e_0): an
    O(T) vector plus a scalar times the bits. That makes a forward pass O(m T d) instead of O(m T^2 d).

    Shapes: bits (R, B, T) -> logits (R, B); ``attention`` gives (R, B, T + 1), [CLS] itself last.
    """

    def __init__(self, replicates: int, T: int, width: int, hidden: int, init_scale: float,
                 generators: list[torch.Generator]):
        super().__init__()
        d = width

        def stacked(*shape, scale):
            return nn.Parameter(torch.stack([torch.randn(*shape, generator=g) * scale for g in generators]))

        self.bits = stacked(2, d, scale=init_scale)  # e_0, e_1
        self.positions = stacked(T, d, scale=init_scale)  # p_1..p_T
        self.cls = stacked(d, scale=init_scale)  # c
        self.query, self.key, self.value = (stacked(d, d, scale=1 / math.sqrt(d)) for _ in range(3))
        self.mlp_in = stacked(hidden, d, scale=1 / math.sqrt(d))
        self.mlp_bias = nn.Parameter(torch.zeros(replicates, hidden))
        self.readout = stacked(hidden, scale=1 / math.sqrt(hidden))
        self.readout_bias = nn.Parameter(torch.zeros(replicates))
        self.scale = 1 / math.sqrt(d)

    def _project(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """W t for the tokens with bit 0 (R, T, d), the change a 1 makes (R, d), and W c (R, d)."""
        zero_tokens = self.bits[:, None, 0] + self.positions
        return (torch.einsum("rij,rtj->rti", weight, zero_tokens),
                torch.einsum("rij,rj->ri", weight, self.bits[:, 1] - self.bits[:, 0]),
                torch.einsum("rij,rj->ri", weight, self.cls))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.einsum("rij,rj->ri", self.query, self.cls)  # (R, d)
        keys, key_change, cls_key = self._project(self.key)
        base = torch.einsum("rti,ri->rt", keys, q)  # (R, T)
        scores = (base[:, None, :] + (key_change * q).sum(-1)[:, None, None] * x) * self.scale  # (R, B, T)
        self_score = ((cls_key * q).sum(-1) * self.scale)[:, None, None].expand(-1, x.shape[1], 1)
        return torch.cat([scores, self_score], -1).softmax(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.attention(x)
        values, value_change, cls_value = self._project(self.value)
        on_bits = alpha[..., :-1]
        mixed = (torch.bmm(on_bits, values) + (on_bits * x).sum(-1, keepdim=True) * value_change[:, None]
                 + alpha[..., -1:] * cls_value[:, None])  # (R, B, d)
        z = self.cls[:, None] + mixed
        h = torch.relu(torch.einsum("rhd,rbd->rbh", self.mlp_in, z) + self.mlp_bias[:, None])
        return torch.einsum("rbh,rh->rb", h, self.readout) + self.readout_bias[:, None]


def build_model(config: Config) -> nn.Module:
    generators = [derived_generator(seed, 3) for seed in config.seeds()]
    if config.model == "attention":
        return ClsAttention(config.replicates, config.T, config.width, config.hidden, config.init_scale, generators)
    return EnsembleMLP(config.replicates, config.T, config.width, generators=generators)


def logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return out[..., 0] if out.dim() == 3 else out


def support_attention_mass(attention: np.ndarray, support) -> float:
    """One model's [CLS] attention (inputs, T + 1) summed over the support, averaged over the inputs."""
    return float(np.asarray(attention)[:, list(support)].sum(1).mean())


def support_attention(model: ClsAttention, x: torch.Tensor, supports: torch.Tensor) -> torch.Tensor:
    """Per replicate, the [CLS] attention mass on the support, averaged over the inputs: (R,)."""
    alpha = model.attention(x)
    return torch.gather(alpha, 2, supports[:, None, :].expand(-1, x.shape[1], -1)).sum(-1).mean(-1)


# ----------------------------------------------------------------------------- training one cell

def _compute(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    data = {key: value.to(device) for key, value in make_data(config).items()}
    model = build_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    def loss(model, x, y):
        return F.binary_cross_entropy_with_logits(logits(model, x), y, reduction="none").mean(-1).sum()

    def accuracy(x, y):
        return ((logits(model, x) > 0).float() == y).float().mean(-1)

    def evaluate(step: int) -> dict:
        return {"train_accuracy": accuracy(data["train_x"], data["train_y"]).cpu(),
                "test_accuracy": accuracy(data["test_x"], data["test_y"]).cpu()}

    history = train(model, lambda step: (data["train_x"], data["train_y"]), loss, steps=config.steps,
                    optimizer=optimizer, evaluate=evaluate, eval_steps=[config.steps],
                    description=f"{NAME} {config.model} T={config.T} m={config.m}")
    test_accuracy = history["test_accuracy"][-1]
    metrics = {
        "config": dataclasses.asdict(config),
        "seeds": config.seeds(),
        "test_accuracy": test_accuracy.tolist(),
        "train_accuracy": history["train_accuracy"][-1].tolist(),
        "success": (test_accuracy >= SUCCESS_ACCURACY).tolist(),
        "supports": data["support"].cpu().tolist(),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    arrays = {}
    if config.model == "attention":
        with torch.no_grad():
            metrics["attention_on_support"] = support_attention(model, data["test_x"], data["support"]).tolist()
            arrays["mean_attention"] = model.attention(data["test_x"]).mean(1).cpu()  # (R, T + 1)
    return Result(metrics=metrics, arrays=arrays)


def run(config: Config, use_cache: bool = True, device: str = "auto") -> Result:
    """Train (or load from the cache) one cell's replicates; one CPU thread, the fastest here."""
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device=device)


# ----------------------------------------------------------------------------- the search over m

def success_rate(result: Result) -> float:
    return float(np.mean(result.metrics["success"]))


def scan(model: str, T: int, scale: str | None = None, seed: int = 0, **changes) -> list[Result]:
    """Cells of growing m until every seed succeeds or m passes SCAN_PAST times m*, then BISECTIONS
    halvings (in log m) of the step below m*; sorted by m. Small m are cheap, so starting at the
    bottom costs little and gives the whole accuracy curve."""
    plan = SCALES[resolve_scale(scale)]

    def cell(m: int) -> Result:
        return run(config_for(scale, model, T, m, seed, **changes))

    results = []
    for m in (m for m in M_GRID if m <= plan["max_m"]):
        results.append(cell(m))
        star = critical_m(results)
        if success_rate(results[-1]) == 1.0 or (star is not None and m >= SCAN_PAST * star):
            break
    star = critical_m(results)
    below = [r.metrics["config"]["m"] for r in results if r.metrics["config"]["m"] < (star or 0)]
    if below:
        low, high = below[-1], star
        for _ in range(BISECTIONS):
            middle = int(round(math.sqrt(low * high)))
            if middle in (low, high):
                break
            results.append(cell(middle))
            low, high = (low, middle) if success_rate(results[-1]) >= 0.5 else (middle, high)
    return sorted(results, key=lambda r: r.metrics["config"]["m"])


def critical_m(results: list[Result]) -> int | None:
    """m*: the smallest m at which at least half the seeds succeed (None: not within the scan)."""
    return next((r.metrics["config"]["m"] for r in results if success_rate(r) >= 0.5), None)


def log_fit(Ts: list[int], values: list[float]) -> dict:
    """Least squares m* = a + b ln T, with its r^2 (scipy's linregress)."""
    # scipy is imported here, not at the top: only the runs that use it pay its second of loading
    from scipy.stats import linregress

    fit = linregress(np.log(Ts), values)
    return {"a": float(fit.intercept), "b": float(fit.slope), "r2": float(fit.rvalue**2)}


def _scan_task(model: str, T: int, scale: str, seed: int) -> None:
    scan(model, T, scale, seed)  # results land in the cache; the parent reads them back


def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict[str, dict[int, list[Result]]]:
    """Both models' scans for every T of the scale: {model: {T: [results, by growing m]}}."""
    scale = resolve_scale(scale)
    Ts = SCALES[scale]["Ts"]
    # the largest T first: they take longest, and the two processes then finish together
    tasks = [{"model": model, "T": T, "scale": scale, "seed": seed}
             for T in sorted(Ts, reverse=True) for model in MODELS]
    sweep(_scan_task, tasks, n_jobs=n_jobs)
    return {model: {T: scan(model, T, scale, seed) for T in Ts} for model in MODELS}


def _support_masses(scans: dict[int, list[Result]], solved: bool) -> np.ndarray:
    return np.array([mass for results in scans.values() for r in results
                     for mass, ok in zip(r.metrics["attention_on_support"], r.metrics["success"]) if ok == solved])


def attention_on_support(scans: dict[int, list[Result]]) -> dict:
    """[CLS] attention mass on the support over every solved attention run (replicate and cell)."""
    masses = _support_masses(scans, solved=True)
    return {"mean": float(masses.mean()), "median": float(np.median(masses)),
            "share_above_half": float(np.mean(masses > 0.5)), "solved_runs": len(masses)}


def attention_on_support_unsolved(scans: dict[int, list[Result]]) -> dict:
    """The same over the runs that did not reach the success accuracy: the measure's control."""
    masses = _support_masses(scans, solved=False)
    return {"mean": float(masses.mean()), "median": float(np.median(masses)), "unsolved_runs": len(masses)}


def failures_past_critical(results: list[Result]) -> dict:
    """The runs that still fail at m above m*: how many, their test accuracy and their [CLS] attention
    on the support. Accuracy near chance with no attention on the support marks a failure of
    optimisation rather than a lack of data."""
    star = critical_m(results)
    accuracies, masses = [], []
    for r in results:
        if star is not None and r.metrics["config"]["m"] > star:
            for accuracy, mass, ok in zip(r.metrics["test_accuracy"], r.metrics["attention_on_support"],
                                          r.metrics["success"]):
                if not ok:
                    accuracies.append(accuracy)
                    masses.append(mass)
    runs = sum(len(r.metrics["success"]) for r in results if star is not None and r.metrics["config"]["m"] > star)
    return {"failed_runs": len(accuracies), "runs": runs,
            "median_accuracy": float(np.median(accuracies)) if accuracies else None,
            "median_attention_on_support": float(np.median(masses)) if masses else None}


def summary(found: dict) -> dict:
    Ts = sorted(found["attention"])
    attention = [critical_m(found["attention"][T]) for T in Ts]
    baseline = [critical_m(found["mlp"][T]) for T in Ts]
    report = {"T": Ts, "critical_m": attention, "baseline_critical_m": baseline}
    if None not in attention:
        report["fit"] = log_fit(Ts, attention)
        report["growth"] = attention[-1] / attention[0]
    if None not in baseline:
        report["baseline_fit"] = log_fit(Ts, baseline)
        report["baseline_growth"] = baseline[-1] / baseline[0]
    solved = attention_on_support(found["attention"])
    report["cls_attention_on_support"] = solved["mean"]
    report["attention_on_support"] = solved
    report["attention_on_support_unsolved"] = attention_on_support_unsolved(found["attention"])
    return report


def curves(results: list[Result]) -> dict:
    """Test accuracy against m for one scan: mean and per seed, with success rates."""
    return {"m": [r.metrics["config"]["m"] for r in results],
            "mean_accuracy": [float(np.mean(r.metrics["test_accuracy"])) for r in results],
            "accuracy": [r.metrics["test_accuracy"] for r in results],
            "success_rate": [success_rate(r) for r in results]}


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce variable-creation` writes to variable-creation.json."""
    scale = resolve_scale(scale)
    found = experiments(scale, seed)
    return {"topic": NAME, "scale": scale, "seed": seed, **summary(found),
            "curves": {model: {str(T): curves(results) for T, results in scans.items()}
                       for model, scans in found.items()},
            "recipes": RECIPES, "replicates": SCALES[scale]["replicates"]}


def reproducibility_card(found: dict) -> dict:
    results = [r for scans in found.values() for results in scans.values() for r in results]
    return {
        "experiment": NAME,
        "version": VERSION,
        "recipes": RECIPES,
        "T": sorted(found["attention"]),
        "replicates": {model: next(iter(scans.values()))[0].metrics["config"]["replicates"]
                       for model, scans in found.items()},
        "m_grid": "10 x sqrt(2)^i, from 10 up until every seed succeeds",
        "cells_trained": len(results),
        "wall_seconds_when_trained": round(sum(r.metrics["wall_seconds"] for r in results), 1),
        "loaded_from_cache": all(r.from_cache for r in results),
        **runtime.environment(threads_per_run=1),
        "full_scale": SCALES["full"],
    }


