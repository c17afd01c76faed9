"""Pareto frontiers in feature learning: data, compute, width and luck on offline sparse parity.

After Edelman, Goel, Kakade, Malach and Zhang (2023). With a fixed training set of m samples a
network can memorise instead of finding the k relevant bits; whether it finds them first depends on
the data (m), the width (how many neurons search in parallel), the initialisation (sparse neurons
start inside small subsets of the input, where the search is easier), the time allowed (T steps)
and luck (the seed). The story, in the order of this module:

1. the experiment: one batch of seeds for each (m, width, initialisation), trained by SGD with
   weight decay until each seed has solved the task (test error at most 10%) or spent its T steps;
2. the grid of success rates and steps to success; the frontier (the m at which half the seeds
   succeed, with a bootstrap interval over seeds); exact tests of "wider is worse"; and the
   memorisation trap that training without weight decay falls into;
3. lottery tickets at several sparsities: where the neurons that mattered started, and whether
   they succeed again alone, rewound to their initial weights;
4. tabular data: wide sparse networks against dense ones and against random forests, split by split.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from companion.core import parity
from companion.core.cache import Result, cached, cached_training, entry_path
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import PARAMETRIZATIONS, EnsembleMLP
from companion.core.runtime import derived_generator, pick_device, progress_enabled, torch_threads
from companion.core.sweeps import sweep

NAME = "pareto-frontiers"
VERSION = 2
INITIALISATIONS = ("dense", "sparse")
SUCCESS_ERROR = 0.10  # success: test error at most this
WEIGHT_DECAY = 0.01  # the paper's; without it the hinge loss lets wide networks memorise and stop (see `trap`)
SIGNIFICANCE = 0.05
SEED_STRIDE = 10_000  # more replicates than any scale trains


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """One cell of the grid: `replicates` seeds of one (m, width, initialisation), trained side by side.

    The network is a two-layer ReLU MLP in the mean-field parametrisation (output averaged over the
    neurons, learning rate scaled by the width), trained by SGD on the hinge loss with weight decay,
    batches drawn from the m training samples. ``sparsity`` is s, the number of non-zero input
    weights each neuron starts with under the sparse initialisation. A seed stops when it succeeds;
    without weight decay it also stops once its training loss is zero, since no gradient is left.
    """

    n: int = 30
    k: int = 3
    m: int = 1000
    width: int = 100
    init: str = "dense"
    sparsity: int = 3
    lr: float = 0.1  # per neuron; the optimiser's rate is lr * width in the mean-field parametrisation
    parametrization: str = "mean-field"
    weight_decay: float = WEIGHT_DECAY
    batch_size: int = 32
    max_steps: int = 8000  # T
    eval_every: int = 100
    test_size: int = 500
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
        """The replicates' seeds: `seed` * SEED_STRIDE onwards, so that two values of `seed` share none."""
        return [self.seed * SEED_STRIDE + i for i in range(self.replicates)]


SCALES = {
    "test": dict(n=30, k=3, ms=(400, 600, 800), widths=(10, 100), replicates=16, max_steps=8000),
    "book": dict(n=30, k=3, ms=(400, 500, 600, 800), widths=(10, 100, 1000), replicates=16, max_steps=8000),
    "full": dict(n=30, k=3, ms=(300, 400, 500, 600, 700, 800, 1000, 1200),
                 widths=(10, 30, 100, 300, 1000, 3000), replicates=64, max_steps=20000),
}
# The trap: the same cells without weight decay, at the grid's largest m and the widest width the
# cheap widths allow, where every seed succeeds with weight decay.
TRAP = {"test": dict(width=100), "book": dict(width=100), "full": dict(width=1000)}


def grid_configs(scale: str | None = None, seed: int = 0) -> list[Config]:
    """Every cell of the grid, widest first (they take longest, so the two processes end together)."""
    plan = SCALES[resolve_scale(scale)]
    return [Config(n=plan["n"], k=plan["k"], m=m, width=width, init=init, replicates=plan["replicates"],
                   max_steps=plan["max_steps"], seed=seed)
            for width in sorted(plan["widths"], reverse=True) for init in INITIALISATIONS for m in plan["ms"]]


def trap_configs(scale: str | None = None, seed: int = 0) -> list[Config]:
    """The trap's cells: the grid's cells at the largest m and width TRAP[scale], without weight decay."""
    scale = resolve_scale(scale)
    plan = SCALES[scale]
    return [Config(n=plan["n"], k=plan["k"], m=max(plan["ms"]), width=TRAP[scale]["width"], init=init,
                   replicates=plan["replicates"], max_steps=plan["max_steps"], seed=seed, weight_decay=0.0)
            for init in INITIALISATIONS]


