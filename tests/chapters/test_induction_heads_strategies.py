"""The data and the in-context strategies against slow, obviously correct versions."""

import numpy as np
import pytest
import torch

from companion import induction_heads as ih


def brute_force_ngram(sequence, k, n):
    T = len(sequence)
    out = np.full((T, k), 1.0 / k)
    for t in range(T):
        if t < n - 2:
            continue
        context = tuple(sequence[t - n + 2: t + 1]) if n > 1 else ()
        counts = np.zeros(k)
        for s in range(n - 1, t + 1):
            if tuple(sequence[s - n + 1: s]) == context:
                counts[sequence[s]] += 1
        out[t] = (counts + 1) / (counts.sum() + k)
    return out


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ngram_strategy_matches_brute_force(n):
    generator = torch.Generator().manual_seed(n)
    tokens = torch.randint(3, (4, 25), generator=generator)
    fast = ih.ngram_strategy(tokens, 3, n).numpy()
    for row, sequence in zip(fast, tokens.tolist()):
        np.testing.assert_allclose(row, brute_force_ngram(sequence, 3, n), atol=1e-6)


@pytest.mark.parametrize("prior", ih.PRIORS)
def test_priors_give_stochastic_matrices(prior):
    P = ih.sample_transitions(200, 4, prior, 1.0, 2, torch.Generator().manual_seed(0))
    assert P.shape == (200, 4, 4) and torch.all(P >= 0)
    torch.testing.assert_close(P.sum(-1), torch.ones(200, 4))
    if prior == "doubly-stochastic":
        torch.testing.assert_close(P.sum(-2), torch.ones(200, 4), atol=1e-4, rtol=0)
    if prior == "iid":
        torch.testing.assert_close(P, P[:, :1].expand_as(P))


def test_stationary_distribution_is_stationary():
    P = ih.sample_transitions(50, 3, "dirichlet", 1.0, 2, torch.Generator().manual_seed(1))
    pi = ih.stationary(P, 3, 2)
    torch.testing.assert_close(torch.einsum("bi,bij->bj", pi, P), pi, atol=1e-5, rtol=0)


def test_sequences_follow_their_chain():
    generator = torch.Generator().manual_seed(2)
    P = ih.sample_transitions(1, 3, "dirichlet", 1.0, 2, generator)
    tokens = ih.sample_sequences(P.expand(200, 3, 3).contiguous(), 500, 3, 2, generator)
    counts = np.zeros((3, 3))
    np.add.at(counts, (tokens[:, :-1].numpy().ravel(), tokens[:, 1:].numpy().ravel()), 1)
    empirical = counts / counts.sum(1, keepdims=True)
    np.testing.assert_allclose(empirical, P[0].numpy(), atol=0.01)


def test_true_next_reads_the_current_row():
    generator = torch.Generator().manual_seed(3)
    tokens, P = ih.sample_batch(ih.Config(k=3, seq_len=20), 5, generator)
    truth = ih.true_next(tokens, P, 3, 2)
    for b in range(5):
        for t in range(20):
            torch.testing.assert_close(truth[b, t], P[b, tokens[b, t]])


def test_bigram_beats_unigram_and_uniform_on_dirichlet_chains():
    config = ih.Config(k=3, seq_len=100)
    tokens, P = ih.sample_batch(config, 300, torch.Generator().manual_seed(4))
    levels = ih.baselines(config, tokens, P)
    assert levels["bigram"] < levels["unigram"] < levels["uniform"]


def test_head_scores_detect_the_patterns_they_name():
    tokens = torch.tensor([[0, 1, 0, 2, 0, 1, 2, 2]])
    T = tokens.shape[1]
    previous = torch.zeros(1, 1, T, T)
    previous[0, 0, 0, 0] = 1
    previous[0, 0, torch.arange(1, T), torch.arange(T - 1)] = 1
    assert ih.previous_token_score(previous) == pytest.approx(1.0)
    uniform = torch.tril(torch.ones(T, T))
    uniform = (uniform / uniform.sum(-1, keepdim=True))[None, None]
    assert ih.previous_token_score(uniform) < 0.5
    follows = torch.zeros(1, 1, T, T)
    for t in range(T):
        keys = [s for s in range(1, t + 1) if tokens[0, s - 1] == tokens[0, t]]
        if keys:
            follows[0, 0, t, keys] = 1 / len(keys)
        else:
            follows[0, 0, t, t] = 1
    assert ih.induction_score(follows, tokens, 3) > ih.induction_score(uniform, tokens, 3)


def test_induction_score_is_the_mass_on_keys_after_a_copy_of_the_current_token():
    # the definition written as a (T, T) mask, against the chapter's (T, T) x (T, k) product
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (5, 30), generator=generator)
    attention = torch.rand(5, 2, 30, 30, generator=generator).tril()
    attention = attention / attention.sum(-1, keepdim=True)
    previous = torch.cat([torch.full_like(tokens[:, :1], -1), tokens[:, :-1]], 1)
    follows = (tokens[:, :, None] == previous[:, None, :]) & torch.ones(30, 30, dtype=torch.bool).tril()
    by_mask = (attention * follows[:, None]).sum(-1)[..., 1:].mean()
    assert ih.induction_score(attention, tokens, 4).item() == pytest.approx(by_mask.item(), rel=1e-6)
