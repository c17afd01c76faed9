"""The hidden-progress chapter's claims at test scale, over six seeds, each beside a control that must fail."""

import dataclasses
import math

import pytest
import torch

from companion import hidden_progress as hp
from companion.core import parity
from companion.core.models import EnsembleMLP
from companion.core.runtime import derived_generator


@pytest.fixture(scope="module")
def runs():
    return hp.experiments("test")


def test_every_seed_shows_the_plateau_then_the_drop(runs):
    checks = hp.plateau_checks(runs["main"], runs["control"])
    assert len(checks) == 6
    assert all(c["t_c"] is not None for c in checks), "every seed solves (n, k) = (30, 3)"
    held = sum(c["plateau_held"] for c in checks)
    assert held >= math.ceil(0.8 * len(checks)), f"plateau-then-drop held for only {held} of {len(checks)} seeds"


def test_support_share_rises_above_the_control_before_the_loss_falls(runs):
    checks = hp.plateau_checks(runs["main"], runs["control"])
    beats = sum(c["share_beats_control"] for c in checks)
    assert beats >= math.ceil(0.8 * len(checks))
    chance = 3 / 30
    shares = runs["main"].arrays["support_weight_share"]
    assert torch.allclose(shares[:, 0], torch.full((6,), chance), atol=1e-6)  # sign init: exactly k/n
    assert (shares[:, -1] > 2 * chance).all()  # the solved networks read the support


def test_the_random_label_control_learns_nothing(runs):
    control = runs["control"]
    assert all(t is None for t in control.metrics["t_c"])
    assert control.arrays["loss"][:, -1].min() > 0.9  # still at chance
    shares = control.arrays["support_weight_share"]
    assert shares.max() < 1.3 * 3 / 30 and shares.min() > 0.75 * 3 / 30


def test_median_time_grows_with_n_and_is_ordered_by_k(runs):
    """With PyTorch's default init (the sign init made k = 3 start with k = 4's gap), k = 4 is slower
    than k = 3 at every n, and its exponent is larger."""
    rows = hp.scaling_table(runs["scaling"])
    assert {result.metrics["config"]["init"] for result in runs["scaling"]} == {"uniform"}
    medians = {k: [row["median_t_c"] for row in sorted(rows, key=lambda r: r["n"]) if row["k"] == k] for k in (3, 4)}
    for times in medians.values():
        assert None not in times and times == sorted(times) and times[-1] > 2 * times[0]
    assert all(slow > fast for slow, fast in zip(medians[4], medians[3]))
    slopes = hp.scaling_exponents(rows)
    assert slopes[4] > slopes[3] > 0.5


def test_the_sq_reference_is_samples_over_n_to_the_k():
    rows = [{"n": 10, "k": 3, "median_t_c": 500.0}, {"n": 20, "k": 3, "median_t_c": None}]
    assert hp.sq_reference(rows, batch_size=32) == {3: {10: 32 * 500 / 1000}}


def test_the_gap_is_amplified_under_the_flat_loss_and_not_in_the_control(runs):
    gap = hp.gap_over_training(runs["gap"], runs["gap_control"])
    assert gap["amplified"] >= 3 and len(gap["seeds"]) == 4
    for seed in gap["seeds"]:
        assert seed["growth"] > 1.03 and 0.95 < seed["control_max_growth"] < 1.05
    for loss in gap["loss"]:  # "before the fall": the loss there is still on its plateau
        assert loss[0] > 0.95
    assert all(max(curve) > 0.95 for curve in gap["control_loss"]) and all(min(c) > 0.9 for c in gap["control_loss"])


