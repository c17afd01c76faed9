import math

import numpy as np
import pytest
import torch

from companion import exercises
from companion import induction_heads as ih


def unigram(sequence, k):
    counts = np.cumsum(np.eye(k)[sequence], axis=0)
    return (counts + 1) / (counts.sum(1, keepdims=True) + k)


def bigram(sequence, k):
    table, rows = np.zeros((k, k)), []
    for t, token in enumerate(sequence):
        if t:
            table[sequence[t - 1], token] += 1
        rows.append((table[token] + 1) / (table[token].sum() + k))
    return np.array(rows)


def stub(sequence, k):
    raise NotImplementedError


def test_reference_answers_pass(capsys):
    assert exercises.check_unigram_predictor(unigram)
    assert exercises.check_bigram_predictor(bigram)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented yet"),
    (lambda s, k: np.cumsum(np.eye(k)[s], 0) / np.arange(1, len(s) + 1)[:, None], "add-one"),
    (lambda s, k: np.ones((len(s) - 1, k)) / k, "shape"),
    (lambda s, k: np.ones((len(s), k)), "sum"),
    (lambda s, k: 1 / 0, "ZeroDivisionError"),
    (lambda s, k: unigram(s, k)[::-1], "row"),
])
def test_wrong_unigram_answers_fail_with_a_hint(capsys, wrong, hint):
    assert not exercises.check_unigram_predictor(wrong)
    assert hint in capsys.readouterr().out


def test_unigram_counts_are_not_a_bigram_predictor(capsys):
    assert not exercises.check_bigram_predictor(unigram)
    assert "right after earlier copies" in capsys.readouterr().out


def test_plateau_check_uses_the_measured_plateau(capsys):
    result = ih.run(ih.config_for("test"))
    base = result.metrics["baselines"]
    assert exercises.check_plateau_height(base["unigram"] + 0.005, result)
    assert not exercises.check_plateau_height(base["bigram"], result)
    assert "bigram strategy's loss" in capsys.readouterr().out
    assert not exercises.check_plateau_height("lots", result)


def test_prior_question(capsys):
    ds = ih.run(ih.config_for("test", prior="doubly-stochastic"))
    assert exercises.check_prior_experiment("b", ds)
    assert not exercises.check_prior_experiment("a")
    assert not exercises.check_prior_experiment(Ellipsis)
    assert "must be one of" in capsys.readouterr().out


# ----------------------------------------------------------------------------- hidden progress

def exact_gradient(w, support):
    from companion import parity

    x = parity.all_inputs(len(w)).double().numpy()
    y = x[:, support].prod(axis=1)
    return -((y * (x @ w > 0))[:, None] * x).mean(axis=0)


def test_fourier_coefficient_check(capsys):
    from companion import parity

    assert exercises.check_fourier_coefficient(parity.fourier_coefficient)
    assert not exercises.check_fourier_coefficient(lambda f, n, subset: float(f(parity.all_inputs(n)).mean()))
    assert "mean of f" in capsys.readouterr().out
    assert not exercises.check_fourier_coefficient(
        lambda f, n, subset: parity.fourier_coefficient(f, n, subset) * 2**n)
    assert "divide by 2^n" in capsys.readouterr().out


def test_population_gradient_check(capsys):
    assert exercises.check_population_gradient(exact_gradient)
    assert not exercises.check_population_gradient(lambda w, s: -exact_gradient(w, s))
    assert "sign is flipped" in capsys.readouterr().out
    assert not exercises.check_population_gradient(lambda w, s: exact_gradient(w, s)[:-1])
    assert not exercises.check_population_gradient(lambda w, s: exact_gradient(w, s) + 1e-3)