# ----------------------------------------------------------------------------- data and model

def make_data(config: Config) -> dict:
    """Per replicate: a support, m training samples and a held-out test set, from the replicate's seed,
    with the replicate's seed and m (``fit`` draws each replicate's batches from its own stream)."""
    supports, train_x, train_y, test_x, test_y = [], [], [], [], []
    for seed in config.seeds():
        generator = derived_generator(seed, 0)
        support = parity.random_support(config.n, config.k, generator)
        x, y = parity.sample(config.n, support, config.m, generator)
        tx, ty = parity.sample(config.n, support, config.test_size, derived_generator(seed, 1))
        for bucket, value in zip((supports, train_x, train_y, test_x, test_y), (support, x, y, tx, ty)):
            bucket.append(value)
    stacked = (torch.stack(b) for b in (supports, train_x, train_y, test_x, test_y))
    data = dict(zip(("supports", "train_x", "train_y", "test_x", "test_y"), stacked))
    return data | {"m": torch.full((config.replicates,), config.m), "seeds": torch.tensor(config.seeds())}


def join_data(parts: list[dict]) -> dict:
    """Several cells' data as one batch of replicates; training sets are padded to the longest, and
    ``fit`` never draws past a replicate's own m."""
    longest = max(part["train_x"].shape[1] for part in parts)

    def pad(t: torch.Tensor) -> torch.Tensor:  # rows of zeros after the m samples
        return torch.nn.functional.pad(t, (0, 0) * (t.dim() - 2) + (0, longest - t.shape[1]))
    return {key: torch.cat([pad(part[key]) if key.startswith("train") else part[key] for part in parts])
            for key in parts[0]}


def build_model(config: Config, stream: int = 2) -> EnsembleMLP:
    """The cell's network at initialisation; replicate i draws from its seed's random `stream`."""
    return EnsembleMLP(config.replicates, config.n, config.width, init="uniform",
                       sparsity=config.sparsity if config.init == "sparse" else None,
                       generators=[derived_generator(seed, stream) for seed in config.seeds()],
                       parametrization=config.parametrization)


def join_models(models: list[EnsembleMLP], parametrization: str) -> EnsembleMLP:
    """Networks of one width, concatenated along the replicate axis (each keeps its weights)."""
    if len(models) == 1:
        return models[0]
    first = models[0]
    joined = EnsembleMLP(sum(model.hidden.shape[0] for model in models), first.hidden.shape[2], first.hidden.shape[1],
                         generators=[torch.Generator() for model in models for _ in range(model.hidden.shape[0])],
                         parametrization=parametrization)
    with torch.no_grad():
        for name, value in joined.named_parameters():
            value.data = torch.cat([dict(model.named_parameters())[name].detach() for model in models])
    return joined


BATCH_CHUNK = 500  # steps of batch indices drawn at once per replicate


def reference_sgd_step(model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, lr: float, weight_decay: float) -> None:
    """One SGD step with weight decay on the mean hinge loss of each replicate, the readable way: autograd
    for the gradient, then `torch.optim.SGD`'s update, p <- p - lr (grad + weight_decay p). The chapter
    trains with `hinge_sgd_step`, the same step written out (a test holds the two together)."""
    model.zero_grad()
    parity.margin_loss("hinge", model(x)[..., 0], y).sum().backward()  # replicates are independent: sum them
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(parameter.grad + weight_decay * parameter, alpha=-lr)


@torch.no_grad()
def hinge_sgd_step(model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, lr: float, weight_decay: float) -> None:
    """`reference_sgd_step`, in place, with the gradients written out.

    A step of the widest networks is bound by passes over the (R, B, width) activations: here the ReLU
    mask is read off the activations, and weight decay and the gradient of the input weights go into one
    fused product, which halves the step's time.
    """
    W, b, a, c, scale = model.hidden, model.hidden_bias, model.readout, model.readout_bias, model.output_scale
    h = torch.baddbmm(b[:, None, :], x, W.transpose(1, 2)).clamp_(min=0)  # (R, B, width)
    out = torch.baddbmm(c[:, None, :], h, a.transpose(1, 2), alpha=scale)[..., 0]  # (R, B)
    d_out = torch.where(y * out < 1, -y, 0.0) / x.shape[1]  # d(mean hinge)/d(out), (R, B)
    d_pre = torch.ops.aten.threshold_backward(d_out[..., None] * (a * scale), h, 0)  # through the ReLU, (R, B, width)
    d_a = torch.bmm(d_out[:, None, :], h).mul_(scale)  # (R, 1, width)
    keep = 1 - lr * weight_decay
    W.baddbmm_(d_pre.transpose(1, 2), x, beta=keep, alpha=-lr)  # (R, width, n)
    b.mul_(keep).add_(d_pre.sum(1), alpha=-lr)  # (R, width)
    a.mul_(keep).add_(d_a, alpha=-lr)  # (R, 1, width)
    c.mul_(keep).add_(d_out.sum(1, keepdim=True), alpha=-lr)  # (R, 1)


