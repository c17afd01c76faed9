"""Pareto frontiers in feature learning: data, compute, width and luck on offline sparse parity.

After Edelman, Goel, Kakade, Malach and Zhang (2023). With a fixed training set of m samples a
network can memorise instead of finding the k relevant bits; whether it finds them first depends on
the data (m), the width (how many neurons search in parallel), the initialisation (sparse neurons
start inside small subsets of the input, where the search is easier) and luck (the seed). The story,
in the order of this module:

1. the experiment: one batch of seeds for each (m, width, initialisation), trained until every seed
   has either solved the task (test error at most 10%) or memorised its training set for good;
2. the grid of success rates, with binomial confidence intervals, and steps to success;
3. the lottery ticket: the few neurons that mattered, rewound to their initial weights and retrained
   alone, against random networks of the same size;
4. tabular data: wide, sparsely initialised networks against tuned random forests.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from companion.core import parity
from companion.core.cache import Result, cached, cached_training
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import PARAMETRIZATIONS, EnsembleMLP
from companion.core.runtime import derived_generator, environment, pick_device, torch_threads
from companion.core.sweeps import run_cached, sweep
from companion.core.training import train

NAME = "pareto-frontiers"
VERSION = 1
INITIALISATIONS = ("dense", "sparse")
SUCCESS_ERROR = 0.10  # success: test error at most this
MEMORISED_LOSS = 1e-4  # training hinge loss below this: every margin >= 1, no gradient is left


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """One cell of the grid: `replicates` seeds of one (m, width, initialisation), trained side by side.

    The network is a two-layer ReLU MLP in the mean-field parametrisation (output averaged over the
    neurons, learning rate scaled by the width), trained by SGD on the hinge loss with batches drawn
    from the m training samples. ``sparsity`` is s, the number of non-zero input weights each neuron
    starts with under the sparse initialisation.
    """

    n: int = 30
    k: int = 3
    m: int = 1000
    width: int = 100
    init: str = "dense"
    sparsity: int = 3
    lr: float = 0.1  # per neuron; the optimiser's rate is lr * width in the mean-field parametrisation
    parametrization: str = "mean-field"
    weight_decay: float = 0.0
    batch_size: int = 32
    max_steps: int = 8000  # T
    eval_every: int = 100
    test_size: int = 1000
    replicates: int = 16
    seed: int = 0

    def __post_init__(self):
        parity.check_parity(self.n, self.k)
        check_int("m", self.m, 1, 10**6)
        check_int("width", self.width, 1, 100_000)
        check_choice("init", self.init, INITIALISATIONS)
        check_int("sparsity", self.sparsity, 1, self.n)
        check_float("lr", self.lr, 0, 100, low_inclusive=False)
        check_choice("parametrization", self.parametrization, PARAMETRIZATIONS)
        check_float("weight_decay", self.weight_decay, 0, 1)
        check_int("batch_size", self.batch_size, 1, 65_536)
        check_int("max_steps", self.max_steps, 1, 10**7)
        check_int("eval_every", self.eval_every, 1, self.max_steps)
        check_int("test_size", self.test_size, 16, 10**6)
        check_int("replicates", self.replicates, 1, 1024)
        check_seed("seed", self.seed)

    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.replicates)]


SCALES = {
    "test": dict(n=30, k=3, ms=(700, 1000, 2000), widths=(10, 100), replicates=12, max_steps=4000),
    "book": dict(n=30, k=3, ms=(700, 1000, 1400, 2000), widths=(10, 100, 1000), replicates=12,
                 max_steps=8000),
    "full": dict(n=30, k=3, ms=(300, 500, 700, 850, 1000, 1200, 1400, 2000, 3000),
                 widths=(10, 30, 100, 300, 1000, 3000), replicates=64, max_steps=20000),
}


def grid_configs(scale: str | None = None, seed: int = 0) -> list[Config]:
    plan = SCALES[resolve_scale(scale)]
    return [Config(n=plan["n"], k=plan["k"], m=m, width=width, init=init, replicates=plan["replicates"],
                   max_steps=plan["max_steps"], seed=seed)
            for init in INITIALISATIONS for m in plan["ms"] for width in plan["widths"]]


# ----------------------------------------------------------------------------- data and model

def make_data(config: Config) -> dict[str, torch.Tensor]:
    """Per replicate: a support, m training samples and a held-out test set, from the replicate's seed."""
    supports, train_x, train_y, test_x, test_y = [], [], [], [], []
    for seed in config.seeds():
        generator = derived_generator(seed, 0)
        support = parity.random_support(config.n, config.k, generator)
        x, y = parity.sample(config.n, support, config.m, generator)
        tx, ty = parity.sample(config.n, support, config.test_size, derived_generator(seed, 1))
        for bucket, value in zip((supports, train_x, train_y, test_x, test_y), (support, x, y, tx, ty)):
            bucket.append(value)
    stacked = (torch.stack(b) for b in (supports, train_x, train_y, test_x, test_y))
    return dict(zip(("supports", "train_x", "train_y", "test_x", "test_y"), stacked))