def test_population_measures_match_a_direct_enumeration():
    config = hp.Config(n=8, k=3, width=5, replicates=2, init="uniform", seed=4)
    generators = hp.replicate_generators(config)
    supports = torch.stack([parity.random_support(8, 3, g) for g in generators])
    model = EnsembleMLP(2, 8, 5, init="uniform", generators=generators)
    x = parity.all_inputs(8)
    y = torch.stack([parity.parity(x, s) for s in supports])
    measured = hp.population_measures(model, x, y, hp.support_mask(supports, 8), chunk=100)
    for r in range(2):
        active = (x @ model.hidden[r].detach().T + model.hidden_bias[r].detach() > 0).double()  # (2^n, width)
        c = torch.einsum("b,bw,bn->wn", y[r].double(), active, x.double()) / len(x)
        on = torch.zeros(8, dtype=torch.bool)
        on[supports[r]] = True
        assert measured["relevant"][r] == pytest.approx(float(c[:, on].abs().mean()))
        assert measured["irrelevant"][r] == pytest.approx(float(c[:, ~on].abs().mean()))
        assert measured["support_share"][r] == pytest.approx(float(c[:, on].pow(2).sum() / c.pow(2).sum()))
        hinge = torch.clamp(1 - y[r] * model(x.expand(2, -1, -1))[r, :, 0].detach(), min=0).mean()
        assert measured["loss"][r] == pytest.approx(float(hinge), rel=1e-5)


def test_spread_sources_finds_the_factor_that_varies():
    rng = torch.Generator().manual_seed(0)
    by_init = (torch.tensor([300.0, 900.0, 2700.0])[:, None] * torch.ones(3, 4)).flatten()
    by_order = (torch.tensor([300.0, 900.0, 2700.0, 400.0])[None, :] * torch.ones(3, 4)).flatten()
    noise = 1 + 0.01 * torch.rand(12, generator=rng)
    assert hp.spread_sources((by_init * noise).tolist(), data_seeds=4, cap=10**5)["init"] > 0.95
    assert hp.spread_sources((by_order * noise).tolist(), data_seeds=4, cap=10**5)["data_order"] > 0.95
    censored = hp.spread_sources([100, None, 100, 100], data_seeds=2, cap=5000)
    assert censored["censored"] == 1


def test_a_memoryless_search_has_a_coefficient_of_variation_near_one():
    geometric = torch.distributions.Geometric(probs=torch.tensor(1e-3)).sample((4000,)).add(1).tolist()
    assert hp.coefficient_of_variation(geometric) == pytest.approx(1.0, abs=0.06)
    assert hp.coefficient_of_variation([1000, 1100, 900]) < 0.2


def test_the_crossed_grid_shares_inits_along_rows_and_data_along_columns():
    config = hp.crossed_config("test")
    assert config.init_seeds()[:5] == [0, 0, 0, 0, 1] and config.data_order_seeds()[:5] == [0, 1, 2, 3, 0]
    inits = hp.replicate_generators(config)
    model = EnsembleMLP(config.replicates, config.n, 4, init="uniform", generators=inits)
    assert torch.equal(model.hidden[0], model.hidden[1]) and not torch.equal(model.hidden[0], model.hidden[4])
    data = hp.data_generators(config, hp.replicate_generators(config))
    draws = [torch.rand(3, generator=g) for g in data]
    assert torch.equal(draws[0], draws[4]) and not torch.equal(draws[0], draws[1])


def test_width_narrows_the_spread_more_than_it_moves_the_median(runs):
    returns = hp.width_returns(hp.width_table(runs["widths"]))
    assert returns["std_drop"] > 0.5
    assert returns["std_drop"] > returns["median_drop"] + 0.3


@pytest.mark.parametrize("n", [6, 9, 10, 13])
@pytest.mark.parametrize("degree", [0, 1, 2, 3, 4])
def test_threshold_fourier_matches_enumeration(n, degree):
    exact = parity.fourier_coefficient(lambda x: (x.sum(-1) > 0).float(), n, list(range(degree)))
    assert parity.threshold_fourier(n, degree) == pytest.approx(exact, abs=1e-12)


