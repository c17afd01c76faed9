"""Statistical induction heads: transformers learning Markov chains in context.

After Edelman, Edelman, Goel, Malach and Tsilivis (2024). Every training sequence comes from its own
Markov chain, drawn fresh from a prior, so no chain can be memorised: to predict the next token the
model has to estimate the chain from the context. The story, in the order of this module:

1. data: priors over transition matrices, and sequences sampled from them (vectorised in torch);
2. the in-context strategies the model is compared with: uniform, unigram, bigram (n-gram in general);
3. the model: a two-layer attention-only transformer with relative-position biases;
4. training, measured on a fixed test set at log-spaced steps: KL divergences to the truth and to each
   strategy, attention snapshots, and scores for the two heads that implement the bigram solution.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from companion.core.cache import Result, cached_training
from companion.core.config import check_bool, check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import Transformer
from companion.core.runtime import set_seed
from companion.core.training import log_spaced_steps, train

NAME = "induction-heads"
VERSION = 5  # 3: measured in chunks; 4: fused AdamW (float reassociation only); 5: the paper's optimiser, test prior
PRIORS = ("dirichlet", "doubly-stochastic", "iid", "mixture")
OPTIMISERS = ("adamw", "paper")
POSITIONAL_SCHEMES = ("relative", "relative-vector")
DISPLAY_LENGTH = 40  # positions of one test sequence whose attention is kept at every snapshot
EVALUATION_CHUNK = 64  # test sequences per forward pass when measuring


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    """One training run. ``ngram=2`` is the bigram task of the paper; 3 is its trigram extension."""

    k: int = 3  # number of states
    seq_len: int = 100  # T
    prior: str = "dirichlet"
    alpha: float = 1.0  # Dirichlet concentration of each row
    ngram: int = 2
    d_model: int = 16
    n_layers: int = 2
    n_heads: int = 1
    layer_norm: bool = True  # lets the read-out turn averaged counts into log-probabilities
    init_std: float = 0.02  # small initial weights, so training starts from uniform predictions
    # "relative": a learned scalar per head and offset added to the scores (ours); "relative-vector": a
    # learned vector per offset inside the query-key product (the paper's code)
    positional: str = "relative"
    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    steps: int = 2000
    n_evals: int = 60
    test_size: int = 512
    # "paper": the official ICL-MC trainer's AdamW (betas 0.9 and 0.95, weight decay on the matrices only,
    # gradients clipped to norm 1); "adamw": plain AdamW with `weight_decay` on every parameter
    optimiser: str = "adamw"
    eval_every: int = 0  # evaluate every this many steps; 0: at n_evals log-spaced steps
    test_prior: str = ""  # the prior of the test set's chains; "": the training prior
    seed: int = 0

    def __post_init__(self):
        check_int("k", self.k, 2, 16)
        check_int("seq_len", self.seq_len, 8, 1024)
        check_choice("prior", self.prior, PRIORS)
        check_float("alpha", self.alpha, 0, 100, low_inclusive=False)
        check_int("ngram", self.ngram, 1, 4)
        check_int("d_model", self.d_model, 2, 512)
        check_int("n_layers", self.n_layers, 1, 8)
        check_int("n_heads", self.n_heads, 1, 8)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model must be divisible by n_heads, got {self.d_model} and {self.n_heads}")
        check_float("lr", self.lr, 0, 1, low_inclusive=False)
        check_float("weight_decay", self.weight_decay, 0, 10)
        check_float("init_std", self.init_std, 0, 1, low_inclusive=False)
        check_int("batch_size", self.batch_size, 1, 4096)
        check_int("steps", self.steps, 1, 10**6)
        check_int("n_evals", self.n_evals, 2, 1000)
        check_int("test_size", self.test_size, 8, 100_000)
        check_seed("seed", self.seed)
        check_bool("layer_norm", self.layer_norm)
        check_choice("optimiser", self.optimiser, OPTIMISERS)
        check_choice("positional", self.positional, POSITIONAL_SCHEMES)
        check_int("eval_every", self.eval_every, 0, self.steps)
        if self.test_prior:
            check_choice("test_prior", self.test_prior, PRIORS)
        if self.prior in ("doubly-stochastic", "mixture") and self.ngram != 2:
            raise ValueError(f"prior={self.prior!r} needs ngram=2, got ngram={self.ngram}")


SCALES = {
    "test": dict(steps=1000, n_evals=30, test_size=256, lr=5e-3),
    "book": dict(steps=1500, n_evals=50, test_size=512, lr=2e-3),
    "full": dict(steps=6000, n_evals=80, test_size=2048, lr=2e-3),
}
# The trigram extension (full scale): two heads in the first layer, one per earlier position to copy.
TRIGRAM = dict(ngram=3, n_heads=2, d_model=32, steps=8000)


def config_for(scale: str | None = None, seed: int = 0, **overrides) -> Config:
    """The chapter's settings at a scale (``test``, ``book`` or ``full``), with any overrides."""
    return Config(**{**SCALES[resolve_scale(scale)], "seed": seed, **overrides})