def build_model(config: Config, width: int | None = None) -> EnsembleMLP:
    return EnsembleMLP(config.replicates, config.n, width or config.width, init="uniform",
                       sparsity=config.sparsity if config.init == "sparse" else None,
                       generators=[derived_generator(seed, 2) for seed in config.seeds()],
                       parametrization=config.parametrization)


def fit(model: EnsembleMLP, config: Config, data: dict, description: str = NAME) -> dict:
    """SGD from the model's current weights until every replicate has succeeded or memorised.

    Returns the history (test error and training loss per replicate at every evaluation) and each
    replicate's steps to success (None: it memorised first, or ran out of steps).
    """
    batches = derived_generator(config.seed, 3)
    rate = config.lr * (model.hidden.shape[1] if config.parametrization == "mean-field" else 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=rate, weight_decay=config.weight_decay * config.lr / rate)
    R = config.replicates
    success: list[int | None] = [None] * R
    finished = torch.zeros(R, dtype=torch.bool)

    def batch(step: int):
        index = torch.randint(0, config.m, (R, config.batch_size), generator=batches)
        x = torch.gather(data["train_x"], 1, index[..., None].expand(-1, -1, config.n))
        return x, torch.gather(data["train_y"], 1, index)

    def loss(model, x, y):
        return parity.margin_loss("hinge", model(x)[..., 0], y).sum()  # replicates do not interact

    def evaluate(step: int) -> dict:
        error = (model(data["test_x"])[..., 0].sign() != data["test_y"]).float().mean(-1)
        train_loss = parity.margin_loss("hinge", model(data["train_x"])[..., 0], data["train_y"])
        for i in range(R):
            if success[i] is None and error[i] <= SUCCESS_ERROR:
                success[i] = step
        memorised = (train_loss < MEMORISED_LOSS) & (config.weight_decay == 0)  # no gradient is left
        finished.copy_((error <= SUCCESS_ERROR) | memorised | finished)
        return {"test_error": error, "train_loss": train_loss}

    history = train(model, batch, loss, steps=config.max_steps, optimizer=optimizer, evaluate=evaluate,
                    eval_steps=list(range(0, config.max_steps + 1, config.eval_every)),
                    description=description, stop=lambda measured: bool(finished.all()))
    return {"steps": history["step"], "test_error": history["test_error"].T.contiguous(),
            "train_loss": history["train_loss"].T.contiguous(), "success_steps": success}