@pytest.mark.parametrize("n", [10, 12, 14, 16])
@pytest.mark.parametrize("k", [3, 4])
def test_closed_form_gradient_matches_exact_enumeration(n, k):
    """Exact over all 2^n inputs, so a closed form that returned 0 off the support would fail here
    (Monte Carlo cannot resolve that coefficient at large n)."""
    generator = torch.Generator().manual_seed(n + k)
    w = parity.random_signs((n,), generator)
    support = parity.random_support(n, k, generator)
    x = parity.all_inputs(n).double()
    exact = ((parity.parity(x, support) * (x @ w.double() > 0))[:, None] * x).mean(0) * (w[support].prod() * w)
    in_support = torch.zeros(n, dtype=torch.bool)
    in_support[support] = True
    closed = hp.sign_init_gradient(n, k)
    assert closed["irrelevant"] != 0
    assert torch.allclose(exact[in_support], torch.tensor(closed["relevant"]).double(), rtol=1e-9, atol=0)
    assert torch.allclose(exact[~in_support], torch.tensor(closed["irrelevant"]).double(), rtol=1e-9, atol=0)


def test_closed_form_gradient_matches_enumeration_and_monte_carlo():
    n, k = 10, 3
    generator = torch.Generator().manual_seed(3)
    w = parity.random_signs((n,), generator)
    support = parity.random_support(n, k, generator)
    x = parity.all_inputs(n).double()
    exact = ((parity.parity(x, support) * (x @ w.double() > 0))[:, None] * x).mean(0)
    closed = hp.sign_init_gradient(n, k)
    orientation = w[support].prod() * w
    in_support = torch.zeros(n, dtype=torch.bool)
    in_support[support] = True
    assert torch.allclose((exact * orientation)[in_support], torch.tensor(closed["relevant"]).double())
    assert torch.allclose((exact * orientation)[~in_support], torch.tensor(closed["irrelevant"]).double())
    for row in hp.fourier_gap_check("test").metrics["rows"]:
        for kind in ("relevant", "irrelevant"):
            error = abs(row["monte_carlo"][kind] - row["closed_form"][kind])
            assert error < 4 * row["monte_carlo"][f"{kind}_se"], (row["n"], kind)
    assert abs(closed["relevant"]) > 2 * abs(closed["irrelevant"])


def test_batched_replicates_are_the_networks_of_their_own_seeds():
    config = hp.Config(n=12, k=2, replicates=3, seed=5)
    batch = EnsembleMLP(3, 12, 8, generators=hp.replicate_generators(config))
    alone = EnsembleMLP(1, 12, 8, generators=hp.replicate_generators(hp.Config(n=12, k=2, replicates=1, seed=6)))
    assert torch.equal(batch.hidden[1], alone.hidden[0])
    x = parity.random_signs((3, 5, 12), torch.Generator().manual_seed(0))
    assert torch.allclose(batch(x)[1], alone(x[1:2])[0], atol=1e-6)


def test_generator_streams_do_not_collide():
    # torch keeps only 32 bits of a seed: seed and seed + 2**40 would give the same test set
    first = torch.rand(4, generator=derived_generator(0, 0))
    assert not torch.equal(first, torch.rand(4, generator=derived_generator(0, 1)))
    assert torch.equal(first, torch.rand(4, generator=derived_generator(0, 0)))


@pytest.mark.parametrize("bad, message", [
    (dict(n=10, k=11), "k must be between 1 and n=10"),
    (dict(loss="cross-entropy"), "loss must be one of"),
    (dict(init="orthogonal"), "init must be one of"),
    (dict(eval_every=25, snapshot_every=40), "snapshot_every must be a multiple of eval_every=25"),
    (dict(lr=0), "lr must be > 0"),
    (dict(labels="shuffled"), "labels must be one of"),
])
def test_bad_settings_fail_before_training(bad, message):
    with pytest.raises(ValueError, match=message):
        hp.Config(**bad)


