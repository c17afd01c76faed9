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
import warnings
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
VERSION = 3
SEED_STRIDE = 10_000  # more than the most replicates a cell can have
MODELS = ("attention", "mlp")
FUNCTIONS = ("and", "parity")
SUCCESS_ACCURACY = 0.95
MAX_SINGLE_GAP = 120.0  # past this score change, e^(gap/2) times a batch nears single precision's range
MAX_FACTORED_GAP = 1000.0  # and past this one, double precision's
BISECTIONS = 2  # then the grid's step below m* is split twice, to a factor 2^(1/8)
M_GRID = tuple(int(round(10 * 2 ** (i / 2))) for i in range(23))  # 10, 14, 20, 28, 40, ... ~20,000


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """One cell of the search: `replicates` seeds of one (model, T, m), trained side by side.

    Replicate i draws its support, its m training samples, its test set and its initial weights from
    seed ``seed * SEED_STRIDE + i`` alone. ``width`` is the attention block's model width d, or the MLP's hidden
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
    weight_decay: float = 0.0
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
        check_float("weight_decay", self.weight_decay, 0, 10)
        check_int("steps", self.steps, 1, 10**6)
        check_float("init_scale", self.init_scale, 0, 10, low_inclusive=False)
        check_int("test_size", self.test_size, 10, 10**6)
        check_int("replicates", self.replicates, 1, 1024)
        check_seed("seed", self.seed)

    def seeds(self) -> list[int]:
        # seeds 0 and 1 share no replicate, so "another seed" is an independent replication
        return [self.seed * SEED_STRIDE + i for i in range(self.replicates)]


# Each model's training recipe: full-batch Adam; attention fits in a few hundred steps, the MLP's test
# accuracy keeps improving for a while after it fits its training set. The MLP's width and learning
# rate are tuned: every pair in MLP_TUNING is scanned, and the baseline at each T is the best of them.
RECIPES = {"attention": dict(width=16, hidden=64, lr=3e-2, steps=300),
           "mlp": dict(width=32, lr=3e-3, steps=600)}
MLP_TUNING = tuple(dict(width=width, lr=lr) for width in (8, 16) for lr in (3e-3, 1e-2))
ATTENTION_LRS = (3e-2, 1e-2)  # the recipe's learning rate and a third of it: m*'s sensitivity to it
WEIGHT_DECAY = 0.1  # AdamW's decoupled decay: at lr 3e-2 each weight shrinks 0.3% a step unless the loss holds it

# Seeds per cell. The MLP's success rate jumps from 0 to 1 within a step or two of m, so four seeds
# place its m* (and its cells at large T and m are the costliest of all). At the longest contexts
# attention gets fewer seeds: its m* interval there says what that allows. `mlp_Ts`, `weight_decay_Ts`
# and `recipe_Ts` are the context lengths of the tuned baseline, of the weight-decay variant and of
# the learning-rate comparison.
SCALES = {
    "test": dict(Ts=(16, 64, 256), replicates={"attention": 8, "mlp": 4}, long_context=(256, 8), max_m=2560,
                 mlp_Ts=(16, 64, 256), weight_decay_Ts=(16, 64), recipe_Ts=(64,)),
    "book": dict(Ts=(32, 64, 128, 256, 512, 1024, 2048), replicates={"attention": 32, "mlp": 4},
                 long_context=(1024, 16), max_m=5120, mlp_Ts=(32, 64, 128, 256, 512),
                 weight_decay_Ts=(32, 128, 512), recipe_Ts=(64, 512)),
    "full": dict(Ts=(32, 64, 128, 256, 512, 1024, 2048, 4096, 8192), replicates={"attention": 64, "mlp": 8},
                 long_context=(4096, 32), max_m=20480, mlp_Ts=(32, 64, 128, 256, 512, 1024),
                 weight_decay_Ts=(32, 128, 512, 2048), recipe_Ts=(64, 512, 2048)),
}


def config_for(scale: str | None, model: str, T: int, m: int, seed: int = 0, **changes) -> Config:
    plan = SCALES[resolve_scale(scale)]
    replicates = plan["replicates"][model]
    if model == "attention" and T >= plan["long_context"][0]:
        replicates = plan["long_context"][1]
    settings = {**RECIPES[model], "replicates": replicates, **changes}
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

    def _scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The [CLS] query's score for each position holding a 0, [CLS] itself last (R, T + 1), and the
        change a 1 makes to a position's score, the same at every position (R,).

        A score is q.W_K t = (W_K^T q).t, so the query is carried to token space once instead of
        projecting all T tokens."""
        q = torch.einsum("rij,rj->ri", self.query, self.cls)
        probe = torch.einsum("rij,ri->rj", self.key, q)  # W_K^T q, (R, d)
        zero = self.bits[:, 0]
        base = torch.cat([torch.einsum("rtd,rd->rt", self.positions, probe) + (zero * probe).sum(-1, keepdim=True),
                          (self.cls * probe).sum(-1, keepdim=True)], -1)
        return base * self.scale, ((self.bits[:, 1] - zero) * probe).sum(-1) * self.scale

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        base, flip = self._scores()
        scores = torch.addcmul(base[:, None, :], F.pad(x, (0, 1)), flip[:, None, None])
        return scores.softmax(-1)

    def forward(self, x: torch.Tensor, complement: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (R, B) for bits x (R, B, T); ``complement``, when given, is 1 - x."""
        # With binary bits, position j's softmax weight takes one of two values, w_lo or w_hi, and its
        # token one of two: tokens differ only by the bit embedding. Call "raised" the bit value whose
        # score is higher (1 when the change a 1 makes is positive, 0 otherwise) and r its indicator.
        # Since r_j^2 = r_j, the attention-weighted sum of tokens and the softmax's normaliser are both
        # a constant plus r times a (T, d + 1) matrix: one batched product replaces the (R, B, T) score
        # tensor, its softmax and their gradients. Writing the normaliser as sum w_lo + r.(w_hi - w_lo),
        # a sum of positive terms, keeps it free of cancellation. W_V is linear, so it is applied once,
        # to the pooled token.
        # After the shift below every weight lies within e^(gap/2) of 1, and the backward pass multiplies
        # such weights by the inverse normaliser, up to e^(gap/2) too: trained heads reach gaps of 50,
        # where the product overflows single precision. So the (R, T)-sized work on the weights is done
        # in double precision, and the (R, B, T) product in single (its factors stay below e^(gap/2))
        # unless a head's gap passes MAX_SINGLE_GAP; past MAX_FACTORED_GAP the plain path takes over.
        base, flip = (t.double() for t in self._scores())
        largest = float(flip.detach().abs().max())
        if largest > MAX_FACTORED_GAP:
            return self.read(self.pooled_tokens(x))
        if largest > MAX_SINGLE_GAP:
            x, complement = x.double(), None if complement is None else complement.double()
        gap = flip.abs()
        lowered = flip < 0  # (R,): the bit 1 lowers a score
        raised = torch.where(lowered[:, None, None], 1 - x if complement is None else complement, x)
        bits, positions, cls = (p.double() for p in (self.bits, self.positions, self.cls))
        low_bit = torch.where(lowered[:, None], bits[:, 1], bits[:, 0])
        high_bit = torch.where(lowered[:, None], bits[:, 0], bits[:, 1])
        low = torch.cat([base[:, :-1] + torch.where(lowered, flip, 0)[:, None], base[:, -1:]], -1)
        shift = low.amax(-1, keepdim=True) + gap[:, None] / 2  # every weight in [e^-gap/2, e^gap/2]
        w_lo = torch.exp(low - shift)  # (R, T + 1), [CLS] last
        w_hi = w_lo[:, :-1] * torch.exp(gap)[:, None]
        change = (w_hi - w_lo[:, :-1])[..., None]  # >= 0
        tokens = low_bit[:, None] + positions  # (R, T, d), each position not raised
        per_bit = torch.cat([change * tokens + w_hi[..., None] * (high_bit - low_bit)[:, None], change], -1)
        constant = torch.cat([torch.einsum("rt,rtd->rd", w_lo[:, :-1], tokens) + w_lo[:, -1:] * cls,
                              w_lo.sum(-1, keepdim=True)], -1)
        summed = torch.baddbmm(constant.to(x.dtype)[:, None, :], raised, per_bit.to(x.dtype))  # (R, B, d + 1)
        return self.read((summed[..., :-1] / summed[..., -1:]).to(self.cls.dtype))

    def pooled_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """sum_j alpha_j t_j (R, B, d) the plain way, through the (R, B, T + 1) attention."""
        alpha = self.attention(x)
        tokens = self.bits[:, None, None, 0] + x[..., None] * (self.bits[:, 1] - self.bits[:, 0])[:, None, None]
        return (torch.einsum("rbt,rbtd->rbd", alpha[..., :-1], tokens + self.positions[:, None])
                + alpha[..., -1:] * self.cls[:, None])

    def read(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits (R, B) from the pooled token: the value map, the residual [CLS] and the MLP."""
        z = self.cls[:, None] + torch.einsum("rij,rbj->rbi", self.value, pooled)
        h = torch.relu(torch.einsum("rhd,rbd->rbh", self.mlp_in, z) + self.mlp_bias[:, None])
        return torch.einsum("rbh,rh->rb", h, self.readout) + self.readout_bias[:, None]


def build_model(config: Config) -> nn.Module:
    generators = [derived_generator(seed, 3) for seed in config.seeds()]
    if config.model == "attention":
        return ClsAttention(config.replicates, config.T, config.width, config.hidden, config.init_scale, generators)
    return EnsembleMLP(config.replicates, config.T, config.width, generators=generators)


def logits(model: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    out = model(*inputs)
    return out[..., 0] if out.dim() == 3 else out


def support_attention_mass(attention: np.ndarray, support) -> float:
    """One model's [CLS] attention (inputs, T + 1) summed over the support, averaged over the inputs."""
    return float(np.asarray(attention)[:, list(support)].sum(1).mean())


def support_attention(mean_attention: torch.Tensor, supports: torch.Tensor) -> torch.Tensor:
    """Per replicate, the [CLS] attention mass on the support, averaged over the inputs: (R,), from the
    attention averaged over the inputs (R, T + 1) (a mean of sums is the sum of the means)."""
    return torch.gather(mean_attention, 1, supports).sum(-1)


def norms(model: ClsAttention) -> dict[str, list[float]]:
    """Per replicate, the norms the theorem bounds: the query-key product W_Q^T W_K and the value map
    W_V (Frobenius), and the largest position embedding (Euclidean)."""
    qk = torch.linalg.matrix_norm(torch.einsum("rji,rjk->rik", model.query, model.key))
    return {"qk": qk.tolist(), "value": torch.linalg.matrix_norm(model.value).tolist(),
            "position": torch.linalg.vector_norm(model.positions, dim=-1).amax(-1).tolist()}


# ----------------------------------------------------------------------------- training one cell

def _compute(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    data = {key: value.to(device) for key, value in make_data(config).items()}
    model = build_model(config).to(device)
    # decoupled weight decay on every parameter: the bounded-norm regime of the theorem
    optimizer = (torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
                 if config.weight_decay else torch.optim.Adam(model.parameters(), lr=config.lr))

    # the attention block also takes the bits' complement, made once here rather than at every step
    inputs = (data["train_x"],) + ((1 - data["train_x"],) if config.model == "attention" else ())

    def loss(model, y, *inputs):
        return F.binary_cross_entropy_with_logits(logits(model, *inputs), y, reduction="none").mean(-1).sum()

    def accuracy(x, y):
        return ((logits(model, x) > 0).float() == y).float().mean(-1)

    def evaluate(step: int) -> dict:
        return {"train_accuracy": accuracy(data["train_x"], data["train_y"]).cpu(),
                "test_accuracy": accuracy(data["test_x"], data["test_y"]).cpu()}

    history = train(model, lambda step: (data["train_y"], *inputs), loss, steps=config.steps,
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
            mean_attention = model.attention(data["test_x"]).mean(1)  # (R, T + 1)
            metrics["attention_on_support"] = support_attention(mean_attention, data["support"]).tolist()
            metrics["norms"] = norms(model)
            arrays["mean_attention"] = mean_attention.cpu()
    return Result(metrics=metrics, arrays=arrays)


def run(config: Config, use_cache: bool = True, device: str = "auto") -> Result:
    """Train (or load from the cache) one cell's replicates; one CPU thread, the fastest here."""
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device=device)


# ----------------------------------------------------------------------------- the search over m

def success_rate(result: Result) -> float:
    return float(np.mean(result.metrics["success"]))


def scan(model: str, T: int, scale: str | None = None, seed: int = 0, start: int | None = None,
         past: int = 0, **changes) -> list[Result]:
    """The cells of one (model, T) around m*, sorted by m.

    From the grid point at or above `start` (the bottom of the grid without one) the scan first steps
    down until fewer than half the seeds succeed, so that the first m where at least half do is seen
    from below; then up until at least half succeed, and `past` grid steps further (cells above m* cost
    most and decide nothing about m*, but they bound its interval; attention's rare seeds that never
    succeed would keep a scan for "all" going); then BISECTIONS halvings (in log m) of the step below m*."""
    plan = SCALES[resolve_scale(scale)]
    grid = [m for m in M_GRID if m <= plan["max_m"]]
    cells: dict[int, Result] = {}

    def cell(m: int) -> Result:
        cells[m] = run(config_for(scale, model, T, m, seed, **changes))
        return cells[m]

    def ordered() -> list[Result]:
        return [cells[m] for m in sorted(cells)]

    index = next((i for i, m in enumerate(grid) if m >= start), len(grid) - 1) if start else 0
    top = index
    while success_rate(cell(grid[index])) >= 0.5 and index > 0:
        index -= 1
    index = top
    while critical_m(ordered()) is None and index < len(grid) - 1:
        index += 1
        cell(grid[index])
    for beyond in range(index + 1, min(index + 1 + past, len(grid))):
        cell(grid[beyond])
    star = critical_m(ordered())
    below = [m for m in cells if m < (star or 0)]
    if below:
        low, high = max(below), star
        for _ in range(BISECTIONS):
            middle = int(round(math.sqrt(low * high)))
            if middle in (low, high):
                break
            low, high = (low, middle) if success_rate(cell(middle)) >= 0.5 else (middle, high)
    return ordered()


def critical_m(results: list[Result]) -> int | None:
    """m*: the smallest m at which at least half the seeds succeed (None: not within the scan)."""
    return next((r.metrics["config"]["m"] for r in results if success_rate(r) >= 0.5), None)


# Where scans start, a little below where m* should be: at the first T, from what the recipe needs at
# the book's shortest contexts; then from the previous T's m* times its growth per doubling of T
# (attention's grows by about a fifth, the MLP's about doubles); a variant of the recipe starts from
# the recipe's own m* at the same T (`guide`). A scan that starts too high steps down first.
FIRST_START = {"attention": 20, "mlp": 57}
START_GROWTH = {"attention": 1.2, "mlp": 2.0}
START_BELOW = 0.85


def chain(model: str, Ts, scale: str | None = None, seed: int = 0, guide: dict[int, int] | None = None,
          past: int = 0, **changes) -> dict[int, list[Result]]:
    """Scans at growing T, each started a little below the m* that `guide` or the previous T predicts:
    {T: results}."""
    found, previous = {}, None
    for T in sorted(Ts):
        if guide and guide.get(T):
            start = START_BELOW * guide[T]
        elif previous is not None:
            start = START_BELOW * previous[1] * START_GROWTH[model] ** math.log2(T / previous[0])
        else:
            start = FIRST_START[model]
        found[T] = scan(model, T, scale, seed, start=start, past=past, **changes)
        star = critical_m(found[T])
        if star is not None:
            previous = (T, star)
    return found


def recipe_name(recipe: dict) -> str:
    return ", ".join(f"{key} {value:g}" for key, value in recipe.items())


def _tasks(scale: str, seed: int) -> dict[str, dict]:
    """Every chain the chapter needs, by name. The variants of the attention recipe are `guided` by
    the main chain's m*."""
    plan = SCALES[scale]
    # the main chain goes a grid step past each m*, so that its bootstrap intervals have an upper end
    tasks = {"attention": dict(model="attention", Ts=plan["Ts"], past=1)}
    for recipe in MLP_TUNING:
        tasks[f"mlp, {recipe_name(recipe)}"] = dict(model="mlp", Ts=plan["mlp_Ts"], changes=recipe)
    tasks["weight_decay"] = dict(model="attention", Ts=plan["weight_decay_Ts"],
                                 changes={"weight_decay": WEIGHT_DECAY}, guided=True)
    for lr in ATTENTION_LRS[1:]:
        tasks[f"lr {lr:g}"] = dict(model="attention", Ts=plan["recipe_Ts"], changes={"lr": lr}, guided=True)
    return {name: {**task, "scale": scale, "seed": seed} for name, task in tasks.items()}


def _run_chain(model: str, Ts, scale: str, seed: int, changes: dict | None = None, guided: bool = False,
               past: int = 0):
    guide = None
    if guided:  # the main chain up to these T, from the cache once it has got that far
        main = chain("attention", [T for T in SCALES[scale]["Ts"] if T <= max(Ts)], scale, seed, past=1)
        guide = {T: critical_m(results) for T, results in main.items()}
    return chain(model, Ts, scale, seed, guide=guide, past=past, **(changes or {}))


def _run_chains(tasks: list[dict]) -> None:
    for task in tasks:
        _run_chain(**task)  # results land in the cache; the parent reads them back


def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict:
    """Every scan of the chapter, in parallel, from the cache when it is there:

    - "attention": {T: results}, the [CLS] block with its recipe;
    - "mlp": {T: results}, the tuned baseline, the best recipe of MLP_TUNING at each T;
    - "mlp_tuning": {recipe name: {T: results}};
    - "weight_decay": {T: results}, the [CLS] block trained with AdamW's weight decay;
    - "learning_rates": {lr: {T: results}}, the [CLS] block at each of ATTENTION_LRS.

    One process runs the main attention chain; the other the MLP's chains and then the variants of
    the attention recipe, which the main chain's m* guide (it is done by then; were it not, the cache's
    entry locks would have the two processes share its cells, not compute them twice).
    """
    scale = resolve_scale(scale)
    tasks = _tasks(scale, seed)
    groups = [[tasks["attention"]], [task for name, task in tasks.items() if name != "attention"]]
    sweep(_run_chains, [{"tasks": group} for group in groups], n_jobs=n_jobs)
    chains = {name: _run_chain(**task) for name, task in tasks.items()}
    tuning = {recipe_name(recipe): chains[f"mlp, {recipe_name(recipe)}"] for recipe in MLP_TUNING}
    learning_rates = {ATTENTION_LRS[0]: {T: chains["attention"][T] for T in SCALES[scale]["recipe_Ts"]},
                      **{lr: chains[f"lr {lr:g}"] for lr in ATTENTION_LRS[1:]}}
    return {"attention": chains["attention"], "mlp": best_recipe(tuning), "mlp_tuning": tuning,
            "weight_decay": chains["weight_decay"], "learning_rates": learning_rates}


def best_recipe(tuning: dict[str, dict[int, list[Result]]]) -> dict[int, list[Result]]:
    """At each T, the scan of the recipe with the smallest m* (ties: the higher success rate there)."""
    def rank(results):
        star = critical_m(results)
        at_star = next((success_rate(r) for r in results if r.metrics["config"]["m"] == star), 0.0)
        return (math.inf if star is None else star, -at_star)

    Ts = sorted(set.intersection(*(set(scans) for scans in tuning.values())))
    return {T: min((scans[T] for scans in tuning.values()), key=rank) for T in Ts}


def critical_ms(scans: dict[int, list[Result]]) -> list[int | None]:
    return [critical_m(scans[T]) for T in sorted(scans)]


# ----------------------------------------------------------------------------- what the scans say

def critical_m_interval(results: list[Result], confidence: float = 0.95, draws: int = 2000,
                        seed: int = 0) -> list[float | None]:
    """A bootstrap interval for m* over seeds: the seeds are drawn again with replacement (the same
    draw at every m, since replicate i is seed i in every cell) and m* found again. An end beyond the
    scanned m is None; below the smallest scanned m the interval can say only "at most that"."""
    stars = resampled_critical_ms(results, np.random.default_rng(seed), draws)
    low, high = np.quantile(stars, [(1 - confidence) / 2, (1 + confidence) / 2], method="nearest")
    return [None if np.isinf(low) else float(low), None if np.isinf(high) else float(high)]


def resampled_critical_ms(results: list[Result], rng: np.random.Generator, draws: int) -> np.ndarray:
    """m* after drawing the seeds again with replacement, `draws` times (the same draw at every m, since
    replicate i has the same seed in every cell): (draws,), inf where no scanned m reaches half."""
    success = np.array([r.metrics["success"] for r in results], dtype=float)  # (cells, seeds)
    ms = np.array([r.metrics["config"]["m"] for r in results], dtype=float)
    picks = rng.integers(0, success.shape[1], size=(draws, success.shape[1]))
    reached = success[:, picks].mean(-1) >= 0.5  # (cells, draws)
    return np.where(reached.any(0), ms[reached.argmax(0)], np.inf)


def log_fit(Ts: list[int], values: list[float]) -> dict:
    """Least squares m* = a + b ln T, with its r^2 (scipy's linregress)."""
    # scipy is imported here, not at the top: only the runs that use it pay its second of loading
    from scipy.stats import linregress

    fit = linregress(np.log(Ts), values)
    return {"a": float(fit.intercept), "b": float(fit.slope), "r2": float(fit.rvalue**2)}


def power_fit(Ts: list[int], values: list[float]) -> dict:
    """Least squares m* = c T^p on m* itself (as the log law is fitted), started from the log-log line,
    with its r^2."""
    from scipy.optimize import OptimizeWarning, curve_fit
    from scipy.stats import linregress

    Ts, values = np.asarray(Ts, dtype=float), np.asarray(values, dtype=float)
    start = linregress(np.log(Ts), np.log(values))
    with warnings.catch_warnings():  # the fit's covariance, which three points cannot give, is not used
        warnings.simplefilter("ignore", OptimizeWarning)
        (c, p), _ = curve_fit(lambda T, c, p: c * T**p, Ts, values, p0=(math.exp(start.intercept), start.slope),
                              maxfev=10000)
    residual = values - c * Ts**p
    return {"c": float(c), "exponent": float(p),
            "r2": float(1 - residual @ residual / ((values - values.mean()) @ (values - values.mean())))}


def polylog_fit(Ts: list[int], values: list[float]) -> dict:
    """Least squares m* = c (ln T)^k on m* itself: the growth the theorem allows once the norms it
    bounds must themselves grow like log T to represent the function."""
    return power_fit(np.log(np.asarray(Ts, dtype=float)), values)


def predict(law: str, fit: dict, T) -> np.ndarray:
    T = np.asarray(T, dtype=float)
    if law == "log":
        return fit["a"] + fit["b"] * np.log(T)
    return fit["c"] * (T if law == "power" else np.log(T)) ** fit["exponent"]


LAWS = ("log", "power", "polylog")
FITS = {"log": log_fit, "power": power_fit, "polylog": polylog_fit}


def residual_sum_of_squares(law: str, fit: dict, Ts, values) -> float:
    """Floored so that an exact fit (made-up data) still gives a finite likelihood ratio."""
    values = np.asarray(values, dtype=float)
    return max(float(np.sum((values - predict(law, fit, Ts)) ** 2)), 1e-12 * float(np.sum(values**2)))


def log_likelihood_ratio(n: int, rss_first: float, rss_second: float) -> float:
    """Gaussian errors, both laws with two parameters: ln L(second) - ln L(first), reading a value beyond
    1 (a factor e, Akaike's rule for equal parameter counts) as favouring the second law."""
    return n / 2 * math.log(rss_first / rss_second)


def favoured_law(ratio: float) -> str:
    """From `log_likelihood_ratio(n, rss_power, rss_log)`."""
    return "log" if ratio > 1 else "power" if ratio < -1 else "neither"


def compare_laws(Ts: list[int], values: list[float], fitted_up_to: int, interval_width: float) -> dict:
    """m* = a + b ln T against m* = c T^p (and m* = c (ln T)^k), each with two parameters.

    - Out of sample: each law is fitted on T <= `fitted_up_to` and predicts the longer contexts; its
      `extrapolation_error` is the mean relative error there.
    - On all points: both fitted by least squares with Gaussian errors, so their log-likelihoods differ
      by (n/2) ln(RSS_power / RSS_log); `log_likelihood_ratio` > 0 favours the log law. Akaike's
      rule (the same number of parameters) reads a ratio beyond 1 (a factor e) as favouring a law.
      `polylog_vs_power` is the same ratio for (ln T)^k against T^p.
    - `separating_T`: the shortest context, doubling from the longest measured, at which the log and
      power laws fitted on all points differ by more than `interval_width` (a bootstrap interval's
      width relative to m*), that is, how far the range would have to extend to tell them apart.
    """
    Ts, values = list(Ts), [float(v) for v in values]
    inside = [i for i, T in enumerate(Ts) if T <= fitted_up_to]
    outside = [i for i, T in enumerate(Ts) if T > fitted_up_to]
    fits = {}
    for law in LAWS:
        fit = FITS[law](Ts, values)
        early = FITS[law]([Ts[i] for i in inside], [values[i] for i in inside])
        guesses = predict(law, early, [Ts[i] for i in outside])
        fit["extrapolation_error"] = (float(np.mean([abs(g - values[i]) / values[i] for g, i in zip(guesses, outside)]))
                                      if outside else None)
        fit["predicted"] = {str(Ts[i]): float(g) for g, i in zip(guesses, outside)}
        fit["rss"] = residual_sum_of_squares(law, fit, Ts, values)
        fits[law] = fit
    ratio = log_likelihood_ratio(len(Ts), fits["power"]["rss"], fits["log"]["rss"])
    favoured = favoured_law(ratio)
    separating = None
    for doublings in range(0, 21):
        T = Ts[-1] * 2**doublings
        guesses = [float(predict(law, fits[law], T)) for law in ("log", "power")]
        if abs(guesses[0] - guesses[1]) > interval_width * np.mean(guesses):
            separating = T
            break
    polylog = log_likelihood_ratio(len(Ts), fits["power"]["rss"], fits["polylog"]["rss"])
    return {**fits, "log_likelihood_ratio": float(ratio), "favoured": favoured, "fitted_up_to": fitted_up_to,
            "separating_T": separating, "polylog_vs_power": float(polylog)}


def law_bootstrap(scans: dict[int, list[Result]], draws: int = 300, seed: int = 0) -> dict:
    """How firmly the seeds support the favoured law: the seeds of every T drawn again with replacement,
    m* found again at each T, both laws refitted and compared as in `compare_laws`. Returns the share
    of draws favouring each law and neither, over the draws where every T has an m* within its scan."""
    rng = np.random.default_rng(seed)
    Ts = sorted(scans)
    stars = np.stack([resampled_critical_ms(scans[T], rng, draws) for T in Ts], 1)  # (draws, Ts)
    verdicts = []
    for values in stars[np.isfinite(stars).all(1)]:
        rss = {law: residual_sum_of_squares(law, FITS[law](Ts, values), Ts, values) for law in ("log", "power")}
        verdicts.append(favoured_law(log_likelihood_ratio(len(Ts), rss["power"], rss["log"])))
    return {law: verdicts.count(law) / len(verdicts) for law in ("log", "power", "neither")} | {"draws": len(verdicts)}


def relative_interval_width(results: list[Result]) -> float:
    """The bootstrap interval of m* as a fraction of m* (a missing end counts as the scan's edge)."""
    star = critical_m(results)
    low, high = critical_m_interval(results)
    ms = [r.metrics["config"]["m"] for r in results]
    return float(((high or max(ms)) - (low or min(ms))) / star)


def grows_like_log(Ts: list[int], values: list[float], fitted_up_to: int | None = None) -> bool:
    """The chapter's verdict "m* grows like log T": the log law is not disfavoured on all points and
    it predicts the longest contexts better than the power law does. Fails for values proportional
    to T^0.5, and for a power law of smaller exponent once the range can tell them apart."""
    fitted_up_to = fitted_up_to or Ts[len(Ts) // 2]
    laws = compare_laws(Ts, values, fitted_up_to, interval_width=0.0)
    return laws["favoured"] != "power" and laws["log"]["extrapolation_error"] <= laws["power"]["extrapolation_error"]


def norm_summary(scans: dict[int, list[Result]]) -> dict[str, dict]:
    """Per T, the medians over the solved runs (every cell of the scan) of the norms the theorem bounds."""
    table = {}
    for T, results in sorted(scans.items()):
        solved = [(r.metrics["norms"], i) for r in results for i, ok in enumerate(r.metrics["success"]) if ok]
        if solved:
            table[str(T)] = {key: float(np.median([norms[key][i] for norms, i in solved]))
                             for key in ("qk", "value", "position")} | {"runs": len(solved)}
    return table


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
    """The runs that still fail at m above m*: how many, their test accuracy, their [CLS] attention on
    the support (median), and how many of them put less than a tenth and more than half of it there."""
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
            "median_attention_on_support": float(np.median(masses)) if masses else None,
            "below_tenth": sum(mass < 0.1 for mass in masses), "above_half": sum(mass > 0.5 for mass in masses)}


def fitted_up_to(Ts) -> int:
    """The laws are fitted on T up to a quarter of the longest context and judged on the rest."""
    return max(T for T in Ts if T <= Ts[-1] // 4)


def growth(Ts, values, up_to: int | None = None) -> float | None:
    chosen = [v for T, v in zip(Ts, values) if up_to is None or T <= up_to]
    return None if None in chosen else chosen[-1] / chosen[0]


def summary(found: dict) -> dict:
    Ts = sorted(found["attention"])
    attention = critical_ms(found["attention"])
    baseline_Ts = sorted(found["mlp"])
    baseline = critical_ms(found["mlp"])
    report = {"T": Ts, "critical_m": attention,
              "critical_m_ci": [critical_m_interval(found["attention"][T]) for T in Ts],
              "replicates": [found["attention"][T][0].metrics["config"]["replicates"] for T in Ts],
              "growth": growth(Ts, attention),
              "baseline_T": baseline_Ts, "baseline_critical_m": baseline,
              "baseline_recipe": {str(T): recipe_name({key: found["mlp"][T][0].metrics["config"][key]
                                                       for key in ("width", "lr")}) for T in baseline_Ts},
              "baseline_tuning": {name: critical_ms(scans) for name, scans in found["mlp_tuning"].items()},
              "baseline_growth": growth(baseline_Ts, baseline),
              "growth_over_baseline_range": growth(Ts, attention, up_to=baseline_Ts[-1])}
    if None not in attention:
        # two laws are told apart where they differ by more than the interval of the longest context
        width = relative_interval_width(found["attention"][Ts[-1]])
        report["fits"] = compare_laws(Ts, attention, fitted_up_to(Ts), width)
        report["grows_like_log"] = grows_like_log(Ts, attention, fitted_up_to(Ts))
        report["fits"]["bootstrap"] = law_bootstrap(found["attention"])
    report["norms"] = norm_summary(found["attention"])
    decayed = found["weight_decay"]
    report["weight_decay"] = {"weight_decay": WEIGHT_DECAY, "T": sorted(decayed), "critical_m": critical_ms(decayed),
                              "critical_m_ci": [critical_m_interval(decayed[T]) for T in sorted(decayed)],
                              "norms": norm_summary(decayed)}
    report["recipes"] = [{"lr": lr, "T": T, "critical_m": critical_m(results)}
                         for lr, scans in found["learning_rates"].items() for T, results in sorted(scans.items())]
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
            "curves": {model: {str(T): curves(results) for T, results in found[model].items()}
                       for model in MODELS},
            "training_recipes": RECIPES, "mlp_tuning_grid": list(MLP_TUNING), "plan": SCALES[scale]}


def every_result(found: dict) -> list[Result]:
    """Every cell behind the chapter, once (the baseline's scans are among the tuning's)."""
    groups = [found["attention"], found["weight_decay"], *found["mlp_tuning"].values(),
              *(scans for lr, scans in found["learning_rates"].items() if lr != ATTENTION_LRS[0])]
    return [r for scans in groups for results in scans.values() for r in results]


def reproducibility_card(found: dict) -> dict:
    results = every_result(found)
    return {
        "experiment": NAME,
        "version": VERSION,
        "recipes": RECIPES,
        "mlp_tuning": [recipe_name(recipe) for recipe in MLP_TUNING],
        "weight_decay_variant": WEIGHT_DECAY,
        "attention_learning_rates": list(ATTENTION_LRS),
        "T": sorted(found["attention"]),
        "replicates": {**{f"attention, T = {T}": found["attention"][T][0].metrics["config"]["replicates"]
                          for T in sorted(found["attention"])},
                       "mlp": next(iter(found["mlp"].values()))[0].metrics["config"]["replicates"]},
        "m_grid": "10 x sqrt(2)^i; each T's scan starts a little below the m* the previous T predicts",
        "cells_trained": len(results),
        "wall_seconds_when_trained": round(sum(r.metrics["wall_seconds"] for r in results), 1),
        "loaded_from_cache": all(r.from_cache for r in results),
        **runtime.environment(threads_per_run=1),
        "full_scale": SCALES["full"],
    }


# ----------------------------------------------------------------------------- the page's numbers and verdicts

def trend(values: list[float]) -> str:
    """A norm's trend over growing T in words: steady (Spearman rank correlation beyond 0.8 in size
    and a change of more than 10% end to end), or none."""
    from scipy.stats import spearmanr

    rho = spearmanr(range(len(values)), values).statistic
    change = values[-1] / values[0]
    if rho >= 0.8 and change > 1.1:
        return "grows steadily"
    if rho <= -0.8 and change < 1 / 1.1:
        return "falls steadily"
    return "has no steady trend"


def _inside(m: int | None, interval: list[float | None]) -> bool:
    """Whether m lies in a bootstrap interval whose missing ends are open."""
    low, high = interval
    return m is not None and (low or 0) <= m <= (high or math.inf)


def _ratio(first, last) -> str:
    return f"{last / first:.1f}"


def page_values(report: dict) -> dict[str, str]:
    """Every number and verdict the chapter's prose shows, formatted, keyed by the glue name (without
    the chapter's prefix). The sentences that interpret a result are chosen here from the measurement,
    so the page cannot claim what its run did not show."""
    Ts, stars = report["T"], report["critical_m"]
    fits = report["fits"]
    values = {"T_min": Ts[0], "T_max": Ts[-1], "T_ratio": Ts[-1] // Ts[0], "first": stars[0], "last": stars[-1],
              "growth": f"{report['growth']:.1f}", "replicates": report["replicates"][0],
              "long_replicates": report["replicates"][-1],
              "long_from": next(T for T, r in zip(Ts, report["replicates"]) if r == report["replicates"][-1]),
              "cut": fits["fitted_up_to"],
              "held_out": " and ".join(str(T) for T in Ts if T > fits["fitted_up_to"])}
    for law in LAWS:
        values[f"{law}_error"] = f"{fits[law]['extrapolation_error']:.0%}"
    values["power_exponent"] = f"{fits['power']['exponent']:.2f}"
    ratio = fits["log_likelihood_ratio"]
    values["likelihood_factor"] = f"{math.exp(abs(ratio)):,.0f}"
    values["law_verdict"] = {
        "power": "On these seeds the data favour the small power law",
        "log": "On these seeds the data favour the logarithm",
        "neither": "On these seeds the data cannot choose between the two laws"}[fits["favoured"]]
    shares = fits["bootstrap"]
    values["bootstrap_sentence"] = (
        f"But the seeds decide much of this: drawing them again with replacement (at every T, "
        f"{shares['draws']} times) and repeating the comparison favours the power law in {shares['power']:.0%} of "
        f"the draws, the logarithm in {shares['log']:.0%}, and neither in {shares['neither']:.0%}.")
    firm = max(shares["power"], shares["log"]) >= 0.8
    leaning = "power" if shares["power"] > shares["log"] else "log"
    values["law_consequence"] = (
        ("So this measurement does not show m* growing like log T: over this range its growth is better "
         "described as a small power of T." if leaning == "power" else
         "So over this range m* grows like log T, as the theorem's bound suggests.") if firm else
        ("So this measurement leans towards a small power of T over log T, without settling it: that m* grows "
         "like log T is neither shown nor ruled out here." if shares["power"] > 2 * shares["log"] else
         "So this measurement cannot say whether m* grows like log T or like a small power of T."))
    polylog = fits["polylog_vs_power"]
    fitted = (f"m* = c (ln T)^k, with its best k = {fits['polylog']['exponent']:.2f}, misses the held-out contexts "
              f"by {fits['polylog']['extrapolation_error']:.0%} and")
    values["polylog_sentence"] = (
        f"Over this range such a law is hard to tell from T^p: {fitted} fits about as well as the power law."
        if abs(polylog) <= 1 else
        f"Here it even does better than T^p: {fitted} fits better than the power law, by a likelihood factor "
        f"{math.exp(polylog):,.0f}." if polylog > 1 else
        f"Here that does not rescue a logarithmic law: {fitted} fits worse than T^p, by a likelihood factor "
        f"{math.exp(-polylog):,.0f}.")
    separating = fits["separating_T"]
    values["separating_sentence"] = (
        "the log and power laws fitted here already differ by more than that interval within the measured range"
        if separating == Ts[-1] else
        f"the log and power laws fitted here would differ by more than that interval only from T = {separating:,}, "
        f"contexts {separating // Ts[-1]} times longer than the longest measured" if separating else
        f"the log and power laws fitted here would not differ by more than that interval before T = "
        f"{Ts[-1] * 2**20:,}")
    values["baseline_growth"] = f"{report['baseline_growth']:.1f}"
    values["baseline_first"] = report["baseline_critical_m"][0]
    values["baseline_last"] = report["baseline_critical_m"][-1]
    values["baseline_T_max"] = report["baseline_T"][-1]
    values["baseline_T_ratio"] = report["baseline_T"][-1] // report["baseline_T"][0]
    values["growth_same_range"] = f"{report['growth_over_baseline_range']:.1f}"
    values["baseline_recipes"] = " and ".join(f"({name})" for name in sorted(set(report["baseline_recipe"].values())))
    norms, decayed = report["norms"], report["weight_decay"]
    wd_Ts = sorted(decayed["norms"], key=int)
    for key in ("qk", "value", "position"):
        values[f"norm_{key}_trend"] = trend([norms[str(T)][key] for T in Ts])
        values[f"norm_{key}_path"] = " → ".join(f"{norms[str(T)][key]:.1f}" for T in Ts)
    for key in ("qk", "position"):
        values[f"wd_{key}_first"] = f"{decayed['norms'][wd_Ts[0]][key]:.1f}"
        values[f"wd_{key}_last"] = f"{decayed['norms'][wd_Ts[-1]][key]:.1f}"
    values["wd"] = f"{decayed['weight_decay']:g}"
    values["wd_Ts"] = ", ".join(str(T) for T in decayed["T"])
    values["wd_m"] = ", ".join(str(m) for m in decayed["critical_m"])
    values["adam_m_at_wd_Ts"] = ", ".join(str(stars[Ts.index(T)]) for T in decayed["T"])
    inside = [_inside(m, report["critical_m_ci"][Ts.index(T)]) for T, m in zip(decayed["T"], decayed["critical_m"])]
    values["wd_verdict"] = (f"the weight-decay m* lies inside the bootstrap interval of the run without it at "
                            f"{sum(inside)} of {len(inside)} context lengths")
    values["wd_conclusion"] = (
        "So bounding the norms makes no difference to m* that these seeds can detect." if all(inside) else
        "So bounding the norms moves m* at some T by more than these seeds' spread; the comparison is unpaired, "
        "and a grid step is a factor 1.4.")
    decayed_lower = all(decayed["norms"][T][key] < norms[T][key]
                        for T in decayed["norms"] for key in ("qk", "position"))
    values["wd_norms_verdict"] = ("Weight decay holds the query-key and position norms lower at every T both measured"
                                  if decayed_lower else "Weight decay does not hold every norm lower")
    values["position_sentence"] = (
        "The positions' steady growth is one way to pay for that." if values["norm_position_trend"] == "grows steadily"
        else "The positions do not grow steadily, so that is not how these heads pay for it.")
    by_lr = {}
    for row in report["recipes"]:
        by_lr.setdefault(row["lr"], {})[row["T"]] = row["critical_m"]
    (lr_main, main), (lr_other, other) = list(by_lr.items())[:2]
    short, long = sorted(main)[0], sorted(main)[-1]
    other_inside = _inside(other[long], report["critical_m_ci"][Ts.index(long)])
    values["lr_verdict"] = ("inside the interval of the main recipe" if other_inside else
                            "outside the interval of the main recipe: the growth of m* with T, and so the law it "
                            "suggests, depends on the learning rate")
    values.update({"lr_main": f"{lr_main:g}", "lr_other": f"{lr_other:g}", "lr_short": short, "lr_long": long,
                   "lr_main_short": main[short], "lr_main_long": main[long], "lr_other_short": other[short],
                   "lr_other_long": other[long], "lr_main_growth": _ratio(main[short], main[long]),
                   "lr_other_growth": _ratio(other[short], other[long])})
    solved = report["attention_on_support"]
    values["mass_mean"] = f"{solved['mean']:.2f}"
    values["mass_share"] = f"{solved['share_above_half']:.0%}"
    values["mass_runs"] = solved["solved_runs"]
    values["unsolved_mean"] = f"{report['attention_on_support_unsolved']['mean']:.2f}"
    values["uniform_low"] = f"{3 / (Ts[-1] + 1):.3f}"
    values["uniform_high"] = f"{3 / (Ts[0] + 1):.2f}"
    values["baseline_slope"] = f"{power_fit(report['baseline_T'], report['baseline_critical_m'])['exponent']:.2f}"
    return values
