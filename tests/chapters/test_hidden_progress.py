"""The hidden-progress chapter's claims at test scale, over six seeds, each beside a control that must fail."""

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


def test_median_time_grows_with_n_at_fixed_k(runs):
    rows = hp.scaling_table(runs["scaling"])
    for k in (3, 4):
        medians = [row["median_t_c"] for row in sorted(rows, key=lambda r: r["n"]) if row["k"] == k]
        assert None not in medians and medians == sorted(medians) and medians[-1] > 2 * medians[0]
    slopes = hp.scaling_exponents(rows)
    assert slopes[4] > 1.0


def test_width_narrows_the_spread_more_than_it_moves_the_median(runs):
    returns = hp.width_returns(hp.width_table(runs["widths"]))
    assert returns["std_drop"] > 0.5
    assert returns["std_drop"] > returns["median_drop"] + 0.3


@pytest.mark.parametrize("n", [6, 9, 10, 13])
@pytest.mark.parametrize("degree", [0, 1, 2, 3, 4])
def test_threshold_fourier_matches_enumeration(n, degree):
    exact = parity.fourier_coefficient(lambda x: (x.sum(-1) > 0).float(), n, list(range(degree)))
    assert parity.threshold_fourier(n, degree) == pytest.approx(exact, abs=1e-12)


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