# ----------------------------------------------------------------------------- data

def sample_transitions(n: int, k: int, prior: str, alpha: float, ngram: int,
                       generator: torch.Generator) -> torch.Tensor:
    """n transition tables of shape (k**(ngram-1), k): row c is P(next | previous ngram-1 tokens = c).

    - dirichlet: each row independently Dirichlet(alpha);
    - doubly-stochastic: a Dirichlet matrix scaled by Sinkhorn until its columns also sum to one,
      so the stationary distribution is uniform and in-context unigram counts carry no signal;
    - iid: all rows equal (tokens are independent draws), so the unigram strategy is optimal;
    - mixture: each chain takes one of the three priors above with equal probability.
    """
    contexts = k ** (ngram - 1)
    if prior == "mixture":
        parts = [sample_transitions(n, k, p, alpha, ngram, generator)
                 for p in ("dirichlet", "doubly-stochastic", "iid")]
        which = torch.randint(3, (n,), generator=generator)
        return torch.stack(parts)[which, torch.arange(n)]
    gamma = torch.distributions.Gamma(torch.full((n, contexts, k), float(alpha)), torch.tensor(1.0))
    # torch's Gamma sampler takes no generator: draw from a generator-seeded global state
    # (the default generator's own manual_seed: torch.manual_seed also queues a seed for every accelerator
    # backend, recording a stack trace each time, which cost more than the draws themselves)
    state = torch.default_generator.get_state()
    torch.default_generator.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
    draws = gamma.sample()
    torch.default_generator.set_state(state)
    if prior == "iid":
        draws = draws[:, :1].expand(n, contexts, k)
    table = draws / draws.sum(-1, keepdim=True)
    if prior == "doubly-stochastic":
        for _ in range(200):
            table = table / table.sum(-2, keepdim=True)
            table = table / table.sum(-1, keepdim=True)
    return table.contiguous()


def stationary(transitions: torch.Tensor, k: int, ngram: int) -> torch.Tensor:
    """Stationary distribution over contexts (n, k**(ngram-1)) of the chain on context tuples."""
    n, contexts, _ = transitions.shape
    if ngram == 1:
        return torch.ones(n, 1)
    # moving from context c = (.., a, b) to (.., b, x): the new context drops its oldest token
    chain = torch.zeros(n, contexts, contexts, dtype=torch.float64)
    source = torch.arange(contexts)
    for x in range(k):
        target = (source * k) % contexts + x
        chain[:, source, target] += transitions[:, :, x].double()
    system = chain.transpose(1, 2) - torch.eye(contexts, dtype=torch.float64)
    system[:, -1, :] = 1.0
    rhs = torch.zeros(n, contexts, dtype=torch.float64)
    rhs[:, -1] = 1.0
    pi = torch.linalg.solve(system, rhs).clamp(min=0)
    return (pi / pi.sum(-1, keepdim=True)).float()


