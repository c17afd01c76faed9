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

from companion.core import runtime
from companion.core.cache import Result, cached_training
from companion.core.config import check_bool, check_choice, check_float, check_int, check_seed, resolve_scale
from companion.core.models import Transformer
from companion.core.runtime import set_seed
from companion.core.sweeps import run_cached
from companion.core.training import log_spaced_steps, train

NAME = "induction-heads"
VERSION = 4  # 3: measured in chunks, the induction score by a matmul; 4: fused AdamW (float reassociation only)
PRIORS = ("dirichlet", "doubly-stochastic", "iid", "mixture")
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
    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    steps: int = 2000
    n_evals: int = 60
    test_size: int = 512
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
    state = torch.random.get_rng_state()
    torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
    draws = gamma.sample()
    torch.random.set_rng_state(state)
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


def sample_batch(config: Config, n: int, generator: torch.Generator):
    transitions = sample_transitions(n, config.k, config.prior, config.alpha, config.ngram, generator)
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
                       n_heads=config.n_heads, max_len=config.seq_len, positional="relative",
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


def _compute(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    generator = set_seed(config.seed)  # data are drawn on the CPU, so every device sees the same data
    test_tokens, test_transitions = sample_batch(config, config.test_size, generator)
    inputs = test_tokens[:, :-1].to(device)
    truth = true_next(test_tokens, test_transitions, config.k, config.ngram)[:, :-1].to(device)
    strategies = {label: ngram_strategy(test_tokens, config.k, n)[:, :-1].to(device)
                  for n, label in ((1, "unigram"), (2, "bigram"), (3, "trigram"))
                  if n <= max(config.ngram, 2)}

    model = build_model(config).to(device)
    # fused: one kernel for all parameters, a fifth of the default's time (the same update to float rounding)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  fused=device.type in ("cpu", "cuda"))

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
            parts["induction_score"] = induction_score(attentions[-1], inputs[chunk], config.k) * len(chunk)
            if chunk[0] == 0:
                snapshot = torch.stack([a[0, :, window, window] for a in attentions]).cpu()
            sums = {name: sums.get(name, 0) + value for name, value in parts.items()}
        positions = truth.shape[1]
        measured = {name: (value / len(inputs) / (positions if name.startswith("kl") else 1)).item()
                    for name, value in sums.items()}
        return {**measured, "attention": snapshot}

    history = train(
        model, lambda step: (sample_batch(config, config.batch_size, generator)[0].to(device),),
        next_token_loss, steps=config.steps, optimizer=optimizer, evaluate=evaluate,
        eval_steps=log_spaced_steps(config.steps, config.n_evals), description=f"{NAME} {config.prior}",
    )
    attention = history.pop("attention")  # (snapshots, layers, heads, DISPLAY_LENGTH, DISPLAY_LENGTH)
    metrics = {**history, "baselines": baselines(config, test_tokens, test_transitions),
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


# ----------------------------------------------------------------------------- experiments of the chapter

PRIOR_EXPERIMENT = ("dirichlet", "doubly-stochastic")


def run_many(configs: list[Config], n_jobs: int = 2) -> list[Result]:
    """Several runs at once, one process per core (each run uses one thread); cached like `run`."""
    return run_cached(run, configs, NAME, VERSION, n_jobs=n_jobs)


def prior_experiment(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict[str, Result]:
    """The same model trained under priors where in-context unigram statistics help, or do not."""
    configs = [config_for(scale, seed=seed, prior=prior) for prior in PRIOR_EXPERIMENT]
    return dict(zip(PRIOR_EXPERIMENT, run_many(configs, n_jobs=n_jobs)))


def phase_checks(metrics: dict) -> dict:
    """The three phases, measured: a unigram plateau, then a bigram solution, then convergence.

    - plateau: some checkpoint with KL(true||model) within 0.02 of the unigram baseline while the
      model is much closer to the unigram strategy than to the bigram one (ratio below 0.3);
    - transition: later, the model is closer to the bigram strategy than to the unigram one;
    - converged: the final KL(true||model) is within 0.03 of the bigram baseline.
    """
    unigram, bigram = metrics["baselines"]["unigram"], metrics["baselines"]["bigram"]
    plateau = [
        i for i, (m, u, b) in enumerate(zip(metrics["kl_model"], metrics["kl_to_unigram"], metrics["kl_to_bigram"]))
        if abs(m - unigram) <= 0.02 and u < 0.3 * b
    ]
    later = [
        i for i, (u, b) in enumerate(zip(metrics["kl_to_unigram"], metrics["kl_to_bigram"]))
        if plateau and i > plateau[0] and b < u
    ]
    return {
        "plateau_steps": [metrics["step"][i] for i in plateau],
        "bigram_after_plateau": bool(later),
        "final_gap_to_bigram": metrics["kl_model"][-1] - bigram,
        "converged": metrics["kl_model"][-1] <= bigram + 0.03,
    }


def prior_summary(runs: dict[str, Result]) -> dict:
    """The numbers the chapter quotes about the prior experiment, and the comparison they imply."""
    dirichlet, ds = runs["dirichlet"].metrics, runs["doubly-stochastic"].metrics
    first, second = dirichlet["transition_step"], ds["transition_step"]
    if first is None or second is None:
        verdict = "could not be compared (one run never made the transition)"
    elif second < first:
        verdict = "earlier than"
    elif second > first:
        verdict = "later than"
    else:
        verdict = "at the same evaluated step as"
    return {
        "dirichlet_transition": first,
        "ds_transition": second,
        "verdict": verdict,
        "ds_unigram_vs_uniform": round(ds["baselines"]["unigram"] - ds["baselines"]["uniform"], 3),
        "dirichlet_final_gap": round(dirichlet["kl_model"][-1] - dirichlet["baselines"]["bigram"], 3),
        "ds_final_gap": round(ds["kl_model"][-1] - ds["baselines"]["bigram"], 3),
        "dirichlet_induction_score": round(dirichlet["induction_score"][-1], 2),
        "ds_induction_score": round(ds["induction_score"][-1], 2),
    }


def trigram_run(scale: str | None = None, seed: int = 0) -> Result | None:
    """The trigram extension, trained at full scale only (it takes several minutes)."""
    scale = resolve_scale(scale)
    return run(config_for(scale, seed=seed, **TRIGRAM)) if scale == "full" else None


def reproducibility_card(result: Result) -> dict:
    """Config, seed, machine, software and the measured wall time of a run."""
    changes = {key: (SCALES["book"].get(key), value) for key, value in SCALES["full"].items()}
    return runtime.reproducibility_card(NAME, VERSION, result, full_scale_changes=changes | {"trigram_run": TRIGRAM})


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce induction-heads` writes to induction-heads.json."""
    scale = resolve_scale(scale)
    runs = prior_experiment(scale, seed)
    main = runs["dirichlet"].metrics
    report = {
        "topic": NAME,
        "scale": scale,
        "seed": seed,
        "config": main["config"],
        "steps": main["step"],
        "kl_model": main["kl_model"],
        "kl_to_unigram": main["kl_to_unigram"],
        "kl_to_bigram": main["kl_to_bigram"],
        "previous_token_score": main["previous_token_score"],
        "induction_score": main["induction_score"],
        "baselines": {name: main["baselines"][name] for name in ("uniform", "unigram", "bigram")},
        "transition_step": main["transition_step"],
        "phases": phase_checks(main),
        "prior_experiment": {
            prior: {"transition_step": r.metrics["transition_step"], "baselines": r.metrics["baselines"],
                    "final_kl_model": r.metrics["kl_model"][-1]}
            for prior, r in runs.items()
        },
    }
    if scale == "full":
        trigram = trigram_run(scale, seed).metrics
        report["trigram"] = {key: trigram[key] for key in
                             ("step", "kl_model", "kl_to_unigram", "kl_to_bigram", "kl_to_trigram", "baselines")}
    return report