def test_t_c_prediction_check(capsys):
    from companion import hidden_progress as hp

    rows = [{"n": 10, "k": 4, "median_t_c": 300.0}, {"n": 20, "k": 4, "median_t_c": 1200.0}]
    assert hp.predict_t_c(rows, 4, 40) == pytest.approx(4800.0)
    assert exercises.check_t_c_prediction(4800, rows, k=4, n=40)
    assert not exercises.check_t_c_prediction(1200, rows, k=4, n=40)
    assert "largest measured median" in capsys.readouterr().out
    assert not exercises.check_t_c_prediction(2000, rows, k=4, n=40)


# ----------------------------------------------------------------------------- Pareto frontiers

def reference_sparse_init(width, n, s, generator):
    chosen = torch.rand(width, n, generator=generator).topk(s, dim=1).indices
    return torch.zeros(width, n).scatter_(1, chosen, 1.0)


def test_sparse_init_check(capsys):
    assert exercises.check_sparse_init(reference_sparse_init)
    assert not exercises.check_sparse_init(lambda w, n, s, g: torch.ones(w, n))
    assert "exactly s = 3" in capsys.readouterr().out
    assert not exercises.check_sparse_init(lambda w, n, s, g: torch.zeros(w, n).index_fill_(1, torch.arange(s), 1.0))
    assert "far more often" in capsys.readouterr().out
    fixed = torch.Generator().manual_seed(7)
    assert not exercises.check_sparse_init(lambda w, n, s, g: reference_sparse_init(w, n, s, fixed.manual_seed(7)))
    assert "generator passed in" in capsys.readouterr().out


def test_cover_probability_check(capsys):
    from math import comb

    assert exercises.check_cover_probability(lambda n, k, s: comb(n - k, s - k) / comb(n, s) if s >= k else 0.0)
    assert not exercises.check_cover_probability(lambda n, k, s: (s / n) ** k)
    assert "without replacement" in capsys.readouterr().out


def test_frontier_reading_check(capsys):
    rows = [{"m": m, "width": 1000, "init": init, "success_rate": rate}
            for init, rates in (("sparse", (0.0, 0.6, 1.0)), ("dense", (0.0, 0.1, 0.9)))
            for m, rate in zip((700, 1000, 1400), rates)]
    assert exercises.check_frontier_reading(1000, rows)
    assert not exercises.check_frontier_reading(1400, rows)
    assert "other initialisation" in capsys.readouterr().out


# ----------------------------------------------------------------------------- increasing complexity

def test_information_checks(capsys):
    from companion import increasing_complexity as ic

    assert exercises.check_mutual_information(ic.mutual_information)
    assert not exercises.check_mutual_information(lambda a, b: ic.mutual_information(a, b) * np.log(2))
    assert "nats" in capsys.readouterr().out
    assert exercises.check_mu(ic.mu)
    assert not exercises.check_mu(ic.conditional_mutual_information)
    assert "I(F;Y|L) alone" in capsys.readouterr().out
    assert exercises.check_negative_mu("b")
    assert "mu = -1.000" in capsys.readouterr().out
    assert not exercises.check_negative_mu("c")


# ----------------------------------------------------------------------------- margin features

def dominant_frequency(u):
    return int(np.argmax(np.abs(np.fft.rfft(u))[1:]) + 1)


def phase_relation(u, v, w, wrap=True, sign=1):
    power = sum(np.abs(np.fft.rfft(x)) ** 2 for x in (u, v, w))
    j = int(np.argmax(power[1:]) + 1)
    theta_u, theta_v, theta_w = (np.angle(np.fft.rfft(x)[j]) for x in (u, v, w))
    difference = sign * (theta_u + theta_v - theta_w)
    return float(np.angle(np.exp(1j * difference))) if wrap else float(difference)


def margin(in_w, out_w, x, y, power=3, normalise=True):
    logits = (x @ in_w.T) ** 2 @ out_w
    rows = torch.arange(len(y))
    correct = logits[rows, y]
    others = logits.clone()
    others[rows, y] = -torch.inf
    worst = (correct - others.max(1).values).min()
    norms = (in_w.pow(2).sum(1) + out_w.pow(2).sum(1)).sqrt()
    return float(worst / norms.pow(power).sum()) if normalise else float(worst)