def _compute(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    data = {key: value.to(device) for key, value in make_data(config).items()}
    model = build_model(config).to(device)
    initial = {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}
    found = fit(model, config, data, f"{NAME} m={config.m} width={config.width} {config.init}")
    metrics = {
        "config": dataclasses.asdict(config),
        "seeds": config.seeds(),
        "steps": found["steps"],
        "success_steps": found["success_steps"],
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    arrays = {"test_error": found["test_error"].cpu(), "train_loss": found["train_loss"].cpu()}
    arrays.update({f"initial.{name}": value for name, value in initial.items()})
    arrays.update({f"final.{name}": value.detach().cpu() for name, value in model.state_dict().items()})
    return Result(metrics=metrics, arrays=arrays)


def run(config: Config, use_cache: bool = True, device: str = "auto") -> Result:
    """Train (or load from the cache) one cell's replicates; one CPU thread, the fastest here."""
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device=device)


def run_many(configs: list, n_jobs: int = 2) -> list[Result]:
    return run_cached(run, configs, NAME, VERSION, n_jobs=n_jobs)


# ----------------------------------------------------------------------------- the grid

def wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    """95% Wilson score interval for a binomial success rate (scipy's)."""
    # scipy is imported here, not at the top: only the runs that use it pay its second of loading
    from scipy.stats import binomtest

    interval = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def grid_table(results: list[Result]) -> list[dict]:
    rows = []
    for result in results:
        config, success = result.metrics["config"], result.metrics["success_steps"]
        wins = [s for s in success if s is not None]
        low, high = wilson_interval(len(wins), len(success))
        final_train_loss = result.arrays["train_loss"][:, -1]
        memorised = sum(1 for s, loss in zip(success, final_train_loss.tolist()) if s is None and loss < MEMORISED_LOSS)
        rows.append({"m": config["m"], "width": config["width"], "init": config["init"],
                     "success_rate": len(wins) / len(success), "seeds": len(success),
                     "ci_low": low, "ci_high": high,
                     "median_steps": round(statistics.median(wins)) if wins else None,
                     "memorised_rate": memorised / len(success)})
    return rows


def grid_checks(rows: list[dict]) -> dict:
    """The chapter's claims about the grid, each as a list of the cells that break it (empty: holds).

    - width: at fixed m and initialisation, a wider net's interval reaches at least the narrower one's
      rate (success does not fall with width beyond the binomial interval);
    - sparse >= dense: at every (m, width), sparse's interval reaches at least dense's rate;
    - separation: the (m, width) cells where sparse succeeds at least half the time and dense at most
      a quarter.
    """
    cell = {(r["m"], r["width"], r["init"]): r for r in rows}
    ms, widths = sorted({r["m"] for r in rows}), sorted({r["width"] for r in rows})
    width_breaks = [
        {"m": m, "init": init, "narrow": a, "wide": b}
        for init in INITIALISATIONS for m in ms for a, b in zip(widths, widths[1:])
        if cell[(m, b, init)]["ci_high"] < cell[(m, a, init)]["success_rate"]
    ]
    sparse_breaks = [{"m": m, "width": w} for m in ms for w in widths
                     if cell[(m, w, "sparse")]["ci_high"] < cell[(m, w, "dense")]["success_rate"]]
    separated = [{"m": m, "width": w, "sparse": cell[(m, w, "sparse")]["success_rate"],
                  "dense": cell[(m, w, "dense")]["success_rate"]} for m in ms for w in widths
                 if cell[(m, w, "sparse")]["success_rate"] >= 0.5 and cell[(m, w, "dense")]["success_rate"] <= 0.25]
    return {"width_breaks": width_breaks, "sparse_below_dense": sparse_breaks, "separated_cells": separated}


def frontier(rows: list[dict], init: str, width: int, level: float = 0.5) -> int | None:
    """The smallest m at which this (init, width) succeeds at least `level` of the time."""
    found = [r["m"] for r in rows if r["init"] == init and r["width"] == width and r["success_rate"] >= level]
    return min(found, default=None)


# ----------------------------------------------------------------------------- the lottery ticket

LOTTERY = {  # the source network is the grid's sparse cell at this (m, width)
    "test": dict(m=1000, source_width=100, ticket_width=10),
    "book": dict(m=1000, source_width=1000, ticket_width=20),
    "full": dict(m=1000, source_width=3000, ticket_width=20),
}


@dataclass(frozen=True)
class LotteryConfig:
    source: Config
    ticket_width: int = 20

    def __post_init__(self):
        check_int("ticket_width", self.ticket_width, 1, self.source.width)


def ticket_neurons(result: Result, ticket_width: int) -> torch.Tensor:
    """(R, ticket_width) indices of each replicate's neurons with the largest trained contribution
    |a_i| * ||(w_i, b_i)||: the neurons the trained network relies on."""
    hidden = result.arrays["final.hidden"]
    bias = result.arrays["final.hidden_bias"]
    readout = result.arrays["final.readout"][:, 0]  # (R, width)
    strength = readout.abs() * torch.cat([hidden, bias[..., None]], -1).norm(dim=-1)
    return strength.topk(ticket_width, dim=1).indices


def rewind(model: EnsembleMLP, trained: Result, chosen: torch.Tensor) -> None:
    """Load the chosen neurons' initial weights (before any training) into a small model."""
    rows = torch.arange(chosen.shape[0])[:, None]
    with torch.no_grad():
        model.hidden.copy_(trained.arrays["initial.hidden"][rows, chosen])
        model.hidden_bias.copy_(trained.arrays["initial.hidden_bias"][rows, chosen])
        model.readout.copy_(trained.arrays["initial.readout"][:, 0][rows, chosen][:, None])


def _compute_lottery(lottery: LotteryConfig, device: torch.device) -> Result:
    source = lottery.source
    trained = run(source)
    chosen = ticket_neurons(trained, lottery.ticket_width)
    small = dataclasses.replace(source, width=lottery.ticket_width)
    data = {key: value.to(device) for key, value in make_data(small).items()}
    outcomes = {}
    for kind in ("pruned", "random"):
        model = build_model(small).to(device)  # a fresh random network of the ticket's size
        if kind == "pruned":
            rewind(model, trained, chosen)
        found = fit(model, small, data, f"{NAME} lottery {kind}")
        outcomes[kind] = found["success_steps"]
    rates = {f"{kind}_success": sum(s is not None for s in steps) / len(steps) for kind, steps in outcomes.items()}
    return Result(metrics={"source": dataclasses.asdict(source), "ticket_width": lottery.ticket_width,
                           "source_success": sum(s is not None for s in trained.metrics["success_steps"])
                           / source.replicates,
                           "success_steps": outcomes, **rates})


def lottery_experiment(scale: str | None = None, seed: int = 0) -> Result:
    """Rewound tickets against random networks of the same width, on the same data (cached)."""
    scale = resolve_scale(scale)
    plan, sizes = SCALES[scale], LOTTERY[scale]
    source = Config(n=plan["n"], k=plan["k"], m=sizes["m"], width=sizes["source_width"], init="sparse",
                    replicates=plan["replicates"], max_steps=plan["max_steps"], seed=seed)
    lottery = LotteryConfig(source=source, ticket_width=sizes["ticket_width"])

    def compute():
        with torch_threads(1):
            return _compute_lottery(lottery, pick_device("auto"))
    return cached(f"{NAME}-lottery", VERSION, lottery, compute)


# ----------------------------------------------------------------------------- tabular data

DATASETS = ("breast-cancer", "digits")
TABULAR = {
    "test": dict(datasets=("breast-cancer",), ms=(60,), splits=2, width=100, steps=400, noise_features=20),
    "book": dict(datasets=DATASETS, ms=(50, 150, 400), splits=3, width=300, steps=1000, noise_features=30),
    "full": dict(datasets=DATASETS, ms=(50, 100, 200, 400), splits=10, width=2000, steps=4000,
                 noise_features=100),
}
RF_GRID = {"max_features": ["sqrt", 0.3], "min_samples_leaf": [1, 3]}


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
    splits: int = 3
    width: int = 500
    sparsity: int = 4
    steps: int = 1500
    lr: float = 0.1
    seed: int = 0

    def __post_init__(self):
        check_choice("dataset", self.dataset, DATASETS)
        check_int("m", self.m, 10, 1500)
        check_int("noise_features", self.noise_features, 0, 10_000)
        check_int("splits", self.splits, 1, 100)
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


def _mlp_errors(config: TabularConfig, splits: list, sparse: bool) -> list[float]:
    """Test error of a wide mean-field MLP per split, all splits trained at once as replicates."""
    d = splits[0][0].shape[1]
    generators = [derived_generator(config.seed, split, 4) for split in range(len(splits))]
    model = EnsembleMLP(len(splits), d, config.width, init="uniform", generators=generators,
                        sparsity=min(config.sparsity, d) if sparse else None, parametrization="mean-field")
    train_x = torch.stack([torch.from_numpy(s[0]) for s in splits])
    train_y = torch.stack([torch.from_numpy(s[1]) for s in splits])
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr * config.width)
    batches = derived_generator(config.seed, 5)
    for _ in range(config.steps):
        index = torch.randint(0, config.m, (len(splits), 32), generator=batches)
        x = torch.gather(train_x, 1, index[..., None].expand(-1, -1, d))
        optimizer.zero_grad(set_to_none=True)
        parity.margin_loss("hinge", model(x)[..., 0], torch.gather(train_y, 1, index)).sum().backward()
        optimizer.step()
    errors = []
    with torch.no_grad():
        for i, (_, _, test_x, test_y) in enumerate(splits):
            output = model(torch.from_numpy(test_x).expand(len(splits), -1, -1))[i, :, 0]
            errors.append(float((output.sign() != torch.from_numpy(test_y)).float().mean()))
    return errors


