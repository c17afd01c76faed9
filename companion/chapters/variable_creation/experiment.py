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

from companion.core.cache import Result, cached_training
from companion.core.config import check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import EnsembleMLP
from companion.core.runtime import derived_generator
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
        q = torch.einsum("rij,rj->ri", self.query, self.cls)  # W_Q c, (R, d)
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
