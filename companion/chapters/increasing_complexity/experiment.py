"""SGD learns functions of increasing complexity.

After Nakkiran, Kaplun, Kalimeris, Yang, Edelman, Zhang and Barak (2019). Early in training a
network's predictions carry almost no information about the label that a linear classifier does not
already carry; later the network goes beyond the linear classifier but keeps what it explained. The
measure is mu_Y(F; L) = I(F; Y) - I(F; Y | L): how much of the information the network's predictions
F have about the label Y is accounted for by the linear classifier's predictions L. The story, in the
order of this module:

1. data: the two-dimensional task of the paper's first figure (points in the unit disc, a sinusoidal
   class boundary, optional label noise) and scikit-learn's digits as a binary task;
2. the reference classifiers: logistic regression trained to convergence, and a ladder of
   logistic regressions on polynomial features of rising degree;
3. the plug-in estimates of I(F; Y), I(F; Y | L) and mu from counts on held-out data;
4. an MLP trained by SGD, measured at log-spaced steps.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from companion.core import runtime
from companion.core.cache import Result, cached_training
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import EnsembleMLP
from companion.core.runtime import derived_generator
from companion.core.sweeps import run_cached
from companion.core.training import log_spaced_steps, train

NAME = "increasing-complexity"
VERSION = 2
DATASETS = ("sine", "digits")
EXPLAINED_SHARE = 0.8  # early on, mu / I(F;Y) at least this while F is no more accurate than L
# C of the reference logistic regressions. The linear classifier's light penalty matters little (C = 1
# moves the numbers by a few hundredths); the polynomial rungs are fit almost without one, since a
# penalty on their many features would keep them close to linear.
LINEAR_C, POLYNOMIAL_C = 0.1, 1e4
GRID = 80  # the 2-D task's decision boundaries are kept on a GRID x GRID lattice over [-1, 1]^2


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """One network trained by SGD on one data set, with a share ``noise`` of training labels flipped."""

    dataset: str = "sine"
    noise: float = 0.0
    train_size: int = 500
    test_size: int = 4000  # the 2-D task only; digits keeps what is left after training rows
    width: int = 1024
    lr: float = 0.02
    momentum: float = 0.9
    batch_size: int = 32
    steps: int = 6000
    n_evals: int = 60
    ladder: tuple[int, ...] = (1, 3, 5)  # polynomial degrees of the reference classifiers (2-D task)
    seed: int = 0

    def __post_init__(self):
        check_choice("dataset", self.dataset, DATASETS)
        check_float("noise", self.noise, 0, 0.45)
        check_int("train_size", self.train_size, 20, 100_000)
        check_int("test_size", self.test_size, 20, 1_000_000)
        if self.dataset == "digits" and self.train_size > 1500:
            raise ValueError(f"train_size must be at most 1500 for digits (1797 rows in all), got {self.train_size}")
        check_int("width", self.width, 1, 100_000)
        check_float("lr", self.lr, 0, 10, low_inclusive=False)
        check_float("momentum", self.momentum, 0, 0.999)
        check_int("batch_size", self.batch_size, 1, 100_000)
        check_int("steps", self.steps, 1, 10**7)
        check_int("n_evals", self.n_evals, 2, 10_000)
        if not isinstance(self.ladder, tuple) or not self.ladder or self.ladder[0] != 1:
            raise ValueError(f"ladder must be a tuple of polynomial degrees starting with 1 (the linear "
                             f"classifier L), got {self.ladder!r}")
        for degree in self.ladder:
            check_int("ladder degree", degree, 1, 20)
        if list(self.ladder) != sorted(set(self.ladder)):
            raise ValueError(f"ladder must list distinct degrees in increasing order, got {self.ladder!r}")
        check_seed("seed", self.seed)


SCALES = {  # steps and evaluations for each data set
    "test": {"sine": dict(steps=6000, n_evals=40), "digits": dict(steps=2000, n_evals=40)},
    "book": {"sine": dict(steps=20000, n_evals=60), "digits": dict(steps=6000, n_evals=60)},
    "full": {"sine": dict(steps=100000, n_evals=100), "digits": dict(steps=30000, n_evals=100)},
}
DIGITS = dict(dataset="digits", train_size=1000, width=512, ladder=(1,))
NOISE = 0.2


def config_for(scale: str | None = None, dataset: str = "sine", noise: float = 0.0, seed: int = 0,
               **overrides) -> Config:
    base = {**SCALES[resolve_scale(scale)][dataset], **(DIGITS if dataset == "digits" else {})}
    return Config(**{**base, "dataset": dataset, "noise": noise, "seed": seed, **overrides})


# ----------------------------------------------------------------------------- data

def sine_labels(x: np.ndarray) -> np.ndarray:
    """The 2-D task's clean labels: 1 above the curve x2 = 0.5 sin(2 pi x1), else 0.

    A straight line, a cubic and a quintic boundary get more and more of the disc right (the chapter
    prints the measured accuracies): a ladder of three rungs.
    """
    return (x[:, 1] > boundary_curve(x[:, 0])).astype(np.int64)


def boundary_curve(x1: np.ndarray) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * x1)


def sample_disc(size: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform points in the unit disc."""
    radius, angle = np.sqrt(rng.uniform(size=size)), rng.uniform(0, 2 * np.pi, size=size)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1).astype(np.float32)