def test_dominant_frequency_check(capsys):
    assert exercises.check_dominant_frequency(dominant_frequency)
    assert not exercises.check_dominant_frequency(lambda u: int(np.argmax(np.abs(np.fft.rfft(u)))))
    assert "constant" in capsys.readouterr().out
    assert not exercises.check_dominant_frequency(lambda u: len(u) - dominant_frequency(u))
    assert "mirror" in capsys.readouterr().out


def test_phase_relation_check(capsys):
    assert exercises.check_phase_relation(phase_relation)
    assert not exercises.check_phase_relation(lambda u, v, w: phase_relation(u, v, w, sign=-1))
    assert "sign is flipped" in capsys.readouterr().out
    assert not exercises.check_phase_relation(lambda u, v, w: phase_relation(u, v, w, wrap=False) + 2 * np.pi)
    assert "modulo 2 pi" in capsys.readouterr().out


def test_margin_check(capsys):
    from companion import margin_features as mf

    trained = mf.weights_at(mf.run(mf.config_for("test", "modular-addition", 0)))
    assert exercises.check_margin(margin, trained)
    assert "trained one" in capsys.readouterr().out
    assert not exercises.check_margin(lambda *args: margin(*args, normalise=False))
    assert "cubed L2,3 norm" in capsys.readouterr().out
    assert not exercises.check_margin(lambda *args: margin(*args, power=2))
    assert "3-homogeneous" in capsys.readouterr().out
    assert not exercises.check_margin(lambda *args: stub(None, None))
    assert "not implemented" in capsys.readouterr().out


# ----------------------------------------------------------------------------- variable creation

def and_samples(T, support, m, rng, q=None):
    q = 0.5 ** (1 / len(support)) if q is None else q
    x = (rng.random((m, T)) < q).astype(float)
    return x, x[:, support].prod(1)


def test_and_samples_check(capsys):
    assert exercises.check_and_samples(and_samples)
    assert not exercises.check_and_samples(lambda T, S, m, rng: and_samples(T, S, m, rng, q=0.5))
    assert "2^-s" in capsys.readouterr().out
    assert not exercises.check_and_samples(lambda T, S, m, rng: (and_samples(T, S, m, rng)[0],
                                                                  and_samples(T, S, m, rng)[1]))
    assert "exactly when" in capsys.readouterr().out  # labels from other bits than x's
    assert not exercises.check_and_samples(lambda T, S, m, rng: and_samples(T, S, m, rng)[0])
    assert "return a pair" in capsys.readouterr().out
    assert not exercises.check_and_samples(lambda *args: stub(None, None))
    assert "not implemented" in capsys.readouterr().out


def test_support_attention_check(capsys):
    from companion import variable_creation as vc

    result = vc.run(vc.config_for("test", "attention", 16, 80))
    assert exercises.check_support_attention(lambda a, s: float(a[:, s].sum(1).mean()), result)
    assert not exercises.check_support_attention(lambda a, s: float(a[:, s].sum()))
    assert "average over the inputs" in capsys.readouterr().out
    assert not exercises.check_support_attention(lambda a, s: float(a[:, s].mean()))
    assert "add the attention" in capsys.readouterr().out
    assert not exercises.check_support_attention(lambda a, s: float((a[:, s].sum(1) + a[:, -1]).mean()))
    assert "[CLS] attending to itself" in capsys.readouterr().out


def test_log_fit_check(capsys):
    from scipy.stats import linregress

    def fit(Ts, m, log=np.log, power=2):
        result = linregress(log(Ts), m)
        return result.intercept, result.slope, abs(result.rvalue) ** power

    assert exercises.check_log_fit(fit, [32, 64, 128], [30, 41, 49])
    assert not exercises.check_log_fit(lambda Ts, m: fit(Ts, m, log=np.log2))
    assert "natural logarithm" in capsys.readouterr().out
    assert not exercises.check_log_fit(lambda Ts, m: fit(Ts, m)[1::-1] + (fit(Ts, m)[2],))
    assert "intercept" in capsys.readouterr().out
    assert not exercises.check_log_fit(lambda Ts, m: fit(Ts, m, power=1))
    assert "square of the correlation" in capsys.readouterr().out
    assert not exercises.check_log_fit(lambda Ts, m: fit(Ts, m)[:2])
    assert "three numbers" in capsys.readouterr().out


