"""The pareto frontiers chapter's exercise checks pass right answers and fail wrong ones, with a hint."""


from math import comb

import torch

from companion import pareto_frontiers as pf


def reference_sparse_init(width, n, s, generator):
    chosen = torch.rand(width, n, generator=generator).topk(s, dim=1).indices
    return torch.zeros(width, n).scatter_(1, chosen, 1.0)


def test_sparse_init_check(capsys):
    assert pf.check_sparse_init(reference_sparse_init)
    assert not pf.check_sparse_init(lambda w, n, s, g: torch.ones(w, n))
    assert "exactly s = 3" in capsys.readouterr().out
    assert not pf.check_sparse_init(lambda w, n, s, g: torch.zeros(w, n).index_fill_(1, torch.arange(s), 1.0))
    assert "far more often" in capsys.readouterr().out
    fixed = torch.Generator().manual_seed(7)
    assert not pf.check_sparse_init(lambda w, n, s, g: reference_sparse_init(w, n, s, fixed.manual_seed(7)))
    assert "generator passed in" in capsys.readouterr().out


def test_cover_probability_check(capsys):
    assert pf.check_cover_probability(lambda n, k, s: comb(n - k, s - k) / comb(n, s) if s >= k else 0.0)
    assert not pf.check_cover_probability(lambda n, k, s: (s / n) ** k)
    assert "without replacement" in capsys.readouterr().out


def test_frontier_reading_check(capsys):
    rows = [{"m": m, "width": 1000, "init": init, "success_rate": rate}
            for init, rates in (("sparse", (0.0, 0.6, 1.0)), ("dense", (0.0, 0.1, 0.9)))
            for m, rate in zip((700, 1000, 1400), rates)]
    assert pf.check_frontier_reading(1000, rows)
    assert not pf.check_frontier_reading(1400, rows)
    assert "other initialisation" in capsys.readouterr().out
