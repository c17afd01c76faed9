"""The Pareto-frontiers chapter's claims at test scale (n = 30, k = 3, twelve seeds a cell)."""

import pytest
import torch

from companion import pareto_frontiers as pf
from companion.core.models import EnsembleMLP


@pytest.fixture(scope="module")
def found():
    return pf.experiments("test")


@pytest.fixture(scope="module")
def rows(found):
    return pf.grid_table(found["grid"])


def test_more_data_turns_failure_into_success(rows):
    for init in pf.INITIALISATIONS:
        for width in (10, 100):
            rates = [r["success_rate"] for r in sorted(rows, key=lambda r: r["m"])
                     if r["init"] == init and r["width"] == width]
            assert rates[0] <= 0.25 and rates[-1] >= 0.75, (init, width, rates)


def test_sparse_is_never_worse_than_dense_beyond_the_interval(rows):
    assert pf.grid_checks(rows)["sparse_below_dense"] == []


def test_sparse_wide_networks_succeed_where_dense_ones_fail(rows):
    assert pf.grid_checks(rows)["separated_cells"], "no cell where sparse succeeds >= 1/2 and dense <= 1/4"


def test_width_never_hurts_sparse_networks(rows):
    assert [b for b in pf.grid_checks(rows)["width_breaks"] if b["init"] == "sparse"] == []


def test_wide_networks_fail_by_memorising_narrow_ones_by_running_out_of_time(rows):
    wide_failures = [r for r in rows if r["width"] == 100 and r["success_rate"] < 1]
    assert wide_failures
    for row in wide_failures:
        assert row["memorised_rate"] >= 0.75 * (1 - row["success_rate"])
    assert all(r["memorised_rate"] <= 0.25 for r in rows if r["width"] == 10)


def test_rewound_tickets_beat_random_networks_of_their_size(found):
    lottery = found["lottery"].metrics
    assert lottery["pruned_success"] >= lottery["random_success"] + 0.25
    assert lottery["pruned_success"] >= 0.75


def test_a_control_without_the_tickets_neurons_fails(found):
    """Rewinding the *weakest* neurons instead of the strongest gives no advantage."""
    lottery = found["lottery"].metrics
    source = pf.Config(**lottery["source"])
    trained = pf.run(source)
    weakest = pf.ticket_neurons(trained, source.width)[:, -lottery["ticket_width"]:]  # sorted strongest first
    small = pf.Config(**{**lottery["source"], "width": lottery["ticket_width"]})
    model = pf.build_model(small)
    pf.rewind(model, trained, weakest)
    outcome = pf.fit(model, small, pf.make_data(small))["success_steps"]
    weak_rate = sum(s is not None for s in outcome) / len(outcome)
    assert weak_rate <= lottery["pruned_success"] - 0.25


def test_tabular_rows_compare_both_learners(found):
    table = pf.tabular_table(found["tabular"])
    for row in table:
        assert 0 <= row["mlp_error"] < 0.2 and 0 <= row["rf_error"] < 0.2  # both learn far better than chance
        assert row["winner"] in ("sparse MLP", "random forest")


def test_sparse_initialisation_has_s_inputs_per_neuron_and_keeps_the_spread():
    generators = [torch.Generator().manual_seed(i) for i in range(2)]
    model = EnsembleMLP(2, 40, 500, sparsity=4, generators=generators)
    assert ((model.hidden != 0).sum(-1) == 4).all()
    dense = EnsembleMLP(2, 40, 500, generators=[torch.Generator().manual_seed(i) for i in range(2)])
    x = torch.randint(0, 2, (2, 256, 40)).float() * 2 - 1
    spread = (x @ model.hidden.detach().transpose(1, 2)).std() / (x @ dense.hidden.detach().transpose(1, 2)).std()
    assert 0.85 < float(spread) < 1.15


def test_mean_field_output_does_not_grow_with_width():
    x = torch.randint(0, 2, (1, 512, 20)).float() * 2 - 1
    models = [EnsembleMLP(1, 20, width, parametrization="mean-field", generators=[torch.Generator().manual_seed(0)])
              for width in (100, 10000)]
    spreads = [float(model(x).detach().std()) for model in models]
    assert spreads[1] < spreads[0]  # the average of more independent neurons fluctuates less


def test_wilson_interval():
    low, high = pf.wilson_interval(6, 12)
    assert low < 0.5 < high and high - low < 0.6
    assert pf.wilson_interval(0, 12)[0] == 0.0 and pf.wilson_interval(12, 12)[1] == 1.0


@pytest.mark.parametrize("bad, message", [
    (dict(init="orthogonal"), "init must be one of"),
    (dict(n=20, sparsity=21), "sparsity must be between 1 and 20"),
    (dict(m=0), "m must be between 1"),
    (dict(parametrization="ntk"), "parametrization must be one of"),
])
def test_bad_settings_fail_before_training(bad, message):
    with pytest.raises(ValueError, match=message):
        pf.Config(**bad)


def test_bad_tabular_dataset_names_the_choices():
    with pytest.raises(ValueError, match="dataset must be one of"):
        pf.TabularConfig(dataset="iris")