# ----------------------------------------------------------------------------- watermarks

def kgw_z(tokens, green, gamma, spread=lambda n, g: math.sqrt(n * g * (1 - g))):
    tokens = np.asarray(tokens)
    hits = green[tokens[:-1], tokens[1:]].sum()
    n = len(tokens) - 1
    return (hits - gamma * n) / spread(n, gamma)


def test_kgw_z_score_check(capsys):
    assert exercises.check_kgw_z_score(kgw_z)
    assert not exercises.check_kgw_z_score(lambda t, g, gamma: kgw_z(t, g, gamma, spread=lambda n, x: n * x * (1 - x)))
    assert "standard deviation" in capsys.readouterr().out
    assert not exercises.check_kgw_z_score(lambda t, g, gamma: kgw_z(t, g, gamma, spread=lambda n, x: math.sqrt(n * x)))
    assert "variance n gamma (1 - gamma)" in capsys.readouterr().out
    assert not exercises.check_kgw_z_score(lambda *args: stub(None, None))
    assert "not implemented" in capsys.readouterr().out


def walk_step(text, propose, quality, original_quality, tolerance, against_current=False, strict=False):
    proposal = propose(text)
    reference = quality(text) if against_current else original_quality
    new = quality(proposal)
    accept = new > reference - tolerance if strict else new >= reference - tolerance
    return proposal if accept else text


def test_walk_step_check(capsys):
    assert exercises.check_walk_step(walk_step)
    assert not exercises.check_walk_step(lambda *args: walk_step(*args, against_current=True))
    assert not exercises.check_walk_step(lambda *args: walk_step(*args, strict=True))
    assert "equality" in capsys.readouterr().out
    assert not exercises.check_walk_step(lambda text, propose, *rest: propose(text))
    assert "must be rejected" in capsys.readouterr().out


def test_critical_tolerance_check(capsys):
    def critical(tolerances, rates):
        return next((t for t, r in zip(tolerances, rates) if r >= 0.5), None)

    sweep = {"tolerance": [0.0, 0.1, 0.2], "success_rate": {"kgw": [0.0, 0.4, 0.7], "exp": [0.0, 0.0, 0.1]}}
    assert exercises.check_critical_tolerance(critical, sweep)
    assert not exercises.check_critical_tolerance(lambda t, r: next((x for x, y in zip(t, r) if y > 0.5), None))
    assert not exercises.check_critical_tolerance(lambda t, r: max(x for x, y in zip(t, r) if y < 0.5))
    assert "first tolerance" in capsys.readouterr().out


def temperature_scale(p, tau, power=None):
    with np.errstate(divide="ignore"):
        logits = np.log(p) * (tau if power == "multiply" else 1 / tau)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


def test_temperature_scale_check(capsys):
    assert exercises.check_temperature_scale(temperature_scale)
    assert not exercises.check_temperature_scale(lambda p, tau: temperature_scale(p, tau, power="multiply"))
    assert "you multiplied" in capsys.readouterr().out
    assert not exercises.check_temperature_scale(lambda p, tau: p ** (1 / tau))
    assert "normalise" in capsys.readouterr().out
    assert not exercises.check_temperature_scale(lambda p, tau: stub(None, None))
    assert "not implemented" in capsys.readouterr().out


def vote_reward(policies, reward):
    mixture = policies.mean(0)
    top = np.isclose(mixture, mixture.max(-1, keepdims=True))
    return float(((top / top.sum(-1, keepdims=True)) * reward).sum(-1).mean())