def _rf_errors(config: TabularConfig, splits: list) -> list[float]:
    """Test error of a random forest tuned by 3-fold cross-validation on each split's training rows."""
    # scikit-learn is imported here, not at the top: only the runs that use it pay its second of loading
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV

    errors = []
    for split, (train_x, train_y, test_x, test_y) in enumerate(splits):
        search = GridSearchCV(RandomForestClassifier(n_estimators=100, random_state=split), RF_GRID, cv=3)
        search.fit(train_x, train_y)
        errors.append(float((search.predict(test_x) != test_y).mean()))
    return errors


def tabular_run(config: TabularConfig) -> Result:
    def compute():
        started = time.perf_counter()
        with torch_threads(1):
            splits = list(_tabular_splits(config))
            errors = {"mlp_sparse": _mlp_errors(config, splits, sparse=True),
                      "mlp_dense": _mlp_errors(config, splits, sparse=False),
                      "rf": _rf_errors(config, splits)}
        return Result(metrics={"config": dataclasses.asdict(config), "errors": errors,
                               "wall_seconds": round(time.perf_counter() - started, 2)})
    return cached(f"{NAME}-tabular", VERSION, config, compute)


def tabular_configs(scale: str | None = None, seed: int = 0) -> list[TabularConfig]:
    plan = TABULAR[resolve_scale(scale)]
    return [TabularConfig(dataset=name, m=m, noise_features=plan["noise_features"], splits=plan["splits"],
                          width=plan["width"], steps=plan["steps"], seed=seed)
            for name in plan["datasets"] for m in plan["ms"]]