def test_search_runs_stop_once_every_seed_is_solved(runs):
    for result in runs["scaling"]:
        config = result.metrics["config"]
        assert max(t for t in result.metrics["t_c"]) == result.metrics["steps"][-1] < config["steps"]


def test_live_widget_retrains_and_reports_bad_settings(capsys):
    box = hp.live_widget(scale="test")
    controls = {w.description: w for row in box.children[:-1] for w in row.children}
    output = box.children[-1]

    def click() -> str:
        controls["Retrain"].click()
        return "".join(o.get("text", "") for o in output.outputs) + capsys.readouterr().out

    controls["n (bits)"].value, controls["k (support)"].value, controls["max steps"].value = 10, 2, 500
    assert "t_c per seed" in click()
    controls["n (bits)"].min, controls["n (bits)"].value, controls["k (support)"].value = 2, 4, 5
    assert "k must be between 1 and n=4, got 5" in click()


def test_the_explorer_draws_the_control_it_is_given(runs):
    with_control = hp.explorer(runs["main"], runs["control"])
    against_itself = hp.explorer(runs["main"], runs["main"])  # another control: new frames, not the cached ones
    assert with_control.frames != against_itself.frames


@pytest.mark.parametrize("scale", ["test", "book", "full"])
def test_the_fourier_check_covers_the_main_runs_n(scale):
    """The chapter reads the Fourier gap at its main run's n (a test-scale notebook once stopped here)."""
    assert hp.SCALES[scale]["n"] in hp.FOURIER_CHECK[scale]["ns"]


def test_coefficient_exponents_recover_a_power_law():
    rows = [{"n": n, "closed_form": {"relevant": -(n ** -1.5), "irrelevant": 3 * n ** -2.5}} for n in (10, 20, 40)]
    assert hp.coefficient_exponents(rows) == pytest.approx({"relevant": -1.5, "irrelevant": -2.5})


def test_the_initial_output_size_scales_with_the_read_out():
    config = hp.config_for("test")
    small = dataclasses.replace(config, readout_scale=0.1)
    assert hp.initial_max_output(small) == pytest.approx(0.1 * hp.initial_max_output(config), rel=1e-5)
    assert hp.initial_max_output(config) > 1  # the main run starts past the hinge's linear regime


def test_the_page_is_computed_and_its_verdicts_follow_the_measurements(runs):
    """Every section is computed text, and each What-reproduced verdict moves with its measurement: seeds
    whose plateau does not hold, a gap that never outgrows its control, exponents that shrink with k, a
    sample cost that keeps pace with n^k, and times as spread as a blind search's."""
    from conftest import page_problems

    report = hp.reproduce("test")  # the runs of `runs`, from the cache
    assert page_problems(hp.page_values(report)) == []
    verdicts = {claim.paper: claim.verdict for claim in hp.claims(report)}
    assert set(verdicts.values()) <= {"reproduced", "partly", "not reproduced", "departs"}

    def verdict(changed: dict, row: int) -> str:
        return hp.claims({**report, **changed})[row].verdict

    summary = report["summary"]
    assert verdict({"summary": {**summary, "plateau_held": 0}}, 0) == "not reproduced"
    assert verdict({"summary": {**summary, "plateau_held": summary["seeds"] - 1}}, 0) == "partly"
    gap = report["gap_over_training"]
    assert verdict({"gap_over_training": {**gap, "amplified": 0}}, 1) == "not reproduced"
    shrinking = {k: -value for k, value in report["scaling_exponents"].items()}
    assert verdict({"scaling_exponents": shrinking}, 2) != "reproduced"
    rising = {k: {n: float(n) for n in by_n} for k, by_n in report["sq_reference"].items()}
    assert verdict({"sq_reference": rising}, 3) == "reproduced"
    spread = {k: {n: 1.0 for n in by_n} for k, by_n in report["t_c_cv"].items()}
    assert verdict({"t_c_cv": spread}, 4) == "not reproduced"