def test_vote_reward_check(capsys):
    assert exercises.check_vote_reward(vote_reward)
    assert not exercises.check_vote_reward(lambda pol, r: float((pol.mean(0) * r).sum(-1).mean()))
    assert "experts' average" in capsys.readouterr().out
    assert not exercises.check_vote_reward(lambda pol, r: max(float((p * r).sum(-1).mean()) for p in pol))
    assert "best expert" in capsys.readouterr().out
    first_only = lambda pol, r: float(r[np.arange(len(r)), pol.mean(0).argmax(-1)].mean())  # noqa: E731
    assert not exercises.check_vote_reward(first_only)  # ties must be shared


def elo_rating(opponents, scores, base=10.0):
    from scipy.optimize import brentq

    return brentq(lambda r: np.sum(scores - 1 / (1 + base ** ((opponents - r) / 400))), -5000, 5000)


def test_elo_rating_check(capsys):
    assert exercises.check_elo_rating(elo_rating)
    assert not exercises.check_elo_rating(lambda o, s: elo_rating(o, s, base=math.e))
    assert "base 10" in capsys.readouterr().out
    assert not exercises.check_elo_rating(lambda o, s: float(np.mean(o)))
    assert "expected score" in capsys.readouterr().out


def token_entropy(logits):
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


def test_token_entropy_check(capsys):
    assert exercises.check_token_entropy(token_entropy)
    assert not exercises.check_token_entropy(lambda z: token_entropy(z) / math.log(2))
    assert "bits" in capsys.readouterr().out
    assert not exercises.check_token_entropy(lambda z: -token_entropy(z))
    assert "sign" in capsys.readouterr().out
    assert not exercises.check_token_entropy(lambda z: -(z.softmax(-1) * z.softmax(-1).log()).sum(-1))
    assert "log_softmax" in capsys.readouterr().out  # log(softmax) of a one-hot row is nan
    assert not exercises.check_token_entropy(lambda z: token_entropy(z).sum())
    assert "shape" in capsys.readouterr().out


def balanced_dataset(labels, token_ids, rng):
    chosen = []
    for token in np.unique(token_ids[labels >= 0]):
        epistemic = np.flatnonzero((token_ids == token) & (labels == 1))
        aleatoric = np.flatnonzero((token_ids == token) & (labels == 0))
        count = min(len(epistemic), len(aleatoric))
        chosen += [rng.choice(epistemic, count, replace=False), rng.choice(aleatoric, count, replace=False)]
    return np.concatenate(chosen)


def test_balanced_dataset_check(capsys):
    assert exercises.check_balanced_dataset(balanced_dataset)

    def totals_only(labels, token_ids, rng):
        epistemic, aleatoric = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        count = min(len(epistemic), len(aleatoric))
        return np.concatenate([epistemic[:count], aleatoric[:count]])
    assert not exercises.check_balanced_dataset(totals_only)
    assert "each token id separately" in capsys.readouterr().out
    assert not exercises.check_balanced_dataset(lambda labels, ids, rng: np.arange(len(labels)))
    assert "unlabelled" in capsys.readouterr().out
    halves = lambda labels, ids, rng: balanced_dataset(np.where(np.arange(len(labels)) % 2, labels, -1), ids, rng)  # noqa: E731
    assert not exercises.check_balanced_dataset(halves)
    assert "were possible" in capsys.readouterr().out


def linear_probe(train_features, train_labels, test_features):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(train_features, train_labels)
    return probe.predict_proba(test_features)[:, 1]


def test_linear_probe_check(capsys):
    assert exercises.check_linear_probe(linear_probe)
    assert not exercises.check_linear_probe(lambda x, y, z: 1 - linear_probe(x, y, z))
    assert "backwards" in capsys.readouterr().out
    assert not exercises.check_linear_probe(lambda x, y, z: (linear_probe(x, y, z) > 0.5).astype(float))
    assert "not 0/1 predictions" in capsys.readouterr().out
    assert not exercises.check_linear_probe(lambda x, y, z: np.zeros(len(z) - 1))
    assert "one score per test example" in capsys.readouterr().out