def sample_sequences(transitions: torch.Tensor, length: int, k: int, ngram: int,
                     generator: torch.Generator) -> torch.Tensor:
    """Token sequences (n, length); the first ngram-1 tokens come from the stationary distribution."""
    n, contexts, _ = transitions.shape
    width = ngram - 1
    tokens = torch.empty(n, length, dtype=torch.long)
    if width:
        first = torch.multinomial(stationary(transitions, k, ngram), 1, generator=generator)[:, 0]
        for j in range(width):  # unpack the context index into its tokens, oldest first
            tokens[:, j] = (first // k ** (width - 1 - j)) % k
    uniforms = torch.rand(n, length, generator=generator)
    # the walk is sequential, so first settle, for every position and every context at once, which token
    # that position's uniform draw picks; the walk then only looks up (numpy: a step is a few microseconds)
    successor = torch.empty(n, length, contexts, dtype=torch.long)
    cumulative = transitions.cumsum(-1)[:, None]  # (n, 1, contexts, k)
    chunk = max(1, 2**22 // (n * contexts * k))  # positions at a time, so a large alphabet stays in memory
    for start in range(0, length, chunk):
        draws = uniforms[:, start:start + chunk, None, None]
        successor[:, start:start + chunk] = (draws > cumulative).sum(-1).clamp(max=k - 1)
    walk, table, rows = tokens.numpy(), successor.numpy(), np.arange(n)
    context = context_index(tokens[:, :width], k).numpy()
    for t in range(width, length):
        walk[:, t] = table[rows, t, context]
        context = (context * k + walk[:, t]) % contexts  # drop the oldest token, append the new one
    return tokens


def context_index(window: torch.Tensor, k: int) -> torch.Tensor:
    """Index of each row's context tuple (oldest token most significant); window is (..., ngram-1)."""
    index = torch.zeros(window.shape[:-1], dtype=torch.long)
    for j in range(window.shape[-1]):
        index = index * k + window[..., j]
    return index


def sample_batch(config: Config, n: int, generator: torch.Generator, prior: str | None = None):
    transitions = sample_transitions(n, config.k, prior or config.prior, config.alpha, config.ngram, generator)
    return sample_sequences(transitions, config.seq_len, config.k, config.ngram, generator), transitions


# ----------------------------------------------------------------------------- in-context strategies

def ngram_strategy(tokens: torch.Tensor, k: int, n: int) -> torch.Tensor:
    """Add-one in-context n-gram predictions for the token after each position, (B, T, k).

    n=1 is the unigram strategy (count_i + 1) / (t + 1 + k) over the tokens seen so far; n=2 the
    bigram strategy (N(x_t -> i) + 1) / (N(x_t -> .) + k), Bayes-optimal under a Dirichlet(1) prior.
    Positions with fewer than n-1 tokens of context see no counts and predict uniformly.
    """
    B, T = tokens.shape
    width = n - 1
    contexts = k**width
    if width == 0:
        row = F.one_hot(tokens, k).float().cumsum(1)  # counts of each state in positions 0..t
        return (row + 1) / (row.sum(-1, keepdim=True) + k)
    # transition s: the context ending at s-1 followed by x_s; seen from position s on
    ends = torch.arange(width, T)
    seen = torch.zeros(B, T, contexts, k)
    seen[:, ends] = (F.one_hot(context_index(_windows(tokens, ends - 1, width), k), contexts)[..., None]
                     * F.one_hot(tokens[:, ends], k)[..., None, :]).float()
    counts = seen.cumsum(1)  # (B, T, contexts, k)
    # at position t the current context is the window ending at t
    current = torch.zeros(B, T, dtype=torch.long)
    ends = torch.arange(width - 1, T)
    current[:, ends] = context_index(_windows(tokens, ends, width), k)
    row = counts.gather(2, current[:, :, None, None].expand(B, T, 1, k))[:, :, 0]
    probs = (row + 1) / (row.sum(-1, keepdim=True) + k)
    probs[:, : width - 1] = 1.0 / k
    return probs


def _windows(tokens: torch.Tensor, ends: torch.Tensor, width: int) -> torch.Tensor:
    """The `width` tokens ending at each position in `ends`, oldest first: (B, len(ends), width)."""
    return torch.stack([tokens[:, ends - width + 1 + j] for j in range(width)], -1)


def true_next(tokens: torch.Tensor, transitions: torch.Tensor, k: int, ngram: int) -> torch.Tensor:
    """The true distribution of the token after each position, (B, T, k); uniform before a full context."""
    B, T = tokens.shape
    width = ngram - 1
    probs = torch.full((B, T, k), 1.0 / k)
    if width == 0:
        return transitions[:, 0][:, None].expand(B, T, k).clone()
    ends = torch.arange(width - 1, T)
    probs[:, ends] = transitions[torch.arange(B)[:, None], context_index(_windows(tokens, ends, width), k)]
    return probs


def kl(p: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """KL(p || q) in nats per position, q given by its log-probabilities."""
    return (p * (p.clamp_min(1e-30).log() - q_log)).sum(-1)


# ----------------------------------------------------------------------------- the heads

def previous_token_score(attention: torch.Tensor) -> torch.Tensor:
    """Mean attention (B, H, T, T) from each position t >= 1 to position t - 1."""
    return attention.diagonal(offset=-1, dim1=-2, dim2=-1).mean()


def induction_score(attention: torch.Tensor, tokens: torch.Tensor, k: int) -> torch.Tensor:
    """Mean attention mass from position t on keys s <= t whose previous token equals x_t.

    Those keys hold the tokens that followed earlier copies of the current token: averaging them
    is how the second layer counts bigrams in context.
    """
    # the mass each query puts on keys preceded by each token: a (T, T) x (T, k) product, not a (T, T) mask
    previous = F.one_hot(tokens[:, :-1], k).to(attention.dtype)  # x_{s-1} for keys s >= 1; key 0 has none
    on_previous = attention[..., 1:] @ previous[:, None]  # (B, H, T, k)
    mass = on_previous.gather(-1, tokens[:, None, :, None].expand(*on_previous.shape[:-1], 1))[..., 0]
    return mass[..., 1:].mean()


# ----------------------------------------------------------------------------- training and measurement

def build_model(config: Config) -> Transformer:
    return Transformer(vocab_size=config.k, d_model=config.d_model, n_layers=config.n_layers,
                       n_heads=config.n_heads, max_len=config.seq_len, positional=config.positional,
                       layer_norm=config.layer_norm, init_std=config.init_std)


def next_token_loss(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    logits, _ = model(tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))


def baselines(config: Config, tokens, transitions) -> dict:
    """KL from the truth to each fixed strategy on the test positions: the floors the model meets."""
    truth = true_next(tokens, transitions, config.k, config.ngram)[:, :-1]
    found = {"uniform": kl(truth, torch.full_like(truth, 1 / config.k).log()).mean().item()}
    for n, label in ((1, "unigram"), (2, "bigram"), (3, "trigram")):
        if n <= max(config.ngram, 2):
            strategy = ngram_strategy(tokens, config.k, n)[:, :-1]
            found[label] = kl(truth, strategy.log()).mean().item()
    return found


def build_optimiser(model: Transformer, config: Config, device: torch.device) -> torch.optim.Optimizer:
    """AdamW, fused (one kernel for all parameters: a fifth of the default's time, the same update to float
    rounding). The paper's trainer (minGPT's) decays only the matrices of linear layers, not embeddings,
    position biases or layer norms, and uses betas (0.9, 0.95)."""
    if config.optimiser == "adamw":
        return _adamw(model.parameters(), device, lr=config.lr, weight_decay=config.weight_decay)
    matrices = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
    chosen = {id(p) for p in matrices}
    others = [p for p in model.parameters() if id(p) not in chosen]
    groups = [{"params": matrices, "weight_decay": config.weight_decay}, {"params": others, "weight_decay": 0.0}]
    return _adamw(groups, device, lr=config.lr, betas=(0.9, 0.95))


def _adamw(params, device: torch.device, **options) -> torch.optim.AdamW:
    params = list(params)
    if device.type in ("cpu", "cuda"):
        try:
            return torch.optim.AdamW(params, fused=True, **options)
        except RuntimeError:  # torch before 2.4 fuses AdamW on CUDA only
            pass
    return torch.optim.AdamW(params, **options)


def evaluation_steps(config: Config) -> list[int]:
    if config.eval_every:
        return list(range(0, config.steps + 1, config.eval_every)) + (
            [config.steps] if config.steps % config.eval_every else [])
    return log_spaced_steps(config.steps, config.n_evals)


def prior_baselines(prior: str, scale: str | None = None, seed: int = 0) -> dict:
    """The fixed strategies' losses on a test set of chains drawn from `prior` (the chapter's settings)."""
    config = config_for(scale, seed=seed, prior=prior)
    tokens, transitions = sample_batch(config, config.test_size, set_seed(config.seed))
    return baselines(config, tokens, transitions)


def _compute(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    generator = set_seed(config.seed)  # data are drawn on the CPU, so every device sees the same data
    test_tokens, test_transitions = sample_batch(config, config.test_size, generator, config.test_prior or None)
    inputs = test_tokens[:, :-1].to(device)
    truth = true_next(test_tokens, test_transitions, config.k, config.ngram)[:, :-1].to(device)
    strategies = {label: ngram_strategy(test_tokens, config.k, n)[:, :-1].to(device)
                  for n, label in ((1, "unigram"), (2, "bigram"), (3, "trigram"))
                  if n <= max(config.ngram, 2)}

    model = build_model(config).to(device)
    optimizer = build_optimiser(model, config, device)

    def evaluate(step: int) -> dict:
        # in chunks of a training batch: the (B, H, T, T) attention of the whole test set overflows the
        # CPU's caches, and one pass over it costs twice as much as the same work in pieces
        sums, window = {}, slice(0, DISPLAY_LENGTH)
        for chunk in torch.arange(len(inputs)).split(EVALUATION_CHUNK):
            logits, attentions = model(inputs[chunk])
            log_probs = logits.log_softmax(-1)
            parts = {"kl_model": kl(truth[chunk], log_probs).sum()}
            for label, strategy in strategies.items():
                parts[f"kl_to_{label}"] = kl(strategy[chunk], log_probs).sum()
            parts["previous_token_score"] = previous_token_score(attentions[0]) * len(chunk)
            parts["previous_token_by_position"] = attentions[0].diagonal(offset=-1, dim1=-2, dim2=-1).mean(1).sum(0)
            parts["induction_score"] = induction_score(attentions[-1], inputs[chunk], config.k) * len(chunk)
            if chunk[0] == 0:
                snapshot = torch.stack([a[0, :, window, window] for a in attentions]).cpu()
            sums = {name: sums.get(name, 0) + value for name, value in parts.items()}
        positions = truth.shape[1]
        by_position = sums.pop("previous_token_by_position") / len(inputs)  # (T - 1,): query t = 1, 2, ...
        measured = {name: (value / len(inputs) / (positions if name.startswith("kl") else 1)).item()
                    for name, value in sums.items()}
        return {**measured, "attention": snapshot, "previous_token_by_position": by_position.cpu()}

    history = train(
        model, lambda step: (sample_batch(config, config.batch_size, generator)[0].to(device),),
        next_token_loss, steps=config.steps, optimizer=optimizer, evaluate=evaluate,
        eval_steps=evaluation_steps(config), description=f"{NAME} {config.prior}",
        clip_grad_norm=1.0 if config.optimiser == "paper" else None,
    )
    attention = history.pop("attention")  # (snapshots, layers, heads, DISPLAY_LENGTH, DISPLAY_LENGTH)
    by_position = history.pop("previous_token_by_position")[-1]  # at the last evaluation
    metrics = {**history, "final_previous_token_by_position": [round(float(v), 4) for v in by_position],
               "baselines": baselines(config, test_tokens, test_transitions),
               "config": dataclasses.asdict(config)}
    metrics["transition_step"] = transition_step(metrics)
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    arrays = {"attention": attention, "display_tokens": test_tokens[0, :DISPLAY_LENGTH].clone()}
    arrays.update({f"weights.{k}": v for k, v in model.state_dict().items()})
    return Result(metrics=metrics, arrays=arrays)


def transition_step(metrics: dict) -> int | None:
    """First evaluated step after which the model stays closer to the bigram than to the unigram strategy."""
    closer = [b < u for b, u in zip(metrics["kl_to_bigram"], metrics["kl_to_unigram"])]
    for i in range(len(closer)):
        if all(closer[i:]) and metrics["step"][i] > 0:
            return metrics["step"][i]
    return None


def run(config: Config, use_cache: bool = True, device: str = "auto") -> Result:
    """Train (or load from the cache) one run.

    ``device="auto"`` picks cuda, then mps, then cpu; on the CPU a run uses one thread, which is the
    fastest choice for models this small (benchmarks/RESULTS.md). The cache key leaves the device
    out: a result trained on any device stands for its config.
    """
    return cached_training(NAME, VERSION, config, _compute, use_cache=use_cache, device=device)