class Search:
    """The replicates of one `fit` that are still searching, with their data and batch streams.

    A replicate leaves once it succeeds (or, without weight decay, once its training loss is zero, after
    which it cannot move). Plain SGD keeps no state per parameter, so the others go on exactly as before,
    and a step costs only what the replicates still searching cost. A replicate's weights are kept in
    `final` as they were when it left.
    """

    def __init__(self, model: EnsembleMLP, config: Config, data: dict):
        self.model, self.config, self.data = model, config, data
        R = data["train_x"].shape[0]
        self.streams = [derived_generator(int(seed), 3) for seed in data["seeds"]]
        self.in_training = torch.arange(data["train_x"].shape[1])[None, :] < data["m"][:, None]  # (R, longest m)
        self.parameters = dict(model.named_parameters())
        self.final = {name: value.detach().clone() for name, value in self.parameters.items()}
        self.success: list[int | None] = [None] * R
        self.errors, self.steps = [], []
        self.active, self.uniform = None, None  # (A,) indices of the searching replicates; their batch draws
        self.select(torch.arange(R))

    def select(self, active: torch.Tensor) -> None:
        """Keep only the `active` replicates' data (and, after the first call, their weights)."""
        if self.active is not None:
            kept = torch.isin(self.active, active)
            for name, value in self.parameters.items():
                self.final[name][self.active] = value.detach()
                value.data = value.data[kept]
            if self.uniform is not None:
                self.uniform = self.uniform[kept]
        self.active, self.mask = active, self.in_training[active]
        self.train_x, self.train_y, self.test_x, self.test_y, self.m = (
            self.data[key][active] for key in ("train_x", "train_y", "test_x", "test_y", "m"))

    @torch.no_grad()
    def evaluate(self, step: int) -> None:
        """Test error of every replicate still searching (NaN for the others); the ones done leave."""
        error = torch.full((len(self.success),), float("nan"))
        error[self.active] = (self.model(self.test_x)[..., 0].sign() != self.test_y).float().mean(-1)
        done = error[self.active] <= SUCCESS_ERROR
        for i in self.active[done].tolist():
            self.success[i] = step
        if self.config.weight_decay == 0:  # a zero hinge loss has a zero gradient: the replicate is frozen
            hinge = (1 - self.train_y * self.model(self.train_x)[..., 0]).clamp(min=0) * self.mask
            done |= hinge.sum(-1) == 0
        self.errors.append(error)
        self.steps.append(step)
        if done.any():
            self.select(self.active[~done])

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step `step`'s batch of every replicate still searching, from its own stream: x (A, B, n), y (A, B)."""
        config = self.config
        if (step - 1) % BATCH_CHUNK == 0:
            self.uniform = torch.stack([torch.rand(BATCH_CHUNK, config.batch_size, generator=self.streams[i],
                                                   dtype=torch.float64) for i in self.active.tolist()])
        index = (self.uniform[:, (step - 1) % BATCH_CHUNK] * self.m[:, None]).long()  # float64: < m, (A, B)
        return (torch.gather(self.train_x, 1, index[..., None].expand(-1, -1, config.n)),
                torch.gather(self.train_y, 1, index))

    @torch.no_grad()
    def finish(self) -> list[bool]:
        """Every replicate's weights as it left; whether each failed one fits all its training samples."""
        self.select(self.active[:0])
        for name, value in self.parameters.items():
            value.data = self.final[name]
        right = (self.model(self.data["train_x"])[..., 0].sign() == self.data["train_y"]) | ~self.in_training
        return [bool(fits) and s is None for fits, s in zip(right.all(-1).tolist(), self.success)]


