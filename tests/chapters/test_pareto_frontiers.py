"""The Pareto-frontiers chapter: its claims at test scale (n = 30, k = 3, sixteen seeds a cell), and
the machinery behind them (the SGD step, batching cells together, the frontier, the exact tests)."""

import dataclasses

import pytest
import torch

from companion import pareto_frontiers as pf
from companion.core import parity
from companion.core.models import EnsembleMLP


@pytest.fixture(scope="module")
def found():
    return pf.experiments("test")


@pytest.fixture(scope="module")
def report(found):
    return pf.reproduce("test")  # the runs of `found`, from the cache


# ----------------------------------------------------------------------------- the claims

def test_more_data_turns_failure_into_success(report):
    for init in pf.INITIALISATIONS:
        for width in {r["width"] for r in report["grid"]}:
            rates = [r["success_rate"] for r in sorted(report["grid"], key=lambda r: r["m"])
                     if r["init"] == init and r["width"] == width]
            assert rates[0] <= 0.25 and rates[-1] >= 0.5, (init, width, rates)


def test_width_never_significantly_hurts(report):
    assert report["width_summary"]["wider_worse"] == []


def test_wider_networks_succeed_more_often_somewhere(report):
    assert report["width_summary"]["wider_better"], report["width_tests"]


def test_without_weight_decay_networks_memorise_instead_of_learning(report):
    for row in report["trap"]:
        assert row["successes_without_decay"] <= 0.25 * row["runs"], row
        assert row["memorised_without_decay"] >= 0.75, row
        assert row["successes_with_decay"] >= 0.75 * row["runs"], row


def test_rewound_tickets_beat_random_networks_and_the_weakest_neurons(report):
    tickets = report["lottery"][3]
    assert tickets["rewound_success"] >= tickets["random_success"] + 0.2, tickets
    assert tickets["rewound_success"] >= tickets["weakest_success"] + 0.2, tickets


def test_tickets_start_on_more_of_the_support_than_random_neurons(report):
    assert pf.verdict(report["lottery"][3]["overlap_excess"]) == "above", report["lottery"][3]
    for s, row in report["lottery"].items():
        # the average neuron touches about s/n of the support, as its s random inputs should
        assert abs(row["random_overlap"] - s / 30) < 0.05, (s, row)


def test_the_page_is_computed_and_its_verdicts_follow_the_measurements(report):
    """Every section is computed text, the frontier table has a row per width, and the What-reproduced
    verdicts move with the frontier intervals, the width tests, the tickets and the forest comparison."""
    import copy

    from conftest import page_problems

    values = pf.page_values(report)
    assert page_problems(values) == []
    assert report["width_summary"]["wider_worse"] == []
    assert "No step up in width made success significantly rarer" in values["width"]
    widths = sorted({row["width"] for row in report["grid"]})
    table = [line for line in values["frontier"].splitlines() if line.startswith("| ") and "width" not in line]
    assert [line.split("|")[1].strip() for line in table] == [f"{w:,}" for w in widths]  # a row per width
    doctored = copy.deepcopy(report)
    wide = widths[-1]
    doctored["frontier"]["sparse"][wide] = {"m_half": 300.0, "ci": [280.0, 320.0], "censored": None}
    doctored["frontier"]["dense"][wide] = {"m_half": 600.0, "ci": [560.0, 640.0], "censored": None}
    for s in doctored["lottery"]:
        doctored["lottery"][s]["p_ticket_beats_random"] = 0.5
    doctored["tabular"]["summary"]["mlp_better"] = 0
    assert [claim.verdict for claim in pf.claims(doctored)][::2] == ["reproduced", "not reproduced"]
    assert pf.claims(doctored)[3].verdict == "not reproduced"
    doctored["frontier"]["sparse"][wide], doctored["frontier"]["dense"][wide] = (
        doctored["frontier"]["dense"][wide], doctored["frontier"]["sparse"][wide])
    doctored["width_summary"]["wider_worse"] = [{"init": "dense", "m": 400, "narrow": 10, "wide": wide,
                                                 "narrow_rate": 0.9, "wide_rate": 0.1}]
    assert [claim.verdict for claim in pf.claims(doctored)][:2] == ["departs", "partly"]


# ----------------------------------------------------------------------------- the machinery