def tabular_table(results: list[Result]) -> list[dict]:
    rows = []
    for result in results:
        config, errors = result.metrics["config"], result.metrics["errors"]
        mean = {key: float(np.mean(values)) for key, values in errors.items()}
        rows.append({"dataset": config["dataset"], "m": config["m"], "mlp_error": mean["mlp_sparse"],
                     "mlp_dense_error": mean["mlp_dense"], "rf_error": mean["rf"],
                     "winner": "sparse MLP" if mean["mlp_sparse"] < mean["rf"] else "random forest",
                     "splits": len(errors["rf"])})
    return rows


# ----------------------------------------------------------------------------- the chapter's experiments

def _fill(kind: str, argument) -> None:
    tabular_run(argument) if kind == "tabular" else lottery_experiment(*argument)


def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict:
    """The grid, the lottery ticket and the tabular comparison, trained in parallel where missing."""
    scale = resolve_scale(scale)
    grid = run_many(grid_configs(scale, seed), n_jobs=n_jobs)  # the lottery's source is one of these cells
    tabular = tabular_configs(scale, seed)
    sweep(_fill, [{"kind": "tabular", "argument": c} for c in tabular]
          + [{"kind": "lottery", "argument": (scale, seed)}], n_jobs=n_jobs)
    return {"grid": grid, "lottery": lottery_experiment(scale, seed),
            "tabular": [tabular_run(c) for c in tabular]}


def reproducibility_card(results: list[Result]) -> dict:
    walls = [r.metrics["wall_seconds"] for r in results]
    first = results[0].metrics["config"]
    return {
        "experiment": NAME,
        "version": VERSION,
        "grid": {key: first[key] for key in ("n", "k", "sparsity", "lr", "batch_size", "max_steps",
                                               "parametrization", "replicates")},
        "seeds": results[0].metrics["seeds"],
        "wall_seconds_when_trained": round(sum(walls), 1),
        "loaded_from_cache": all(r.from_cache for r in results),
        **environment(threads_per_run=1),
        "full_scale_changes": {"grid": SCALES["full"], "lottery": LOTTERY["full"], "tabular": TABULAR["full"]},
    }


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce pareto-frontiers` writes to pareto-frontiers.json."""
    scale = resolve_scale(scale)
    found = experiments(scale, seed)
    rows = grid_table(found["grid"])
    lottery = found["lottery"].metrics
    return {
        "topic": NAME,
        "scale": scale,
        "seed": seed,
        "grid": rows,
        "checks": grid_checks(rows),
        "frontier": {f"{init}, width {w}": frontier(rows, init, w)
                     for init in INITIALISATIONS for w in sorted({r["width"] for r in rows})},
        "lottery": {key: lottery[key] for key in ("pruned_success", "random_success", "source_success",
                                                   "ticket_width", "success_steps")},
        "tabular": tabular_table(found["tabular"]),
    }


