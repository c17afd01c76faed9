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
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from companion.core import parity
from companion.core.cache import Result, cached, cached_training, entry_path
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import PARAMETRIZATIONS, EnsembleMLP
from companion.core.runtime import derived_generator, environment, pick_device, progress_enabled, torch_threads
from companion.core.stats import mean_interval, verdict
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


@torch.no_grad()
def hinge_sgd_step(model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, lr: float, weight_decay: float) -> None:
    """One SGD step with weight decay on the mean hinge loss of each replicate, in place.

    The same update as autograd and ``torch.optim.SGD`` (a test checks it), written out because a
    step of the widest networks is bound by passes over the (R, B, width) activations: here the
    ReLU mask is read off the activations, and weight decay and the gradient of the input weights
    go into one fused product, which halves the step's time.
    """
    W, b, a, c, scale = model.hidden, model.hidden_bias, model.readout, model.readout_bias, model.output_scale
    h = torch.baddbmm(b[:, None, :], x, W.transpose(1, 2)).clamp_(min=0)  # (R, B, width)
    out = torch.baddbmm(c[:, None, :], h, a.transpose(1, 2), alpha=scale)[..., 0]  # (R, B)
    d_out = torch.where(y * out < 1, -y, 0.0) / x.shape[1]  # d(mean hinge)/d(out)
    d_pre = torch.ops.aten.threshold_backward(d_out[..., None] * (a * scale), h, 0)  # through the ReLU
    d_a = torch.bmm(d_out[:, None, :], h).mul_(scale)
    keep = 1 - lr * weight_decay
    W.baddbmm_(d_pre.transpose(1, 2), x, beta=keep, alpha=-lr)
    b.mul_(keep).add_(d_pre.sum(1), alpha=-lr)
    a.mul_(keep).add_(d_a, alpha=-lr)
    c.mul_(keep).add_(d_out.sum(1, keepdim=True), alpha=-lr)


def fit(model: EnsembleMLP, config: Config, data: dict, description: str = NAME) -> dict:
    """SGD from the model's current weights until every replicate has succeeded or spent T steps.

    Each replicate draws its batches from a stream of its own seed, so it trains the same (up to
    float rounding) whichever replicates (seeds, cells) it is batched with. A replicate leaves the
    batch once it succeeds (or, without weight decay, once its training loss is zero, after which it
    cannot move): plain SGD keeps no state per parameter, so the others go on exactly as before and
    a step costs only what the replicates still searching cost. The model ends with each
    replicate's weights at the step it left. Returns the evaluated steps, the test error per
    replicate at each (NaN once it has left), each replicate's steps to success (None: no success
    within T), and whether each failed replicate ends fitting every one of its training samples
    (memorised).
    """
    if model.hidden_bias is None or model.readout.shape[1] != 1:
        raise ValueError("fit trains two-layer networks with biases and one output")
    R = data["train_x"].shape[0]
    rate = config.lr * (model.hidden.shape[1] if config.parametrization == "mean-field" else 1)
    decay = config.weight_decay * config.lr / rate  # so that rate * decay = lr * weight_decay at any width
    streams = [derived_generator(int(seed), 3) for seed in data["seeds"]]
    in_training = torch.arange(data["train_x"].shape[1])[None, :] < data["m"][:, None]  # (R, longest m)
    parameters = dict(model.named_parameters())
    final = {name: value.detach().clone() for name, value in parameters.items()}
    success: list[int | None] = [None] * R
    errors, steps = [], []
    state: dict = {}

    def select(active: torch.Tensor) -> None:
        """Keep only the `active` replicates' data (and, after the first call, their weights)."""
        if "active" in state:
            for name, value in parameters.items():
                final[name][state["active"]] = value.detach()
                value.data = value.data[torch.isin(state["active"], active)]
            if "uniform" in state:
                state["uniform"] = state["uniform"][torch.isin(state["active"], active)]
        state.update(active=active, mask=in_training[active],
                     **{key: data[key][active] for key in ("train_x", "train_y", "test_x", "test_y", "m")})

    def evaluate(step: int) -> None:
        active = state["active"]
        error = torch.full((R,), float("nan"))
        with torch.no_grad():
            error[active] = (model(state["test_x"])[..., 0].sign() != state["test_y"]).float().mean(-1)
            done = error[active] <= SUCCESS_ERROR
            for i in active[done].tolist():
                success[i] = step
            if config.weight_decay == 0:  # a zero hinge loss has a zero gradient: the replicate is frozen
                hinge = (1 - state["train_y"] * model(state["train_x"])[..., 0]).clamp(min=0) * state["mask"]
                done |= hinge.sum(-1) == 0
        errors.append(error)
        steps.append(step)
        if done.any():
            select(active[~done])

    select(torch.arange(R))
    evaluate(0)
    for step in tqdm(range(1, config.max_steps + 1), desc=description, disable=not progress_enabled()):
        if not len(state["active"]):
            break
        if (step - 1) % BATCH_CHUNK == 0:
            state["uniform"] = torch.stack([torch.rand(BATCH_CHUNK, config.batch_size, generator=streams[i],
                                                       dtype=torch.float64) for i in state["active"].tolist()])
        index = (state["uniform"][:, (step - 1) % BATCH_CHUNK] * state["m"][:, None]).long()  # float64: < m
        x = torch.gather(state["train_x"], 1, index[..., None].expand(-1, -1, config.n))
        hinge_sgd_step(model, x, torch.gather(state["train_y"], 1, index), rate, decay)
        if step % config.eval_every == 0:
            evaluate(step)
    select(state["active"][:0])
    with torch.no_grad():
        for name, value in parameters.items():
            value.data = final[name]
        right = (model(data["train_x"])[..., 0].sign() == data["train_y"]) | ~in_training
    memorised = [bool(fits) and s is None for fits, s in zip(right.all(-1).tolist(), success)]
    return {"steps": steps, "test_error": torch.stack(errors).T.contiguous(), "success_steps": success,
            "memorised": memorised}


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

def wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    """95% Wilson score interval for a binomial success rate (scipy's)."""
    # scipy is imported here, not at the top: only the runs that use it pay its second of loading
    from scipy.stats import binomtest

    interval = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def cell_row(result: Result) -> dict:
    """One cell's outcome: successes out of runs, Wilson interval, median steps to success, and the
    share of runs that failed while fitting every training sample (memorised)."""
    config, success = result.metrics["config"], result.metrics["success_steps"]
    wins = [s for s in success if s is not None]
    low, high = wilson_interval(len(wins), len(success))
    return {"init": config["init"], "width": config["width"], "m": config["m"],
            "weight_decay": config["weight_decay"], "max_steps": config["max_steps"],
            "successes": len(wins), "runs": len(success),
            "success_rate": len(wins) / len(success), "ci_low": low, "ci_high": high,
            "median_steps": round(statistics.median(wins)) if wins else None,
            "memorised_rate": sum(result.metrics["memorised"]) / len(success)}


def grid_table(results: list[Result]) -> list[dict]:
    return sorted((cell_row(r) for r in results), key=lambda r: (r["init"], r["width"], r["m"]))


def _crossing(ms: list[int], rates: np.ndarray, level: float) -> float:
    """The m at which the success rate first reaches `level`, interpolated linearly between grid
    sizes; -inf if the smallest m already reaches it, inf if none does."""
    if rates[0] >= level:
        return -np.inf
    for (m0, r0), (m1, r1) in zip(zip(ms, rates), zip(ms[1:], rates[1:])):
        if r1 >= level:
            return float(m0 + (level - r0) / (r1 - r0) * (m1 - m0))
    return np.inf


