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
4. the nulls: classifiers that are not the linear one (decision trees, k-nearest neighbours, and one
   whose errors are independent of L's), matched to the network's accuracy, since any accurate
   classifier agrees with L on most points and so has a high mu of its own;
5. an MLP trained by SGD, measured at log-spaced steps, over several seeds, with and without flipped
   training labels.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from companion.core.cache import Result, cached_training
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import EnsembleMLP
from companion.core.runtime import derived_generator
from companion.core.sweeps import run_cached
from companion.core.training import log_spaced_steps, train

NAME = "increasing-complexity"
VERSION = 3  # 3: the nulls at the network's accuracy, the share of flipped labels fitted
DATASETS = ("sine", "digits")
EXPLAINED_SHARE = 0.8  # early on, mu / I(F;Y) at least this while F is no more accurate than L
# C of the reference logistic regressions. The linear classifier's light penalty matters little (C = 1
# moves the numbers by a few hundredths); the polynomial rungs are fit almost without one, since a
# penalty on their many features would keep them close to linear.
LINEAR_C, POLYNOMIAL_C = 0.1, 1e4
GRID = 80  # the 2-D task's decision boundaries are kept on a GRID x GRID lattice over [-1, 1]^2
NULLS = ("tree", "knn", "independent")
# a tree or k-NN null stands beside an evaluation of the network when their held-out accuracies differ by
# at most this; an evaluation with no such null of a family is left out of that family's comparison
MATCH_TOLERANCE = 0.01
RETAINED = 0.9  # under label noise, mu "kept" when its mean over the last five evaluations is this share of its peak


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
NOISE = 0.2  # the rate of the first seed's noisy run, which the summary (and the capstone) read
NOISE_RATES = (0.1, 0.2)  # the paper's
SEEDS = {"test": 3, "book": 5, "full": 10}  # clean runs per data set; the noisy runs take NOISY_SEEDS of them
NOISY_SEEDS = 3


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


# ----------------------------------------------------------------------------- the nulls

def explained_share(f, y, linear) -> float | None:
    """mu / I(F;Y): the share of what F knows about Y that L accounts for; None when F knows nothing."""
    information = mutual_information(f, y)
    return None if information <= 1e-12 else mu(f, y, linear) / information


def null_family(family: str, train_x, train_y, test_x, test_y, linear, seed: int) -> dict[str, list[float]]:
    """Held-out accuracy and mu / I(F;Y) of one family of classifiers that are not linear, swept from
    weak to strong: decision trees by their number of leaves, k-NN by k (a large k votes over half
    the training set). {"acc": [...], "ratio": [...]}, one entry per member that knows anything."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    if family == "tree":
        members = [DecisionTreeClassifier(max_leaf_nodes=leaves, random_state=seed) for leaves in range(2, 65)]
    elif family == "knn":
        ks = np.unique(np.geomspace(1, len(train_y) - 1, 60).astype(int))
        members = [KNeighborsClassifier(n_neighbors=int(k)) for k in ks]
    else:
        raise ValueError(f"family must be one of tree, knn, got {family!r}")
    curve = {"acc": [], "ratio": []}
    for member in members:
        f = member.fit(train_x, train_y).predict(test_x)
        ratio = explained_share(f, test_y, linear)
        if ratio is not None:
            curve["acc"].append(float((f == test_y).mean()))
            curve["ratio"].append(ratio)
    return curve


def _information_of_table(joint: np.ndarray) -> float:
    """I(A; B) in bits of a joint probability table p(a, b)."""
    return max(0.0, entropy(joint.sum(1)) + entropy(joint.sum(0)) - entropy(joint.ravel()))


def independent_null_ratio(accuracy: float, y, linear) -> float | None:
    """mu / I(N;Y) of a classifier N that is right with probability `accuracy`, independently of the
    label and of whether L is right, on the exact joint law of (N, Y, L) given the held-out (Y, L):
    the level of agreement with L that an accurate classifier reaches by accuracy alone."""
    y, linear = np.asarray(y), np.asarray(linear)
    joint = np.zeros((2, 2, 2))  # p(n, y, l)
    for label in (0, 1):
        for reference in (0, 1):
            p = float(((y == label) & (linear == reference)).mean())
            joint[label, label, reference] += p * accuracy
            joint[1 - label, label, reference] += p * (1 - accuracy)
    information = _information_of_table(joint.sum(2))
    if information <= 1e-12:
        return None
    given = sum(joint[:, :, l].sum() * _information_of_table(joint[:, :, l] / joint[:, :, l].sum())
                for l in (0, 1) if joint[:, :, l].sum() > 0)
    return (information - given) / information


def matched_null_ratios(accuracies: list[float], curves: dict[str, dict], y, linear) -> dict[str, list]:
    """For each evaluation's accuracy, each null's mu / I at that accuracy: the tree and k-NN member
    whose accuracy is nearest (None when none is within MATCH_TOLERANCE), the independent null exactly."""
    matched = {}
    for family, curve in curves.items():
        acc, ratio = np.asarray(curve["acc"]), np.asarray(curve["ratio"])
        row = []
        for a in accuracies:
            nearest = int(np.argmin(np.abs(acc - a))) if acc.size else None
            row.append(None if nearest is None or abs(acc[nearest] - a) > MATCH_TOLERANCE
                       else float(ratio[nearest]))
        matched[family] = row
    matched["independent"] = [independent_null_ratio(a, y, linear) for a in accuracies]
    return matched


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
    with torch.no_grad():
        final_train = (model(train_x)[0, :, 0] > 0).long().cpu().numpy()
    flipped = data["flipped"]
    metrics = {
        **history,
        # the nulls speak to the clean runs' early ratio
        **(_null_measures(config, data, linear, history["acc_F"]) if config.noise == 0 else {}),
        # the share of the flipped training labels the network fits at the end: memorisation, measured
        "flipped_fit": float((final_train[flipped] == data["train_y"][flipped]).mean()) if flipped.any() else None,
        "config": dataclasses.asdict(config),
        "I_LY": mutual_information(linear, test_y),
        "acc_L": float((linear == test_y).mean()),
        "ladder": {str(d): {"I_LY": mutual_information(p, test_y), "acc": float((p == test_y).mean())}
                   for d, p in reference_predictions.items()},
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    return Result(metrics=metrics, arrays=_boundary_arrays(boundary, references, data) if boundary is not None else {})


def _null_measures(config: Config, data: dict, linear: np.ndarray, accuracies: list[float]) -> dict:
    """The nulls beside the network: each family's curve of accuracy and mu / I(F;Y), and each null's ratio
    at the accuracy of every evaluation of the network (`matched_null_ratios`)."""
    test_y = data["test_y"]
    curves = {family: null_family(family, data["train_x"], data["train_y"], data["test_x"], test_y, linear,
                                  config.seed) for family in ("tree", "knn")}
    matched = matched_null_ratios(accuracies, curves, test_y, linear)
    grid = np.linspace(0.55, 0.99, 45)
    curves["independent"] = {"acc": grid.tolist(), "ratio": [independent_null_ratio(a, test_y, linear) for a in grid]}
    return {"null_curves": curves, "null_ratio": matched}


def _boundary_arrays(boundary: torch.Tensor, references: dict, data: dict) -> dict[str, torch.Tensor]:
    """The 2-D task's decision regions over training (evaluations, GRID, GRID), the reference classifiers'
    regions, and the training points, for the explorer."""
    regions = torch.stack([torch.from_numpy(references[d].predict(_grid_points()).astype(np.uint8)).reshape(GRID, GRID)
                           for d in sorted(references)])
    return {"boundary": boundary, "reference_boundaries": regions,
            "train_x": torch.from_numpy(data["train_x"]), "train_y": torch.from_numpy(data["train_y"])}


def run(config: Config, use_cache: bool = True, device: str = "auto") -> Result:
    """Train (or load from the cache) one network and measure it; one CPU thread, the fastest here."""
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device=device)


def run_many(configs: list[Config], n_jobs: int = 2) -> list[Result]:
    return run_cached(run, configs, NAME, VERSION, n_jobs=n_jobs)
