"""Exercise checks of the chapter on statistical induction heads. Each runs the student's answer
against the reference and prints what is right or a hint about the likeliest mistake.
"""

from __future__ import annotations

import numpy as np
import torch

from companion.core.checks import call, exercise_check, report

from .analysis import phase_checks
from .experiment import Config, config_for, ngram_strategy, run, sample_batch


def _random_sequences(k: int, count: int = 20, length: int = 30, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    config = Config(k=k, seq_len=length)
    tokens, _ = sample_batch(config, count, generator)
    return tokens


def _check_predictor(fn, n: int, name: str, mistakes: dict) -> bool:
    checked = 0
    for k in (2, 3, 5):
        for tokens in _random_sequences(k):
            checked += 1
            sequence = tokens.tolist()
            got, problem = call(fn, sequence, k)
            if problem:
                return report(False, problem)
            want = ngram_strategy(tokens[None], k, n)[0].numpy()
            if got.shape != want.shape:
                return report(False, f"expected an array of shape (len(sequence), k) = {want.shape}, "
                                      f"got {got.shape}. Row t predicts the token after position t.")
            if not np.allclose(got.sum(-1), 1, atol=1e-6):
                return report(False, "each row must be a probability distribution summing to 1.")
            if not np.allclose(got, want, atol=1e-6):
                for hint, wrong in mistakes.items():
                    if np.allclose(got, wrong(tokens, k), atol=1e-6):
                        return report(False, hint)
                t = int(np.argmax(np.abs(got - want).max(-1)))
                return report(False, f"with k={k}, sequence {sequence[: t + 1]}..., row {t} should be "
                                      f"{np.round(want[t], 4).tolist()} but is {np.round(got[t], 4).tolist()}.")
    return report(True, f"your {name} predictor matches the reference on {checked} random sequences.")


def _unsmoothed_unigram(tokens, k):
    counts = torch.nn.functional.one_hot(tokens, k).double().cumsum(0)
    return (counts / counts.sum(-1, keepdim=True)).numpy()


def _unigram_without_current(tokens, k):
    counts = torch.nn.functional.one_hot(tokens, k).double().cumsum(0) - torch.nn.functional.one_hot(tokens, k)
    return ((counts + 1) / (counts.sum(-1, keepdim=True) + k)).numpy()


@exercise_check
def check_unigram_predictor(fn) -> bool:
    """fn(sequence: list[int], k: int) -> array (len(sequence), k), row t = (count_i + 1)/(t + 1 + k)."""
    return _check_predictor(fn, 1, "unigram", {
        "close: remember the add-one (Laplace) smoothing, (count_i + 1) / (t + 1 + k).": _unsmoothed_unigram,
        "row t should count the tokens at positions 0..t, including position t itself.": _unigram_without_current,
    })


def _bigram_from_unigram(tokens, k):
    return ngram_strategy(tokens[None], k, 1)[0].numpy()


def _bigram_unsmoothed(tokens, k):
    T = len(tokens)
    out = np.full((T, k), 1.0 / k)
    for t in range(T):
        counts = np.zeros(k)
        for s in range(1, t + 1):
            if tokens[s - 1] == tokens[t]:
                counts[tokens[s]] += 1
        if counts.sum():
            out[t] = counts / counts.sum()
    return out


@exercise_check
def check_bigram_predictor(fn) -> bool:
    """fn(sequence, k) -> array (len(sequence), k), row t = (N(x_t -> i) + 1) / (N(x_t -> .) + k)."""
    return _check_predictor(fn, 2, "bigram", {
        "these are unigram counts: count only the tokens right after earlier copies of x_t.": _bigram_from_unigram,
        "close: remember the add-one smoothing, (N(x_t -> i) + 1) / (N(x_t -> .) + k).": _bigram_unsmoothed,
    })


@exercise_check
def check_plateau_height(estimate: float, result=None) -> bool:
    """Compare a student's estimate with the plateau measured in a run: the mean loss over the evaluations
    that `phase_checks` puts on the plateau (within 0.02 nats of the unigram strategy by definition, so an
    estimate within 0.02 of the measured plateau passes)."""
    if result is None:
        result = run(config_for("test"))
    metrics = result.metrics
    plateau = phase_checks(metrics)["plateau_steps"]
    if not plateau:
        return report(False, "this run has no measured plateau to compare with: pass the chapter's main run.")
    target = sum(metrics["kl_model"][metrics["step"].index(s)] for s in plateau) / len(plateau)
    try:
        estimate = float(estimate)
    except (TypeError, ValueError):
        return report(False, f"expected a number of nats, got {estimate!r}")
    if abs(estimate - target) <= 0.02:
        return report(True, f"{estimate:.3f} nats: within 0.02 of the measured plateau ({target:.3f}, the mean "
                            f"loss over its {len(plateau)} evaluations).")
    if abs(estimate - metrics["baselines"]["bigram"]) <= 0.01:
        return report(False, "that is the bigram strategy's loss: where training ends, not the plateau.")
    if abs(estimate - metrics["baselines"]["uniform"]) <= 0.01:
        return report(False, "that is the uniform predictor's loss: where training starts, not the plateau.")
    return report(False, f"{estimate:.3f} nats is off the measured plateau ({target:.3f}): average KL(true "
                          "next-token distribution || unigram strategy) over the same positions and chains as "
                          "the test set.")


PRIOR_ANSWERS = {
    "a": "No: look at the baselines. Under this prior the unigram strategy is no better than a uniform "
         "guess, so there is nothing for a plateau to sit on, however fast it is learned.",
    "b": "Right: a doubly stochastic chain has a uniform stationary distribution, so in-context "
         "single-token counts say nothing about the next token.",
    "c": "No: the bigram strategy is the posterior mean of the current row of P under any prior whose "
         "rows it estimates; it stays the better rule, and the model still learns it.",
}


@exercise_check
def check_prior_experiment(answer: str, doubly_stochastic_baselines: dict | None = None) -> bool:
    """Multiple choice on the prior experiment: 'a', 'b' or 'c' (see the chapter).

    With the strategies' losses on doubly stochastic chains (`prior_baselines("doubly-stochastic")`), the
    check also confirms that the measurement agrees: the unigram strategy is no better than a uniform guess.
    """
    choice = str(answer).strip().lower()
    if choice not in PRIOR_ANSWERS:
        return report(False, f"answer must be one of {sorted(PRIOR_ANSWERS)}, got {answer!r}")
    ok = report(choice == "b", PRIOR_ANSWERS[choice])
    if ok and doubly_stochastic_baselines is not None:
        base = doubly_stochastic_baselines
        print(f"  measured: unigram strategy {base['unigram']:.3f} nats vs uniform guess {base['uniform']:.3f} nats")
        ok = base["unigram"] >= base["uniform"] - 0.005
        if not ok:
            report(False, "but these baselines disagree: were they measured on doubly stochastic chains?")
    return ok