def _batch(replicates=3, width=50, n=12, batch=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    model = EnsembleMLP(replicates, n, width, parametrization="mean-field",
                        generators=[torch.Generator().manual_seed(seed + i) for i in range(replicates)])
    x = torch.randint(0, 2, (replicates, batch, n), generator=generator).float() * 2 - 1
    y = torch.randint(0, 2, (replicates, batch), generator=generator).float() * 2 - 1
    return model, x, y


def test_hinge_sgd_step_and_the_readable_reference_are_autograd_and_torch_sgd():
    model, x, y = _batch()
    optimised, readable = (EnsembleMLP(3, 12, 50, parametrization="mean-field") for _ in range(2))
    optimised.load_state_dict(model.state_dict())
    readable.load_state_dict(model.state_dict())
    optimizer = torch.optim.SGD(optimised.parameters(), lr=5.0, weight_decay=1e-3)
    for _ in range(5):
        optimizer.zero_grad()
        parity.margin_loss("hinge", optimised(x)[..., 0], y).sum().backward()
        optimizer.step()
        pf.hinge_sgd_step(model, x, y, lr=5.0, weight_decay=1e-3)
        pf.reference_sgd_step(readable, x, y, lr=5.0, weight_decay=1e-3)
    for name, value in optimised.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(readable.state_dict()[name], value, rtol=1e-5, atol=1e-6)


def test_a_cell_trains_the_same_alone_or_batched_with_others():
    alone_config = pf.Config(m=800, width=100, init="sparse", replicates=3, max_steps=3000, seed=5)
    other = pf.Config(m=400, width=100, init="dense", replicates=3, max_steps=3000, seed=9)
    alone = pf.train_together([alone_config], torch.device("cpu"))[0]
    batched = pf.train_together([other, alone_config], torch.device("cpu"))[1]
    assert alone.metrics["success_steps"] == batched.metrics["success_steps"]
    assert any(s is not None for s in alone.metrics["success_steps"])  # replicates left the batch on the way
    for name in ("final.hidden", "initial.hidden", "supports"):
        torch.testing.assert_close(alone.arrays[name], batched.arrays[name])


def test_frontier_interpolates_and_censors():
    def rows(successes, ms=(100, 200, 300)):
        return [{"init": "dense", "width": 10, "m": m, "successes": s, "runs": 16, "success_rate": s / 16}
                for m, s in zip(ms, successes)]
    point = pf.frontier(rows([0, 4, 12]), "dense", 10)
    assert point["m_half"] == pytest.approx(250.0)  # 0.25 at 200, 0.75 at 300: half way
    assert point["ci"][0] <= 250 <= point["ci"][1]
    assert pf.frontier(rows([12, 16, 16]), "dense", 10)["censored"] == "below"
    never = pf.frontier(rows([0, 1, 2]), "dense", 10)
    assert never["m_half"] is None and never["censored"] == "above" and never["ci"][1] is None


def test_width_tests_flag_a_wider_network_that_is_worse():
    rows = [{"init": "dense", "m": 500, "width": w, "successes": s, "runs": 16, "success_rate": s / 16}
            for w, s in ((10, 15), (100, 2))]
    rows += [{**row, "init": "sparse", "successes": 8, "success_rate": 0.5} for row in rows]
    summary = pf.width_summary(pf.width_tests(rows))
    assert [(t["init"], t["narrow"], t["wide"]) for t in summary["wider_worse"]] == [("dense", 10, 100)]
    assert summary["wider_better"] == []


def test_holm_keeps_only_what_survives_the_correction():
    assert pf.holm([0.001, 0.02, 0.04]) == [True, True, True]  # 0.001 < .05/3, 0.02 < .05/2, 0.04 < .05
    assert pf.holm([0.001, 0.03, 0.04]) == [True, False, False]  # 0.03 > .05/2 stops the descent
    assert pf.holm([0.2, 0.01]) == [False, True]


def test_support_overlap_counts_the_initial_inputs_on_the_support():
    arrays = {"initial.hidden": torch.tensor([[[1.0, 0, 2, 0], [0, 0, 0, 3], [1, 1, 0, 0]]]),
              "supports": torch.tensor([[0, 1]])}
    overlap = pf.support_overlap(pf.Result(metrics={}, arrays=arrays))
    assert overlap.tolist() == [[0.5, 0.0, 1.0]]


def test_paired_differences_say_which_side_of_zero():
    assert pf.paired_difference([0.1] * 5, [0.2, 0.21, 0.19, 0.2, 0.2], ("a", "b"))["verdict"] == "a errs less"
    assert pf.paired_difference([0.1, 0.3, 0.2], [0.2, 0.2, 0.2], ("a", "b"))["verdict"] == "no difference shown"


def test_sparse_initialisation_has_s_inputs_per_neuron_and_keeps_the_spread():
    generators = [torch.Generator().manual_seed(i) for i in range(2)]
    model = EnsembleMLP(2, 40, 500, sparsity=4, generators=generators)
    assert ((model.hidden != 0).sum(-1) == 4).all()
    dense = EnsembleMLP(2, 40, 500, generators=[torch.Generator().manual_seed(i) for i in range(2)])
    x = torch.randint(0, 2, (2, 256, 40)).float() * 2 - 1
    spread = (x @ model.hidden.detach().transpose(1, 2)).std() / (x @ dense.hidden.detach().transpose(1, 2)).std()
    assert 0.85 < float(spread) < 1.15


def test_wilson_interval():
    low, high = pf.wilson_interval(6, 12)
    assert low < 0.5 < high and high - low < 0.6
    assert pf.wilson_interval(0, 12)[0] == 0.0 and pf.wilson_interval(12, 12)[1] == 1.0


@pytest.mark.parametrize("bad, message", [
    (dict(init="orthogonal"), "init must be one of"),
    (dict(n=20, sparsity=21), "sparsity must be between 1 and 20"),
    (dict(m=0), "m must be between 1"),
    (dict(parametrization="ntk"), "parametrization must be one of"),
    (dict(weight_decay=2.0), "weight_decay must be between 0 and 1"),
])
def test_bad_settings_fail_before_training(bad, message):
    with pytest.raises(ValueError, match=message):
        pf.Config(**bad)


def test_cells_that_differ_in_shape_cannot_train_together():
    a = pf.Config(width=10, replicates=2, max_steps=200)
    with pytest.raises(ValueError, match="must share"):
        pf.train_together([a, dataclasses.replace(a, width=20)], torch.device("cpu"))


def test_bad_tabular_dataset_names_the_choices():
    with pytest.raises(ValueError, match="dataset must be one of"):
        pf.TabularConfig(dataset="iris")