def frontier(rows: list[dict], init: str, width: int, level: float = 0.5, resamples: int = 2000,
             seed: int = 0) -> dict:
    """The frontier as the paper draws it: the m at which (init, width) succeeds `level` of the time.

    ``m_half`` interpolates between grid sizes; ``ci`` is a 95% percentile bootstrap over seeds
    (each cell's runs resampled with replacement). An end is None where the crossing leaves the grid
    (below the smallest m, or never reached) in more than 2.5% of the resamples; ``censored`` says
    which way: "below" (succeeds at the smallest m already) or "above" (never reaches `level`).
    """
    cells = sorted((r for r in rows if r["init"] == init and r["width"] == width), key=lambda r: r["m"])
    ms = [r["m"] for r in cells]
    successes = np.array([r["successes"] for r in cells])
    runs = np.array([r["runs"] for r in cells])
    m_half = _crossing(ms, successes / runs, level)
    draws = np.random.default_rng(seed).binomial(runs, successes / runs, size=(resamples, len(ms))) / runs
    crossings = np.array([_crossing(ms, rates, level) for rates in draws])
    low, high = np.quantile(crossings, [0.025, 0.975], method="inverted_cdf")  # no interpolation between infinities
    def finite(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None
    return {"m_half": finite(m_half), "ci": [finite(low), finite(high)],
            "censored": "below" if m_half == -np.inf else "above" if m_half == np.inf else None}


def first_m_reaching(rows: list[dict], init: str, width: int, level: float = 0.5) -> int | None:
    """The smallest grid size m at which (init, width) succeeds at least `level` of the time."""
    found = [r["m"] for r in rows if r["init"] == init and r["width"] == width and r["success_rate"] >= level]
    return min(found, default=None)


def frontiers(rows: list[dict]) -> dict:
    widths = sorted({r["width"] for r in rows})
    return {init: {width: frontier(rows, init, width) for width in widths} for init in INITIALISATIONS}


def width_tests(rows: list[dict]) -> list[dict]:
    """For each initialisation and m, and each pair of adjacent widths, the one-sided Fisher exact
    test of "the wider network succeeds less often": a small p says width hurt."""
    from scipy.stats import fisher_exact

    cell = {(r["init"], r["m"], r["width"]): r for r in rows}
    widths = sorted({r["width"] for r in rows})
    tests = []
    for init, m in sorted({(r["init"], r["m"]) for r in rows}):
        for narrow, wide in zip(widths, widths[1:]):
            a, b = cell[(init, m, wide)], cell[(init, m, narrow)]
            table = [[a["successes"], a["runs"] - a["successes"]], [b["successes"], b["runs"] - b["successes"]]]
            tests.append({"init": init, "m": m, "narrow": narrow, "wide": wide,
                          "narrow_rate": b["success_rate"], "wide_rate": a["success_rate"],
                          "p_wider_worse": float(fisher_exact(table, alternative="less").pvalue),
                          "p_wider_better": float(fisher_exact(table, alternative="greater").pvalue)})
    return tests


def holm(p_values: list[float], alpha: float = SIGNIFICANCE) -> list[bool]:
    """Holm's step-down rejections: which of several tests stay significant at family-wise `alpha`."""
    order = np.argsort(p_values)
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected


def width_summary(tests: list[dict]) -> dict:
    """How many adjacent-width steps made things significantly worse, or better, after Holm's
    correction over all of them, and which."""
    worse = holm([t["p_wider_worse"] for t in tests])
    better = holm([t["p_wider_better"] for t in tests])

    def pick(flags: list[bool]) -> list[dict]:
        return [{k: t[k] for k in ("init", "m", "narrow", "wide", "narrow_rate", "wide_rate")}
                for t, flag in zip(tests, flags) if flag]
    return {"tests": len(tests), "wider_worse": pick(worse), "wider_better": pick(better),
            "smallest_p_wider_worse": min(t["p_wider_worse"] for t in tests)}


def sparse_tests(rows: list[dict]) -> list[dict]:
    """At each (m, width), the one-sided Fisher tests of sparse against dense initialisation."""
    from scipy.stats import fisher_exact

    cell = {(r["init"], r["m"], r["width"]): r for r in rows}
    tests = []
    for m, width in sorted({(r["m"], r["width"]) for r in rows}):
        s, d = cell[("sparse", m, width)], cell[("dense", m, width)]
        table = [[s["successes"], s["runs"] - s["successes"]], [d["successes"], d["runs"] - d["successes"]]]
        tests.append({"m": m, "width": width, "sparse_rate": s["success_rate"], "dense_rate": d["success_rate"],
                      "p_sparse_better": float(fisher_exact(table, alternative="greater").pvalue),
                      "p_sparse_worse": float(fisher_exact(table, alternative="less").pvalue)})
    return tests


def sparse_summary(tests: list[dict]) -> dict:
    better, worse = holm([t["p_sparse_better"] for t in tests]), holm([t["p_sparse_worse"] for t in tests])
    return {"tests": len(tests),
            "sparse_better": [{k: t[k] for k in ("m", "width", "sparse_rate", "dense_rate")}
                              for t, flag in zip(tests, better) if flag],
            "sparse_worse": [{k: t[k] for k in ("m", "width", "sparse_rate", "dense_rate")}
                             for t, flag in zip(tests, worse) if flag]}


def time_comparison(results: list[Result], rows: list[dict]) -> dict:
    """Steps to success, sparse against dense, at the largest m where every cell of the widest width
    succeeds at least half the time: the median ratio dense / sparse per width, with the one-sided
    Mann-Whitney test that sparse needs fewer steps, over the seeds that succeed."""
    from scipy.stats import mannwhitneyu

    steps = {(r.metrics["config"]["init"], r.metrics["config"]["m"], r.metrics["config"]["width"]):
             [s for s in r.metrics["success_steps"] if s is not None] for r in results}
    m = max(r["m"] for r in rows)
    comparison = {}
    for width in sorted({r["width"] for r in rows}):
        sparse, dense = steps[("sparse", m, width)], steps[("dense", m, width)]
        if len(sparse) < 2 or len(dense) < 2:
            continue
        comparison[width] = {"sparse_median": float(np.median(sparse)), "dense_median": float(np.median(dense)),
                             "p_sparse_faster": float(mannwhitneyu(sparse, dense, alternative="less").pvalue)}
    return {"m": m, "by_width": comparison}


# ----------------------------------------------------------------------------- the lottery ticket

# Sources: sparse networks at this (m, width), one per sparsity s. At m = 600 the wide sources
# nearly always succeed while small random networks often do not, so tickets have room to differ.
LOTTERY = {
    "test": dict(m=600, source_width=100, ticket_width=10, sparsities=(3, 6, 10)),
    "book": dict(m=600, source_width=1000, ticket_width=20, sparsities=(3, 6, 10)),
    "full": dict(m=600, source_width=3000, ticket_width=20, sparsities=(2, 3, 6, 10)),
}
TICKET_KINDS = ("ticket", "weakest", "random")


@dataclass(frozen=True)
class LotteryConfig:
    source: Config
    ticket_width: int = 20

    def __post_init__(self):
        check_int("ticket_width", self.ticket_width, 1, self.source.width)
        if self.source.init != "sparse":
            raise ValueError(f"the lottery's source must have init='sparse', got {self.source.init!r}")


def neuron_strength(result: Result) -> torch.Tensor:
    """(R, width): each neuron's trained contribution |a_i| * ||(w_i, b_i)||, at the step its
    replicate succeeded (or at T)."""
    hidden, bias = result.arrays["final.hidden"], result.arrays["final.hidden_bias"]
    readout = result.arrays["final.readout"][:, 0]
    return readout.abs() * torch.cat([hidden, bias[..., None]], -1).norm(dim=-1)


def ticket_neurons(result: Result, ticket_width: int, weakest: bool = False) -> torch.Tensor:
    """(R, ticket_width) indices of each replicate's strongest neurons (or its weakest)."""
    return neuron_strength(result).topk(ticket_width, dim=1, largest=not weakest).indices


def support_overlap(result: Result) -> torch.Tensor:
    """(R, width): how many of the k support bits each neuron's initial weights touch, out of k."""
    initial = result.arrays["initial.hidden"] != 0  # (R, width, n)
    supports = result.arrays["supports"]  # (R, k)
    touched = torch.gather(initial, 2, supports[:, None, :].expand(-1, initial.shape[1], -1))
    return touched.float().mean(-1)


def rewind(model: EnsembleMLP, trained: Result, chosen: torch.Tensor) -> None:
    """Load the chosen neurons' initial weights (before any training) into a small model."""
    rows = torch.arange(chosen.shape[0])[:, None]
    with torch.no_grad():
        model.hidden.copy_(trained.arrays["initial.hidden"][rows, chosen])
        model.hidden_bias.copy_(trained.arrays["initial.hidden_bias"][rows, chosen])
        model.readout.copy_(trained.arrays["initial.readout"][:, 0][rows, chosen][:, None])


def _compute_lottery(lottery: LotteryConfig, device: torch.device) -> Result:
    """Three small networks per seed, trained side by side on the source's data: the rewound ticket
    (the strongest neurons), the rewound weakest neurons, and a fresh random sparse network."""
    source = lottery.source
    trained = run(source)
    small = dataclasses.replace(source, width=lottery.ticket_width)
    R = small.replicates
    # the random networks draw from a stream of their own: stream 2 would repeat the source's first neurons
    models = [build_model(small, stream=6) for _ in TICKET_KINDS]
    rewind(models[0], trained, ticket_neurons(trained, lottery.ticket_width))
    rewind(models[1], trained, ticket_neurons(trained, lottery.ticket_width, weakest=True))
    data = {key: value.to(device) for key, value in join_data([make_data(small)] * len(TICKET_KINDS)).items()}
    model = join_models(models, small.parametrization).to(device)
    found = fit(model, small, data, f"{NAME} lottery s={source.sparsity}")
    outcomes = {kind: found["success_steps"][i * R:(i + 1) * R] for i, kind in enumerate(TICKET_KINDS)}
    solved = torch.tensor([s is not None for s in trained.metrics["success_steps"]])
    overlap = support_overlap(trained)
    chosen = ticket_neurons(trained, lottery.ticket_width)
    ticket_overlap = torch.gather(overlap, 1, chosen)[solved]
    metrics = {"source": dataclasses.asdict(source), "ticket_width": lottery.ticket_width,
               "source_success": float(solved.float().mean()), "success_steps": outcomes,
               **{f"{kind}_success": sum(s is not None for s in steps) / R for kind, steps in outcomes.items()},
               # over the seeds whose source network succeeded: the tickets' share of S at initialisation
               "ticket_overlap": float(ticket_overlap.mean()) if solved.any() else None,
               "random_overlap": float(overlap[solved].mean()) if solved.any() else None,
               "ticket_cover": float((ticket_overlap == 1).float().mean()) if solved.any() else None,
               "random_cover": float((overlap[solved] == 1).float().mean()) if solved.any() else None,
               "ticket_off_support": float((ticket_overlap == 0).float().mean()) if solved.any() else None,
               # per solved seed: its tickets' mean share of S minus its network's mean share
               "overlap_excess": (ticket_overlap.mean(1) - overlap[solved].mean(1)).tolist()}
    return Result(metrics=metrics)


def lottery_sources(scale: str | None = None, seed: int = 0) -> list[Config]:
    scale = resolve_scale(scale)
    plan, sizes = SCALES[scale], LOTTERY[scale]
    return [Config(n=plan["n"], k=plan["k"], m=sizes["m"], width=sizes["source_width"], init="sparse",
                   sparsity=s, replicates=plan["replicates"], max_steps=plan["max_steps"], seed=seed)
            for s in sizes["sparsities"]]


def lottery_experiment(source: Config, ticket_width: int) -> Result:
    """Rewound tickets against the weakest neurons and random networks of the same width (cached)."""
    lottery = LotteryConfig(source=source, ticket_width=ticket_width)

    def compute():
        with torch_threads(1):
            return _compute_lottery(lottery, pick_device("auto"))
    return cached(f"{NAME}-lottery", VERSION, lottery, compute)


def lottery_table(results: list[Result]) -> dict:
    """Per sparsity s: where the tickets started and how often each kind of small network succeeds,
    with the one-sided Fisher test of tickets against random networks."""
    from scipy.stats import fisher_exact

    table = {}
    for result in results:
        metrics = result.metrics
        R = metrics["source"]["replicates"]
        wins = {kind: round(metrics[f"{kind}_success"] * R) for kind in TICKET_KINDS}
        p = fisher_exact([[wins["ticket"], R - wins["ticket"]], [wins["random"], R - wins["random"]]],
                         alternative="greater").pvalue
        table[metrics["source"]["sparsity"]] = {
            "source_success": metrics["source_success"],
            "ticket_overlap": metrics["ticket_overlap"], "random_overlap": metrics["random_overlap"],
            "ticket_cover": metrics["ticket_cover"], "random_cover": metrics["random_cover"],
            "ticket_off_support": metrics["ticket_off_support"],
            "overlap_excess": (mean_interval(metrics["overlap_excess"]) if len(metrics["overlap_excess"]) > 1
                               else {"mean": None, "ci": [None, None]}),
            "rewound_success": metrics["ticket_success"], "weakest_success": metrics["weakest_success"],
            "random_success": metrics["random_success"], "p_ticket_beats_random": float(p), "runs": R,
            "m": metrics["source"]["m"], "source_width": metrics["source"]["width"],
            "ticket_width": metrics["ticket_width"]}
    return table


# ----------------------------------------------------------------------------- tabular data

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


def paired_difference(a: list[float], b: list[float], names: tuple[str, str]) -> dict:
    """Mean of a - b over the splits with its t interval, and which side of zero it lies on."""
    interval = mean_interval(np.subtract(a, b))
    return {"mean": interval["mean"], "ci": interval["ci"],
            "verdict": verdict(interval, above=f"{names[0]} errs more", below=f"{names[0]} errs less",
                               neither="no difference shown")}


def interval_text(paired: dict) -> str:
    """A paired difference as a table shows it: "-0.012 (-0.020 to -0.004)"."""
    low, high = paired["ci"]
    return f"{paired['mean']:+.3f} ({low:+.3f} to {high:+.3f})"


def tabular_table(results: list[Result]) -> dict:
    """Per (dataset, m): mean test errors, and the paired differences sparse - dense and sparse MLP -
    forest over the same splits, with 95% intervals (negative: the sparse MLP errs less)."""
    paired = []
    for result in results:
        config, errors = result.metrics["config"], result.metrics["errors"]
        paired.append({"dataset": config["dataset"], "m": config["m"], "splits": len(errors["rf"]),
                       **{f"{key}_error": float(np.mean(values)) for key, values in errors.items()},
                       "sparse_minus_dense": paired_difference(errors["mlp_sparse"], errors["mlp_dense"],
                                                               ("sparse", "dense")),
                       "mlp_minus_forest": paired_difference(errors["mlp_sparse"], errors["rf"],
                                                             ("sparse MLP", "forest"))})

    def count(key: str, word: str) -> int:
        return sum(row[key]["verdict"].endswith(word) for row in paired)
    return {"paired": paired,
            "summary": {"cells": len(paired),
                        "sparse_better": count("sparse_minus_dense", "errs less"),
                        "sparse_worse": count("sparse_minus_dense", "errs more"),
                        "mlp_better": count("mlp_minus_forest", "errs less"),
                        "mlp_worse": count("mlp_minus_forest", "errs more")}}


# ----------------------------------------------------------------------------- the chapter's experiments

def _fill(kind: str, config) -> None:
    tabular_run(config) if kind == "tabular" else lottery_experiment(config.source, config.ticket_width)


def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict:
    """The grid, the trap, the lottery tickets and the tabular comparison, trained in parallel where
    missing (the widest networks first, so that the two processes finish together)."""
    scale = resolve_scale(scale)
    grid, trap, sources = grid_configs(scale, seed), trap_configs(scale, seed), lottery_sources(scale, seed)
    training = sorted(dict.fromkeys(grid + sources + trap), key=lambda c: -c.width)
    run_many(training, n_jobs=n_jobs)  # the lottery's s = 3 source is one of the grid's cells
    ticket_width = LOTTERY[scale]["ticket_width"]
    tabular = tabular_configs(scale, seed)
    jobs = ([("lottery", LotteryConfig(source, ticket_width)) for source in sources]
            + [("tabular", config) for config in tabular])
    missing = [{"kind": kind, "config": config} for kind, config in jobs
               if not entry_path(f"{NAME}-{kind}", VERSION, config).exists()]
    if missing:  # no worker processes when everything is cached
        sweep(_fill, missing, n_jobs=n_jobs)
    return {"grid": [run(c) for c in grid], "trap": [run(c) for c in trap],
            "lottery": [lottery_experiment(source, ticket_width) for source in sources],
            "tabular": [tabular_run(c) for c in tabular]}


def trap_table(found: dict) -> list[dict]:
    """The trap's cells beside the same cells with weight decay: successes, and how many runs ended
    memorised (every training sample fitted, test error above 10%)."""
    with_decay = {(r["init"], r["width"], r["m"]): r for r in grid_table(found["grid"])}
    rows = []
    for row in grid_table(found["trap"]):
        decayed = with_decay[(row["init"], row["width"], row["m"])]
        rows.append({key: row[key] for key in ("init", "width", "m", "runs")}
                    | {"successes_without_decay": row["successes"], "memorised_without_decay": row["memorised_rate"],
                       "successes_with_decay": decayed["successes"], "memorised_with_decay": decayed["memorised_rate"]})
    return rows


def analysis(found: dict) -> dict:
    """Every number and verdict the page states, computed from the experiments."""
    rows = grid_table(found["grid"])
    tests = width_tests(rows)
    sparse = sparse_tests(rows)
    return {"grid": rows, "frontier": frontiers(rows), "width_tests": tests, "width_summary": width_summary(tests),
            "sparse_tests": sparse, "sparse_summary": sparse_summary(sparse),
            "time": time_comparison(found["grid"], rows), "trap": trap_table(found),
            "lottery": lottery_table(found["lottery"]), "tabular": tabular_table(found["tabular"])}


def reproducibility_card(results: list[Result]) -> dict:
    walls = [r.metrics["wall_seconds"] for r in results]
    first = results[0].metrics["config"]
    return {
        "experiment": NAME,
        "version": VERSION,
        "grid": {key: first[key] for key in ("n", "k", "sparsity", "lr", "weight_decay", "batch_size", "max_steps",
                                               "test_size", "eval_every", "parametrization", "replicates")},
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
    return {"topic": NAME, "scale": scale, "seed": seed, **analysis(found)}


# ----------------------------------------------------------------------------- what the page says

def _m_text(point: dict) -> str:
    """A frontier point as the page prints it: "490 (460-530)", with censored ends spelled out."""
    if point["m_half"] is None:
        return "beyond the grid" if point["censored"] == "above" else "below the grid"
    low, high = point["ci"]
    return f"{point['m_half']:.0f} ({'below the grid' if low is None else f'{low:.0f}'}–" \
           f"{'beyond the grid' if high is None else f'{high:.0f}'})"


def _separated(a: dict, b: dict) -> str | None:
    """"lower" or "higher" where a's frontier interval lies wholly below or above b's, else None."""
    (a_low, a_high), (b_low, b_high) = a["ci"], b["ci"]
    if a_high is not None and b_low is not None and a_high < b_low:
        return "lower"
    if a_low is not None and b_high is not None and a_low > b_high:
        return "higher"
    return None


def _cells(items: list[dict], first: str, second: str) -> str:
    return "; ".join(f"{t['init'] + ', ' if 'init' in t else ''}m = {t['m']}, width {t.get('narrow', t.get('width'))}"
                     f"{' to ' + str(t['wide']) if 'wide' in t else ''} ({t[first]:.2f} against {t[second]:.2f})"
                     for t in items)


def frontier_table(report: dict) -> str:
    """The frontiers as a Markdown table: a row for each width the run has, the dense and the sparse
    frontier with their bootstrap intervals side by side."""
    widths = sorted({r["width"] for r in report["grid"]})
    front = report["frontier"]
    rows = [f"| {width:,} | {_m_text(front['dense'][width])} | {_m_text(front['sparse'][width])} |" for width in widths]
    return "\n".join(["| width | dense | sparse |", "|---|---|---|", *rows])


def page_values(report: dict) -> dict[str, str]:
    """Every number and verdict the chapter's prose shows, formatted, keyed by the glue name (without
    the chapter's prefix). The sentences that interpret a result are chosen here from the
    measurement, so the page cannot claim what its run did not show."""
    rows, front = report["grid"], report["frontier"]
    widths = sorted({r["width"] for r in rows})
    ms = sorted({r["m"] for r in rows})
    wide, narrow = widths[-1], widths[0]
    values = {"runs": rows[0]["runs"], "widest": f"{wide:,}", "narrowest": narrow,
              "m_list": ", ".join(f"{m:,}" for m in ms), "width_list": ", ".join(f"{w:,}" for w in widths),
              "T": f"{rows[0]['max_steps']:,}"}
    side = _separated(front["sparse"][wide], front["dense"][wide])
    values["frontier_verdict"] = {
        "lower": f"At width {wide:,} the sparse frontier lies below the dense one: their bootstrap intervals do "
                 "not overlap, so sparse networks need fewer samples there.",
        "higher": f"At width {wide:,} the sparse frontier lies above the dense one, against the paper: sparse "
                  "networks need more samples there.",
        None: f"At width {wide:,} the two frontiers' intervals overlap, so this grid does not show that sparse "
              "networks need fewer samples there."}[side]
    moves = {"lower": [], "higher": []}
    for init in INITIALISATIONS:
        for a, b in zip(widths, widths[1:]):
            side = _separated(front[init][b], front[init][a])
            if side:
                moves[side].append(f"from width {a:,} to {b:,} with {init} initialisation")
    values["frontier_width_verdict"] = (
        ("Going up in width, the frontier moves down beyond its intervals " + " and ".join(moves["lower"]) + "; "
         if moves["lower"] else "No step up in width moves the frontier down beyond its intervals; ")
        + ("it moves up " + " and ".join(moves["higher"]) + ", against the paper's picture."
           if moves["higher"] else "no step moves it up, and every other step leaves it within them."))
    summary = report["width_summary"]
    values["width_tests"] = summary["tests"]
    values["width_worse"] = len(summary["wider_worse"])
    values["width_better"] = len(summary["wider_better"])
    values["width_smallest_p"] = f"{summary['smallest_p_wider_worse']:.3f}"
    values["width_verdict"] = (
        ("No step up in width made success significantly rarer. " if not summary["wider_worse"] else
         f"Width made success significantly rarer at {_cells(summary['wider_worse'], 'wide_rate', 'narrow_rate')}. ")
        + ("Significantly more common: " + _cells(summary["wider_better"], "wide_rate", "narrow_rate") + "."
           if summary["wider_better"] else "No step made it significantly more common either."))
    sparse = report["sparse_summary"]
    values["sparse_tests"] = sparse["tests"]
    values["sparse_verdict"] = (
        ("Sparse networks succeeded significantly more often at " + _cells(sparse["sparse_better"], "sparse_rate",
                                                                            "dense_rate") + ". "
         if sparse["sparse_better"] else "In no single cell is sparse initialisation's success rate "
                                         "significantly higher than dense initialisation's. ")
        + ("Significantly less often at " + _cells(sparse["sparse_worse"], "sparse_rate", "dense_rate") + "."
           if sparse["sparse_worse"] else "In none is it significantly lower."))
    timing = report["time"]
    values["time_m"] = f"{timing['m']:,}"
    faster = [w for w, t in timing["by_width"].items() if t["p_sparse_faster"] < SIGNIFICANCE]
    values["time_verdict"] = " ".join(
        f"At width {int(w):,}: {t['sparse_median']:,.0f} steps sparse against {t['dense_median']:,.0f} dense "
        f"(one-sided Mann-Whitney p = {t['p_sparse_faster']:.3f})." for w, t in timing["by_width"].items())
    values["time_summary"] = (
        "Sparse networks solve the task in significantly fewer steps at width "
        + " and ".join(f"{int(w):,}" for w in faster) + "." if faster else
        "At no width do sparse networks solve the task in significantly fewer steps.")
    trap = report["trap"]
    values["trap_width"], values["trap_m"] = trap[0]["width"], f"{trap[0]['m']:,}"
    for row in trap:
        for key in ("successes_without_decay", "successes_with_decay"):
            values[f"trap_{row['init']}_{key}"] = row[key]
        values[f"trap_{row['init']}_memorised"] = f"{row['memorised_without_decay']:.0%}"
    lottery = report["lottery"]
    values["lottery_sparsities"] = ", ".join(str(s) for s in lottery)
    first = next(iter(lottery.values()))
    values.update(lottery_m=first["m"], lottery_source_width=f"{first['source_width']:,}",
                  lottery_ticket_width=first["ticket_width"])
    for s, row in lottery.items():
        for key in ("rewound_success", "weakest_success", "random_success", "source_success"):
            values[f"lottery_{s}_{key}"] = f"{row[key]:.2f}"
        for key in ("ticket_overlap", "random_overlap", "ticket_off_support"):
            values[f"lottery_{s}_{key}"] = "–" if row[key] is None else f"{row[key]:.2f}"
        values[f"lottery_{s}_p"] = f"{row['p_ticket_beats_random']:.3f}"
    beats = [s for s, row in lottery.items() if row["p_ticket_beats_random"] < SIGNIFICANCE]
    values["lottery_verdict"] = (
        f"Rewound tickets beat random networks of their size significantly at s = {', '.join(map(str, beats))}"
        + (f", not at s = {', '.join(str(s) for s in lottery if s not in beats)}."
           if len(beats) < len(lottery) else ".")
        if beats else "At no sparsity do rewound tickets beat random networks of their size significantly.")
    enriched = [s for s, row in lottery.items() if verdict(row["overlap_excess"]) == "above"]
    off = [row["ticket_off_support"] for row in lottery.values() if row["ticket_off_support"] is not None]
    values["lottery_start_verdict"] = (
        ("At every sparsity" if len(enriched) == len(lottery) else
         f"At s = {', '.join(map(str, enriched))}" if enriched else "At no sparsity")
        + " the tickets started on significantly more of S than the other neurons of their network (95% "
          "interval over seeds of the difference)"
        + (f"; yet between {min(off):.0%} and {max(off):.0%} of them started on none of the support bits, so "
           "where a ticket started explains only part of why it won." if off and max(off) > 0.2 else "."))
    tab = report["tabular"]["summary"]
    values.update({f"tab_{key}": value for key, value in tab.items()})
    splits = report["tabular"]["paired"][0]["splits"]
    values["tab_verdict"] = (
        f"Over {tab['cells']} pairs of data set and size, {splits} splits each, the sparse network errs significantly "
        f"less than the dense one in {tab['sparse_better']} and more in {tab['sparse_worse']}; against the "
        f"tuned forest it errs less in {tab['mlp_better']} and more in {tab['mlp_worse']}; every other interval "
        "contains zero.")
    values["tab_paper"] = (
        "So, as the paper says, the wide sparse network is sometimes better than a tuned forest, and here it is "
        "sometimes worse too." if tab["mlp_better"] and tab["mlp_worse"] else
        "So, as the paper says, the wide sparse network is sometimes better than a tuned forest." if tab["mlp_better"]
        else "So this comparison does not reproduce the paper's finding that wide sparse networks are sometimes "
             "better than tuned forests: none of our intervals shows it.")
    memorised = min(float(row["memorised_without_decay"]) for row in trap)
    decayed = min(row["successes_with_decay"] / row["runs"] for row in trap)
    undecayed = max(row["successes_without_decay"] / row["runs"] for row in trap)
    values["trap_verdict"] = (
        "An earlier version of this chapter trained without weight decay and concluded that width hurts dense "
        "networks. Without weight decay most runs here end memorised and almost none succeed, while with it "
        "almost all do, and no step up in width hurt significantly: that conclusion came from the trap, not "
        "from width." if memorised >= 0.75 and undecayed <= 0.25 and decayed >= 0.75 and not summary["wider_worse"]
        else "Here the runs without weight decay do not all fall into the trap, so this comparison does not by "
             "itself explain the earlier version's finding that width hurts dense networks.")
    return values
