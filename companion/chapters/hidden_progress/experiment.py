"""Hidden progress: SGD learns sparse parities near the computational limit.

After Barak, Edelman, Goel, Kakade, Malach and Zhang (2022). A two-layer ReLU network sees a fresh
batch of uniformly random x in {-1, +1}^n every step, labelled by the parity of k hidden bits. Its
loss sits at chance for a long time, then falls to zero in a short window. The story, in the order of
this module:

1. the experiment: online sparse parity, several seeds trained at once as one batched network;
2. what is measured under the flat loss: the share of first-layer weight on the support, beside a
   control run with the same seeds whose labels are random coin flips;
3. why it grows: the population gradient is larger on the support's coordinates than on the others
   (the Fourier gap), in closed form at a sign initialisation, checked by Monte Carlo, and measured
   exactly over training at a small n, where it grows under the flat loss and not in the control;
4. how the time to solve, t_c, grows with n and k (default init), against the statistical-query scale
   n^k, how concentrated it is (a blind search would have a coefficient of variation near 1), how much
   of its spread the initialisation and the data order each explain, and what width does to it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch

from companion.core import parity
from companion.core.cache import Result, cached, cached_training
from companion.core.config import check_bool, check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import ACTIVATIONS, INITS, EnsembleMLP
from companion.core.runtime import derived_generator, torch_threads
from companion.core.sweeps import run_cached
from companion.core.training import train

NAME = "hidden-progress"
VERSION = 4  # 4: default-init scaling runs, the gap over training, the init x data-order grid
LOSSES = parity.MARGIN_LOSSES
LABELS = ("parity", "random")
SOLVED_LOSS = 0.1  # t_c is the first evaluated step with test loss at or below this
PLATEAU_FRACTION = 0.95  # "the loss starts to fall" when it first goes below this share of its initial value
# The loss of predicting 0, which knows nothing: any output uncorrelated with the label does at least as
# badly (Jensen), so a network starts at or a little above this level, pushed up by its random outputs.
CHANCE_LOSS = {"hinge": 1.0, "square": 1.0, "logistic": math.log(2)}
POPULATION_MAX_N = 16  # exact expectations enumerate all 2^n inputs


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """One batch of runs: `replicates` networks trained side by side, replicate i with seed ``seed + i``."""

    n: int = 50
    k: int = 3
    width: int = 100
    loss: str = "hinge"
    activation: str = "relu"
    init: str = "sign"  # the theory's: ±1/sqrt(n) weights, zero biases; "uniform" is nn.Linear's default
    bias: bool = True
    batch_size: int = 32
    lr: float = 0.1
    steps: int = 9000
    eval_every: int = 25
    snapshot_every: int = 300  # keep replicate 0's first-layer weights this often (0: never)
    hidden_measures: bool = True  # the share of first-layer weight on S, at every evaluation
    stop_when_solved: bool = False  # end as soon as every replicate is solved
    labels: str = "parity"  # "random": the control, with labels that carry no signal
    replicates: int = 10
    test_size: int = 2048
    readout_scale: float = 1.0  # the read-out weights start this many times their init's size
    # 0: replicate i is seeded seed + i for everything; d > 0: the replicates form an init x data-order
    # grid, replicate i initialised (and given its support) by seed + i // d and fed the data of seed + i % d
    data_seeds: int = 0
    # exact population measures (every input of {-1, +1}^n, so n <= 16) at every multiple of this step
    population_every: int = 0
    seed: int = 0

    def __post_init__(self):
        parity.check_parity(self.n, self.k)
        check_int("width", self.width, 1, 100_000)
        check_choice("loss", self.loss, LOSSES)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("init", self.init, INITS)
        check_int("batch_size", self.batch_size, 1, 65_536)
        check_float("lr", self.lr, 0, 100, low_inclusive=False)
        check_int("steps", self.steps, 1, 10**7)
        check_int("eval_every", self.eval_every, 1, self.steps)
        check_int("snapshot_every", self.snapshot_every, 0, self.steps)
        if self.snapshot_every % self.eval_every:
            raise ValueError(f"snapshot_every must be a multiple of eval_every={self.eval_every}, "
                             f"got {self.snapshot_every}")
        check_choice("labels", self.labels, LABELS)
        for flag in ("bias", "hidden_measures", "stop_when_solved"):
            check_bool(flag, getattr(self, flag))
        check_int("replicates", self.replicates, 1, 1024)
        check_int("test_size", self.test_size, 16, 10**6)
        check_float("readout_scale", self.readout_scale, 0, 10, low_inclusive=False)
        check_int("data_seeds", self.data_seeds, 0, self.replicates)
        if self.data_seeds and self.replicates % self.data_seeds:
            raise ValueError(f"replicates must be a multiple of data_seeds={self.data_seeds}, got {self.replicates}")
        check_int("population_every", self.population_every, 0, self.steps)
        if self.population_every:
            if self.n > POPULATION_MAX_N:
                raise ValueError(f"n must be at most {POPULATION_MAX_N} for exact population measures "
                                 f"(population_every > 0), got {self.n}")
            if self.population_every % self.eval_every:
                raise ValueError(f"population_every must be a multiple of eval_every={self.eval_every}, "
                                 f"got {self.population_every}")
        check_seed("seed", self.seed)

    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.replicates)]

    def init_seeds(self) -> list[int]:
        """The seed of each replicate's initialisation, support and test set."""
        return [self.seed + (i // self.data_seeds if self.data_seeds else i) for i in range(self.replicates)]

    def data_order_seeds(self) -> list[int]:
        """The seed of each replicate's stream of training batches."""
        return [self.seed + (i % self.data_seeds if self.data_seeds else i) for i in range(self.replicates)]


SCALES = {
    "test": dict(n=30, k=3, steps=6000, replicates=6, test_size=1024),
    "book": dict(n=50, k=3, steps=9000, replicates=10, test_size=2048),
    "full": dict(n=50, k=3, steps=15000, replicates=32, test_size=4096),
}
# The Fourier gap over training: n small enough for exact population expectations, PyTorch's default
# initialisation, and a read-out ten times smaller than its default, so that the hinge starts in its
# linear regime (outputs of about 0.1, where it equals the correlation loss the theory analyses); a batch
# of 64 and lr 0.03 keep SGD's noise from pushing the outputs out of it before the support is found.
GAP = {
    "test": dict(n=12, k=4, steps=2000, replicates=4, population_every=100),
    "book": dict(n=16, k=4, steps=4000, replicates=6, population_every=250),
    "full": dict(n=16, k=4, steps=4000, replicates=16, population_every=100),
}
GAP_SETTINGS = dict(init="uniform", readout_scale=0.1, batch_size=64, lr=0.03, eval_every=50, snapshot_every=0,
                    hidden_measures=False, test_size=512)
# The scaling and width experiments: runs that stop when every replicate is solved, loss only.
SCALING = {
    "test": dict(ks=(3, 4), ns=(10, 20, 30), replicates=6, steps=10000),
    "book": dict(ks=(2, 3, 4), ns=(20, 30, 40, 50), replicates=8, steps=30000),
    "full": dict(ks=(2, 3, 4, 5), ns=(20, 30, 40, 50, 60, 80), replicates=16, steps=300000),
}
# Where the spread of t_c comes from: an init-seed x data-order-seed grid at one (n, k), default init.
CROSSED = {
    "test": dict(n=16, k=3, init_seeds=4, data_seeds=4, steps=10000),
    "book": dict(n=30, k=3, init_seeds=8, data_seeds=8, steps=30000),
    "full": dict(n=30, k=3, init_seeds=16, data_seeds=16, steps=100000),
}
SQ_LIMIT_FORM = "n^k"  # Omega(n^k) statistical queries, as the paper cites the lower bound
SCALING_INIT = "uniform"  # PyTorch's default (the sign init's symmetry makes k = 3 start with k = 4's gap)
WIDTHS = {
    "test": dict(n=20, k=4, widths=(10, 300), replicates=8, steps=10000),
    "book": dict(n=30, k=3, widths=(10, 30, 100, 300), replicates=16, steps=30000),
    "full": dict(n=40, k=3, widths=(10, 30, 100, 300, 1000, 3000), replicates=32, steps=100000),
}
# Closed form against Monte Carlo for the population gradient at a sign initialisation.
FOURIER_CHECK = {
    "test": dict(ns=(10, 20, 30), k=3, samples=200_000),
    "book": dict(ns=(10, 20, 30, 40, 50), k=3, samples=1_000_000),
    "full": dict(ns=(10, 20, 30, 40, 50, 60, 80), k=3, samples=10_000_000),
}


def config_for(scale: str | None = None, seed: int = 0, **overrides) -> Config:
    """The chapter's main run at a scale (``test``, ``book`` or ``full``), with any overrides."""
    return Config(**{**SCALES[resolve_scale(scale)], "seed": seed, **overrides})


def search_config(n: int, k: int, steps: int, replicates: int, seed: int, **overrides) -> Config:
    """A run for the scaling and width experiments: loss only, stopping once every seed is solved."""
    return Config(**{"n": n, "k": k, "steps": steps, "replicates": replicates, "seed": seed,
                     "eval_every": 20, "snapshot_every": 0, "hidden_measures": False,
                     "stop_when_solved": True, "test_size": 512, **overrides})


# ----------------------------------------------------------------------------- data and loss

def replicate_generators(config: Config, stream: int = 0) -> list[torch.Generator]:
    """One generator per replicate, from its initialisation seed: stream 0 for the support, the
    initialisation and (unless ``data_seeds``) the training data, 1 for the test set."""
    return [derived_generator(seed, stream) for seed in config.init_seeds()]


def data_generators(config: Config, init_generators: list[torch.Generator]) -> list[torch.Generator]:
    """Where each replicate's training batches come from: its own stream 0 after the initialisation
    (the default), or, in an init x data-order grid, stream 2 of its data-order seed."""
    if not config.data_seeds:
        return init_generators
    return [derived_generator(seed, 2) for seed in config.data_order_seeds()]


def draw_batch(config: Config, supports: torch.Tensor, generators: list[torch.Generator], size: int):
    """Inputs (R, size, n) and labels (R, size), each replicate from its own generator."""
    xs, ys = [], []
    for support, generator in zip(supports, generators):
        x, y = parity.sample(config.n, support, size, generator)
        if config.labels == "random":
            y = parity.random_signs((size,), generator)
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.stack(ys)


# ----------------------------------------------------------------------------- what is measured

def support_mask(supports: torch.Tensor, n: int) -> torch.Tensor:
    """(R, n) with ones on each replicate's support."""
    return torch.zeros(len(supports), n).scatter_(1, supports, 1.0)


def support_weight_share(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Share of the squared first-layer weight on the support's columns, per replicate; chance is k/n."""
    mass = hidden.pow(2).sum(1)  # (R, n): squared weight arriving from each input coordinate
    return (mass * mask).sum(-1) / mass.sum(-1)


def population_measures(model: EnsembleMLP, inputs: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                        chunk: int = 4096) -> dict[str, torch.Tensor]:
    """Exact expectations over every input (`inputs`: all of {-1, +1}^n; `labels`: (R, 2^n) parities of
    each replicate's support), per replicate.

    The Fourier gap is read from c[i, j] = E[y act'(w_i.x + b_i) x_j]: the first-layer gradient of the
    correlation loss -y f, which the hinge loss follows while outputs are small, without the read-out
    weight a_i that scales each neuron's whole row (a_i only says how fast neuron i moves, not where to).
    Returned: the population hinge loss and the largest |f(x)| (below 1 the hinge is linear
    everywhere); the mean |c| over support coordinates (``relevant``) and over the others
    (``irrelevant``), averaged over neurons; and the share of sum c^2 on the support
    (``support_share``; k/n if the gradient did not favour the support).
    """
    replicates, width, n = model.hidden.shape
    c = torch.zeros(replicates, width, n, dtype=torch.float64)
    loss = torch.zeros(replicates, dtype=torch.float64)
    largest = torch.zeros(replicates, dtype=torch.float64)
    with torch.enable_grad():
        for start in range(0, len(inputs), chunk):
            x = inputs[start:start + chunk]
            y = labels[:, start:start + chunk]
            pre = (x @ model.hidden.detach().transpose(1, 2)).requires_grad_(True)  # (R, chunk, width)
            bias = model.hidden_bias.detach()[:, None] if model.hidden_bias is not None else 0.0
            hidden = model.act(pre + bias)
            slope, = torch.autograd.grad((y[..., None] * hidden).sum(), pre)  # y act'(pre), (R, chunk, width)
            c += torch.einsum("rbw,bn->rwn", slope.double(), x.double())
            output = hidden.detach() @ model.readout.detach().transpose(1, 2) * model.output_scale
            if model.readout_bias is not None:
                output = output + model.readout_bias.detach()[:, None]
            loss += parity.margin_loss("hinge", output[..., 0], y).double() * x.shape[0]
            largest = torch.maximum(largest, output[..., 0].abs().amax(-1).double())
    c /= len(inputs)
    on = mask.bool()[:, None, :].expand_as(c)
    magnitude, squared = c.abs(), c.pow(2)
    return {"loss": (loss / len(inputs)).float(), "max_output": largest.float(),
            "relevant": (magnitude * on).sum((1, 2)) / on.sum((1, 2)),
            "irrelevant": (magnitude * ~on).sum((1, 2)) / (~on).sum((1, 2)),
            "support_share": (squared * on).sum((1, 2)) / squared.sum((1, 2))}


# ----------------------------------------------------------------------------- training

def initial_networks(config: Config) -> tuple[torch.Tensor, EnsembleMLP, list[torch.Generator]]:
    """Each replicate's support and initial network (read-out scaled by ``readout_scale``), drawn in
    that order from its initialisation generator, which is returned for whatever it draws next."""
    init_generators = replicate_generators(config, 0)
    supports = torch.stack([parity.random_support(config.n, config.k, g) for g in init_generators])
    model = EnsembleMLP(config.replicates, config.n, config.width, activation_name=config.activation,
                        bias=config.bias, init=config.init, generators=init_generators)
    if config.readout_scale != 1.0:
        with torch.no_grad():
            for readout in (model.readout, model.readout_bias):
                if readout is not None:
                    readout.mul_(config.readout_scale)
    return supports, model, init_generators


def _compute(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    supports, model, init_generators = initial_networks(config)
    model = model.to(device)
    train_generators = data_generators(config, init_generators)
    test_x, test_y = draw_batch(config, supports, replicate_generators(config, 1), config.test_size)
    test_x, test_y = test_x.to(device), test_y.to(device)
    mask = support_mask(supports, config.n).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    solved = torch.zeros(config.replicates, dtype=torch.bool)
    if config.population_every:
        every_input = parity.all_inputs(config.n).float().to(device)
        every_label = torch.stack([parity.parity(every_input, support.to(device)) for support in supports])

    def loss(model, x, y):
        return parity.margin_loss(config.loss, model(x)[..., 0], y).sum()  # replicates do not interact

    def evaluate(step: int) -> dict:
        measured = {}
        output = model(test_x)[..., 0]
        if config.hidden_measures:
            measured["support_weight_share"] = support_weight_share(model.hidden, mask).cpu()
        test_loss = parity.margin_loss(config.loss, output, test_y).cpu()
        solved.logical_or_(test_loss <= SOLVED_LOSS)
        measured["loss"] = test_loss
        measured["accuracy"] = (output.sign() == test_y).float().mean(-1).cpu()
        if config.snapshot_every and step % config.snapshot_every == 0:
            measured["snapshot"] = model.hidden.detach()[0].cpu().clone()
        if config.population_every and step % config.population_every == 0:
            for name, value in population_measures(model, every_input, every_label, mask).items():
                measured[f"population_{name}"] = value.cpu()
        return measured

    history = train(
        model, lambda step: tuple(t.to(device) for t in draw_batch(config, supports, train_generators,
                                                                     config.batch_size)),
        loss, steps=config.steps, optimizer=optimizer, evaluate=evaluate,
        eval_steps=list(range(0, config.steps + 1, config.eval_every)),
        description=f"{NAME} n={config.n} k={config.k} width={config.width}",
        stop=(lambda measured: bool(solved.all())) if config.stop_when_solved else None,
    )
    steps = history.pop("step")
    arrays = {name: history.pop(name).T.contiguous() for name in list(history) if name != "snapshot"}
    if config.population_every:
        arrays["population_steps"] = torch.tensor([s for s in steps if s % config.population_every == 0])
    if "snapshot" in history:
        arrays["snapshots"] = history.pop("snapshot")  # (snapshots, width, n) for replicate 0
        arrays["snapshot_steps"] = torch.tensor([s for s in steps if s % config.snapshot_every == 0])
    arrays["supports"] = supports
    metrics = {
        "config": dataclasses.asdict(config),
        "steps": steps,
        "seeds": config.seeds(),
        "init_seeds": config.init_seeds(),
        "data_order_seeds": config.data_order_seeds(),
        "t_c": solve_times(steps, arrays["loss"]),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    arrays.update({f"weights.{name}": value.detach().cpu() for name, value in model.state_dict().items()})
    return Result(metrics=metrics, arrays=arrays)


def solve_times(steps: list[int], loss: torch.Tensor) -> list[int | None]:
    """t_c of each replicate: the first evaluated step with test loss <= SOLVED_LOSS (None: never)."""
    times = []
    for curve in loss.tolist():
        times.append(next((s for s, value in zip(steps, curve) if value <= SOLVED_LOSS), None))
    return times


def run(config: Config, use_cache: bool = True, device: str = "auto") -> Result:
    """Train (or load from the cache) one batch of replicates.

    Result arrays are (replicates, evaluations) curves ``loss``, ``accuracy`` and, with
    ``hidden_measures``, ``support_weight_share``; ``snapshots`` of replicate 0's first layer at
    ``snapshot_steps``; ``supports`` (replicates, k). On a CPU a run uses one thread, the fastest choice for
    networks this small (benchmarks/RESULTS.md).
    """
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device=device)


def run_many(configs: list[Config], n_jobs: int = 2) -> list[Result]:
    return run_cached(run, configs, NAME, VERSION, n_jobs=n_jobs)


def initial_max_output(config: Config) -> float:
    """The largest |f(x)| over every replicate's held-out inputs at initialisation: above 1, the hinge
    is already past its linear regime on some inputs before training starts."""
    supports, model, _ = initial_networks(config)
    test_x, _ = draw_batch(config, supports, replicate_generators(config, 1), config.test_size)
    with torch.no_grad():
        return float(model(test_x).abs().max())


# ----------------------------------------------------------------------------- the theory's closed form

def sign_init_gradient(n: int, k: int) -> dict:
    """Population gradient at a sign-initialised ReLU neuron, in closed form, for y = chi_S(x).

    For f(x) = a relu(w.x) with w in {±1}^n (its scale does not matter) the correlation loss -y f, which
    the hinge loss equals while outputs are small, has gradient -a E[y 1[w.x > 0] x_j] on w_j.
    Substituting z = w * x turns E[y 1[w.x > 0] x_j] into (prod of w over S xor {j}) times the Fourier
    coefficient of the threshold 1[z_1 + ... + z_n > 0] at degree |S xor {j}|: k-1 when j is in S
    ("relevant"), k+1 when it is not. Returned: those two coefficients; their sizes are the gap.
    """
    return {"relevant": parity.threshold_fourier(n, k - 1), "irrelevant": parity.threshold_fourier(n, k + 1)}


def monte_carlo_gradient(n: int, k: int, samples: int, seed: int = 0, chunk: int = 200_000) -> dict:
    """The same two numbers estimated from random inputs at a random w and S, with standard errors.

    Each coordinate's estimate of E[y 1[w.x > 0] x_j] is multiplied by the sign prod_{i in S xor {j}}
    w_i (which is prod_S w times w_j either way), then averaged over the coordinates of its kind.
    """
    generator = torch.Generator().manual_seed(seed)
    w = parity.random_signs((n,), generator)
    support = parity.random_support(n, k, generator)
    in_support = torch.zeros(n, dtype=torch.bool)
    in_support[support] = True
    orientation = (w[support].prod() * w).double()
    total = torch.zeros(n, dtype=torch.float64)
    total_sq = torch.zeros(n, dtype=torch.float64)
    done = 0
    while done < samples:
        size = min(chunk, samples - done)
        x = parity.random_signs((size, n), generator)
        values = ((parity.parity(x, support) * (x @ w > 0).float())[:, None] * x).double()  # (size, n)
        total += values.sum(0)
        total_sq += values.pow(2).sum(0)
        done += size
    mean = total / samples
    standard_error = ((total_sq / samples - mean**2) / samples).sqrt()
    oriented = mean * orientation
    estimates = {}
    for name, chosen in (("relevant", in_support), ("irrelevant", ~in_support)):
        estimates[name] = float(oriented[chosen].mean())
        estimates[f"{name}_se"] = float(standard_error[chosen].pow(2).sum().sqrt() / chosen.sum())
    return estimates


@dataclass(frozen=True)
class FourierCheck:
    ns: tuple[int, ...] = (10, 20, 30, 40, 50)
    k: int = 3
    samples: int = 1_000_000
    seed: int = 0

    def __post_init__(self):
        for n in self.ns:
            parity.check_parity(n, self.k + 1)
        check_int("samples", self.samples, 100, 10**9)
        check_seed("seed", self.seed)


def fourier_gap_check(scale: str | None = None, seed: int = 0) -> Result:
    """Closed form against Monte Carlo for several n (cached); ``metrics["rows"]`` has one per n."""
    check = FourierCheck(**FOURIER_CHECK[resolve_scale(scale)], seed=seed)

    def compute():
        rows = [{"n": n, "closed_form": sign_init_gradient(n, check.k),
                 "monte_carlo": monte_carlo_gradient(n, check.k, check.samples, check.seed)} for n in check.ns]
        return Result(metrics={"k": check.k, "samples": check.samples, "rows": rows})

    with torch_threads(1):
        return cached(f"{NAME}-fourier-gap", VERSION, check, compute)