def make_data(config: Config) -> dict[str, np.ndarray]:
    """Training rows (labels with a share `noise` flipped) and held-out rows with clean labels."""
    rng = np.random.default_rng([config.seed, 7])
    if config.dataset == "sine":
        train_x, test_x = sample_disc(config.train_size, rng), sample_disc(config.test_size, rng)
        train_y, test_y = sine_labels(train_x), sine_labels(test_x)
    else:
        # scikit-learn is imported here, not at the top: only the runs that use it pay its second of loading
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        order = rng.permutation(len(x))
        train, test = order[:config.train_size], order[config.train_size:]
        mean, std = x[train].mean(0), x[train].std(0) + 1e-6
        x = ((x - mean) / std).astype(np.float32)
        labels = (y >= 5).astype(np.int64)
        train_x, train_y, test_x, test_y = x[train], labels[train], x[test], labels[test]
    flipped = rng.uniform(size=len(train_y)) < config.noise
    return {"train_x": train_x, "train_y": np.where(flipped, 1 - train_y, train_y), "test_x": test_x,
            "test_y": test_y, "flipped": flipped}


# ----------------------------------------------------------------------------- information

def entropy(counts: np.ndarray) -> float:
    """Entropy in bits of the distribution proportional to `counts`."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def mutual_information(a, b) -> float:
    """Plug-in I(A; B) in bits from paired samples of two discrete variables (counts on the samples)."""
    a, b = np.asarray(a), np.asarray(b)
    _, a_index = np.unique(a, return_inverse=True)
    _, b_index = np.unique(b, return_inverse=True)
    joint = np.zeros((a_index.max() + 1, b_index.max() + 1))
    np.add.at(joint, (a_index, b_index), 1)
    return max(0.0, entropy(joint.sum(1)) + entropy(joint.sum(0)) - entropy(joint.ravel()))


def conditional_mutual_information(a, b, given) -> float:
    """I(A; B | C) = sum over c of p(c) I(A; B | C = c)."""
    a, b, given = np.asarray(a), np.asarray(b), np.asarray(given)
    return float(sum((given == c).mean() * mutual_information(a[given == c], b[given == c])
                     for c in np.unique(given)))


def mu(f, y, linear) -> float:
    """mu_Y(F; L) = I(F; Y) - I(F; Y | L): the part of F's information about Y that L accounts for."""
    return mutual_information(f, y) - conditional_mutual_information(f, y, linear)


# ----------------------------------------------------------------------------- reference classifiers