def fit(model: EnsembleMLP, config: Config, data: dict, description: str = NAME) -> dict:
    """SGD from the model's current weights until every replicate has succeeded or spent T steps.

    Each replicate draws its batches from a stream of its own seed, so it trains the same (up to float
    rounding) whichever replicates (seeds, cells) it is batched with. The model ends with each replicate's
    weights at the step it left (`Search`). Returns the evaluated steps, the test error per replicate at
    each (NaN once it has left), each replicate's steps to success (None: no success within T), and
    whether each failed replicate ends fitting every one of its training samples (memorised).
    """
    if model.hidden_bias is None or model.readout.shape[1] != 1:
        raise ValueError("fit trains two-layer networks with biases and one output")
    rate = config.lr * (model.hidden.shape[1] if config.parametrization == "mean-field" else 1)
    decay = config.weight_decay * config.lr / rate  # so that rate * decay = lr * weight_decay at any width
    search = Search(model, config, data)
    search.evaluate(0)
    for step in tqdm(range(1, config.max_steps + 1), desc=description, disable=not progress_enabled()):
        if not len(search.active):
            break
        hinge_sgd_step(model, *search.batch(step), rate, decay)
        if step % config.eval_every == 0:
            search.evaluate(step)
    memorised = search.finish()
    return {"steps": search.steps, "test_error": torch.stack(search.errors).T.contiguous(),
            "success_steps": search.success, "memorised": memorised}


SHARED_FIELDS = ("n", "k", "width", "lr", "parametrization", "weight_decay", "batch_size", "max_steps",
                 "eval_every", "test_size")


def train_together(configs: list[Config], device: torch.device) -> list[Result]:
    """Several cells of one width trained as one batch of replicates; one Result per cell."""
    first = configs[0]
    if any(getattr(c, field) != getattr(first, field) for c in configs for field in SHARED_FIELDS):
        raise ValueError(f"cells trained together must share {', '.join(SHARED_FIELDS)}")
    started = time.perf_counter()
    data = {key: value.to(device) for key, value in join_data([make_data(c) for c in configs]).items()}
    model = join_models([build_model(c) for c in configs], first.parametrization).to(device)
    initial = {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}
    cells = ", ".join(f"m={c.m} {c.init}" for c in configs)
    found = fit(model, first, data, f"{NAME} width={first.width}: {cells}")
    final = {name: value.detach().cpu() for name, value in model.state_dict().items()}
    wall = round(time.perf_counter() - started, 2)
    results, start = [], 0
    for config in configs:
        part = slice(start, start + config.replicates)
        start += config.replicates
        metrics = {"config": dataclasses.asdict(config), "seeds": config.seeds(), "steps": found["steps"],
                   "success_steps": found["success_steps"][part], "memorised": found["memorised"][part],
                   "wall_seconds": round(wall * config.replicates / len(data["m"]), 2),
                   "trained_with": len(configs)}
        arrays = {"test_error": found["test_error"][part].cpu(), "supports": data["supports"][part].cpu()}
        arrays.update({f"initial.{name}": value[part] for name, value in initial.items()})
        arrays.update({f"final.{name}": value[part] for name, value in final.items()})
        results.append(Result(metrics=metrics, arrays=arrays))
    return results


def run(config: Config, use_cache: bool = True, device: str = "auto") -> Result:
    """Train (or load from the cache) one cell's replicates; one CPU thread, the fastest here."""
    return cached_training(NAME, VERSION, config, lambda c, target: train_together([c], target)[0],
                           use_cache=use_cache, device=device)


OVERHEAD_BOUND_WIDTH = 100  # up to this width a step costs mostly overhead: cells train together


def _train_group(configs: list[Config]) -> None:
    with torch_threads(1):
        results = train_together(configs, pick_device("auto"))
    for config, result in zip(configs, results):
        cached(NAME, VERSION, config, lambda: result)


def run_many(configs: list[Config], n_jobs: int = 2) -> list[Result]:
    """``[run(c) for c in configs]``, training the missing cells first in parallel processes: the
    narrow ones (up to OVERHEAD_BOUND_WIDTH) that share their settings as one batch, each wider one
    alone, widest first so that the processes finish together."""
    missing = list(dict.fromkeys(c for c in configs if not entry_path(NAME, VERSION, c).exists()))
    groups: dict[tuple, list[Config]] = {}
    for config in missing:
        shared = tuple(getattr(config, field) for field in SHARED_FIELDS)
        key = shared if config.width <= OVERHEAD_BOUND_WIDTH else (shared, config)
        groups.setdefault(key, []).append(config)
    jobs = sorted(groups.values(), key=lambda group: -group[0].width * sum(c.replicates for c in group))
    if jobs:
        sweep(_train_group, [{"configs": group} for group in jobs], n_jobs=n_jobs)
    return [run(c) for c in configs]


# ----------------------------------------------------------------------------- the grid


# ----------------------------------------------------------------------------- the lottery ticket


# ----------------------------------------------------------------------------- tabular data


# ----------------------------------------------------------------------------- the chapter's experiments


# ----------------------------------------------------------------------------- what the page says
