"""Pareto frontiers: wide sparse networks on tabular data, against dense ones and random forests.

Two data sets that ship with scikit-learn, with columns of noise appended so that a learner must find
the useful coordinates; every split trains a sparse and a dense mean-field MLP side by side and a random
forest tuned by its out-of-bag error.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from companion.core.cache import Result, cached
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import EnsembleMLP
from companion.core.runtime import derived_generator, torch_threads

from .experiment import NAME, VERSION, WEIGHT_DECAY, hinge_sgd_step, join_models

DATASETS = ("breast-cancer", "digits")
TABULAR = {
    "test": dict(datasets=("breast-cancer",), ms=(60,), splits=4, width=100, steps=400, noise_features=20),
    "book": dict(datasets=DATASETS, ms=(50, 150, 400), splits=10, width=300, steps=1000, noise_features=30),
    "full": dict(datasets=DATASETS, ms=(50, 100, 200, 400), splits=20, width=2000, steps=4000,
                 noise_features=100),
}
RF_GRID = ({"max_features": "sqrt", "min_samples_leaf": 1}, {"max_features": "sqrt", "min_samples_leaf": 3},
           {"max_features": 0.3, "min_samples_leaf": 1}, {"max_features": 0.3, "min_samples_leaf": 3})


@dataclass(frozen=True)
class TabularConfig:
    """Wide MLPs against a tuned random forest on one scikit-learn data set at one training size.

    Labels are binary (breast cancer: malignant or not; digits: below 5 or not); ``noise_features``
    standard-normal columns that carry no signal are appended, so a learner must find the useful
    coordinates. Each split draws m training rows; the rest is the test set.
    """

    dataset: str = "breast-cancer"
    m: int = 150
    noise_features: int = 30
    splits: int = 10
    width: int = 500
    sparsity: int = 4
    steps: int = 1500
    lr: float = 0.1
    seed: int = 0

    def __post_init__(self):
        check_choice("dataset", self.dataset, DATASETS)
        check_int("m", self.m, 10, 1500)
        check_int("noise_features", self.noise_features, 0, 10_000)
        check_int("splits", self.splits, 2, 100)
        check_int("width", self.width, 1, 100_000)
        check_int("sparsity", self.sparsity, 1)
        check_int("steps", self.steps, 1, 10**6)
        check_float("lr", self.lr, 0, 100, low_inclusive=False)
        check_seed("seed", self.seed)


def load_tabular(name: str, noise_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, d + noise) and ±1 labels of a data set that ships with scikit-learn."""
    # scikit-learn is imported here, not at the top: only the runs that use it pay its second of loading
    from sklearn import datasets

    if name == "breast-cancer":
        x, y = datasets.load_breast_cancer(return_X_y=True)
        labels = np.where(y == 0, 1.0, -1.0)  # malignant
    else:
        x, y = datasets.load_digits(return_X_y=True)
        labels = np.where(y < 5, 1.0, -1.0)
    noise = np.random.default_rng(seed).standard_normal((len(x), noise_features))
    return np.hstack([x, noise]).astype(np.float32), labels.astype(np.float32)


def _tabular_splits(config: TabularConfig):
    x, y = load_tabular(config.dataset, config.noise_features, config.seed)
    for split in range(config.splits):
        order = np.random.default_rng([config.seed, split]).permutation(len(x))
        train, test = order[:config.m], order[config.m:]
        mean, std = x[train].mean(0), x[train].std(0) + 1e-6  # scaled with training statistics only
        yield (x[train] - mean) / std, y[train], (x[test] - mean) / std, y[test]


def _mlp_errors(config: TabularConfig, splits: list) -> dict[str, list[float]]:
    """Test error per split of a wide mean-field MLP, sparsely and densely initialised: both kinds
    and all splits train at once as replicates, each pair from the same random stream, so that it
    differs only in the initial sparsity."""
    d = splits[0][0].shape[1]
    models = [EnsembleMLP(len(splits), d, config.width, init="uniform",
                          generators=[derived_generator(config.seed, split, 4) for split in range(len(splits))],
                          sparsity=min(config.sparsity, d) if sparse else None, parametrization="mean-field")
              for sparse in (True, False)]
    model = join_models(models, "mean-field")
    train_x = torch.stack([torch.from_numpy(s[0]) for s in splits] * 2)
    train_y = torch.stack([torch.from_numpy(s[1]) for s in splits] * 2)
    batches = derived_generator(config.seed, 5)
    for _ in range(config.steps):
        index = torch.randint(0, config.m, (len(splits), 32), generator=batches).repeat(2, 1)
        x = torch.gather(train_x, 1, index[..., None].expand(-1, -1, d))
        hinge_sgd_step(model, x, torch.gather(train_y, 1, index), config.lr * config.width,
                       WEIGHT_DECAY / config.width)
    test_x = torch.stack([torch.from_numpy(s[2]) for s in splits] * 2)  # every split tests on N - m rows
    test_y = torch.stack([torch.from_numpy(s[3]) for s in splits] * 2)
    with torch.no_grad():
        errors = (model(test_x)[..., 0].sign() != test_y).float().mean(-1).tolist()
    return {"mlp_sparse": errors[:len(splits)], "mlp_dense": errors[len(splits):]}


def _rf_errors(config: TabularConfig, splits: list) -> list[float]:
    """Test error of a random forest per split, its hyperparameters chosen among RF_GRID by
    out-of-bag error on the split's training rows (the test rows are never seen)."""
    # scikit-learn is imported here, not at the top: only the runs that use it pay its second of loading
    from sklearn.ensemble import RandomForestClassifier

    errors = []
    for split, (train_x, train_y, test_x, test_y) in enumerate(splits):
        forests = [RandomForestClassifier(n_estimators=100, oob_score=True, random_state=split, **settings)
                   .fit(train_x, train_y) for settings in RF_GRID]
        best = max(forests, key=lambda forest: forest.oob_score_)
        errors.append(float((best.predict(test_x) != test_y).mean()))
    return errors


def tabular_run(config: TabularConfig) -> Result:
    def compute():
        started = time.perf_counter()
        with torch_threads(1):
            splits = list(_tabular_splits(config))
            errors = {**_mlp_errors(config, splits), "rf": _rf_errors(config, splits)}
        return Result(metrics={"config": dataclasses.asdict(config), "errors": errors,
                               "wall_seconds": round(time.perf_counter() - started, 2)})
    return cached(f"{NAME}-tabular", VERSION, config, compute)


def tabular_configs(scale: str | None = None, seed: int = 0) -> list[TabularConfig]:
    plan = TABULAR[resolve_scale(scale)]
    return [TabularConfig(dataset=name, m=m, noise_features=plan["noise_features"], splits=plan["splits"],
                          width=plan["width"], steps=plan["steps"], seed=seed)
            for name in plan["datasets"] for m in plan["ms"]]