def reference_classifier(degree: int, train_x: np.ndarray, train_y: np.ndarray):
    """Logistic regression on standardised polynomial features of the given degree, trained to
    convergence (L2 penalty C = LINEAR_C for degree 1, POLYNOMIAL_C above)."""
    # scikit-learn is imported here, not at the top: only the runs that use it pay its second of loading
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    steps = [PolynomialFeatures(degree, include_bias=False)] if degree > 1 else []
    model = make_pipeline(*steps, StandardScaler(), LogisticRegression(C=LINEAR_C if degree == 1 else POLYNOMIAL_C,
                                                                        max_iter=20_000))
    return model.fit(train_x, train_y)


# ----------------------------------------------------------------------------- training and measurement

def _grid_points() -> np.ndarray:
    axis = np.linspace(-1, 1, GRID, dtype=np.float32)
    return np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)  # row-major: x2 varies slowest


def _compute(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    data = make_data(config)
    references = {degree: reference_classifier(degree, data["train_x"], data["train_y"])
                  for degree in (config.ladder if config.dataset == "sine" else (1,))}
    test_y = data["test_y"]
    reference_predictions = {d: model.predict(data["test_x"]) for d, model in references.items()}
    linear = reference_predictions[1]

    generator = derived_generator(config.seed, 0)
    model = EnsembleMLP(1, data["train_x"].shape[1], config.width, generators=[generator]).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    train_x = torch.from_numpy(data["train_x"])[None].to(device)
    train_y = torch.from_numpy(data["train_y"]).float()[None].to(device)
    test_x = torch.from_numpy(data["test_x"])[None].to(device)
    grid = torch.from_numpy(_grid_points())[None].to(device) if config.dataset == "sine" else None
    batches = derived_generator(config.seed, 1)

    def batch(step: int):
        index = torch.randint(0, config.train_size, (1, config.batch_size), generator=batches).to(device)
        return train_x[:, index[0]], train_y[:, index[0]]

    def loss(model, x, y):
        return torch.nn.functional.binary_cross_entropy_with_logits(model(x)[..., 0], y)

    def evaluate(step: int) -> dict:
        f = (model(test_x)[0, :, 0] > 0).long().cpu().numpy()
        measured = {"acc_F": float((f == test_y).mean()), "I_FY": mutual_information(f, test_y),
                    "I_FY_given_L": conditional_mutual_information(f, test_y, linear),
                    "train_acc": float(((model(train_x)[0, :, 0] > 0).float() == train_y[0]).float().mean())}
        measured["mu"] = measured["I_FY"] - measured["I_FY_given_L"]
        for degree, predictions in reference_predictions.items():
            measured[f"mu_degree_{degree}"] = mu(f, test_y, predictions)
        if grid is not None:
            measured["boundary"] = (model(grid)[0, :, 0] > 0).to(torch.uint8).reshape(GRID, GRID).cpu()
        return measured

    history = train(model, batch, loss, steps=config.steps, optimizer=optimizer, evaluate=evaluate,
                    eval_steps=log_spaced_steps(config.steps, config.n_evals), description=f"{NAME} {config.dataset}")
    boundary = history.pop("boundary", None)
    metrics = {
        **history,
        "config": dataclasses.asdict(config),
        "I_LY": mutual_information(linear, test_y),
        "acc_L": float((linear == test_y).mean()),
        "ladder": {str(d): {"I_LY": mutual_information(p, test_y), "acc": float((p == test_y).mean())}
                   for d, p in reference_predictions.items()},
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    arrays = {}
    if boundary is not None:
        arrays["boundary"] = boundary  # (evaluations, GRID, GRID)
        arrays["reference_boundaries"] = torch.stack([
            torch.from_numpy(references[d].predict(_grid_points()).astype(np.uint8)).reshape(GRID, GRID)
            for d in sorted(references)])
        arrays["train_x"], arrays["train_y"] = torch.from_numpy(data["train_x"]), torch.from_numpy(data["train_y"])
    return Result(metrics=metrics, arrays=arrays)


def run(config: Config, use_cache: bool = True, device: str = "auto") -> Result:
    """Train (or load from the cache) one network and measure it; one CPU thread, the fastest here."""
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device=device)


def run_many(configs: list[Config], n_jobs: int = 2) -> list[Result]:
    return run_cached(run, configs, NAME, VERSION, n_jobs=n_jobs)


# ----------------------------------------------------------------------------- the claims, measured

def explained_early(metrics: dict, floor: float = 0.1) -> dict:
    """mu / I(F;Y) at every evaluation where F is no more accurate than L.

    Evaluations where I(F;Y) is below `floor` x I(L;Y) are left out: there F knows almost nothing,
    and a ratio of two numbers near zero says nothing.
    """
    ratios = [m / i for m, i, a in zip(metrics["mu"], metrics["I_FY"], metrics["acc_F"])
              if a <= metrics["acc_L"] and i >= floor * metrics["I_LY"]]
    return {"ratios": ratios, "min_ratio": min(ratios, default=None), "evaluations": len(ratios),
            "holds": bool(ratios) and min(ratios) >= EXPLAINED_SHARE}


def summary(clean: Result, noisy: Result) -> dict:
    c, n = clean.metrics, noisy.metrics
    peak = int(np.argmax(n["mu"]))
    return {
        "I_LY": c["I_LY"],
        "acc_L": c["acc_L"],
        "final_acc_F": c["acc_F"][-1],
        "final_mu": c["mu"][-1],
        "final_mu_share_of_I_LY": c["mu"][-1] / c["I_LY"],
        "early_min_ratio": explained_early(c)["min_ratio"],
        "noisy_peak_mu": n["mu"][peak],
        "noisy_peak_step": n["step"][peak],
        "noisy_final_mu": n["mu"][-1],
        "noisy_final_train_acc": n["train_acc"][-1],
        "noisy_final_acc_F": n["acc_F"][-1],
    }


def passing_steps(result: Result, share: float = 0.9) -> dict[int, int | None]:
    """For each ladder degree d, the first evaluated step from which mu(F; L_d) stays at least
    `share` x I(L_d; Y): when SGD has caught up with that classifier for good."""
    m = result.metrics
    found = {}
    for degree, reference in m["ladder"].items():
        curve = m[f"mu_degree_{degree}"]
        target = share * reference["I_LY"]
        found[int(degree)] = next((m["step"][i] for i in range(len(curve)) if all(v >= target for v in curve[i:])),
                                  None)
    return found


# ----------------------------------------------------------------------------- the chapter's experiments

def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict[str, dict[str, Result]]:
    scale = resolve_scale(scale)
    configs = {(dataset, noisy): config_for(scale, dataset, NOISE if noisy else 0.0, seed)
               for dataset in DATASETS for noisy in (False, True)}
    results = dict(zip(configs, run_many(list(configs.values()), n_jobs=n_jobs)))
    return {dataset: {"clean": results[(dataset, False)], "noisy": results[(dataset, True)]} for dataset in DATASETS}


KEYS = ("step", "I_FY", "mu", "I_FY_given_L", "acc_F")


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce increasing-complexity` writes to increasing-complexity.json."""
    scale = resolve_scale(scale)
    found = experiments(scale, seed)
    report = {"topic": NAME, "scale": scale, "seed": seed, "noise": NOISE}
    for dataset, runs in found.items():
        entry = {}
        for kind, result in runs.items():
            m = result.metrics
            block = {("steps" if key == "step" else key): m[key] for key in KEYS}
            block.update({"I_LY": m["I_LY"], "acc_L": m["acc_L"], "train_acc": m["train_acc"],
                          "config": m["config"]})
            entry["clean" if kind == "clean" else "label_noise"] = block
        entry["summary"] = summary(runs["clean"], runs["noisy"])
        entry["explained_early"] = explained_early(runs["clean"].metrics)
        if dataset == "sine":
            entry["ladder"] = runs["clean"].metrics["ladder"]
            entry["ladder_passing_steps"] = passing_steps(runs["clean"])
        report[dataset] = entry
    return report


def reproducibility_card(result: Result) -> dict:
    changes = {dataset: {key: (SCALES["book"][dataset][key], value) for key, value in steps.items()}
               for dataset, steps in SCALES["full"].items()}
    return runtime.reproducibility_card(NAME, VERSION, result, full_scale_changes=changes)


