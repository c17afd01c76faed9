"""The increasing-complexity chapter's claims at test scale, over two seeds, with hand-checked estimators."""

import numpy as np
import pytest

from companion import increasing_complexity as ic

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def found():
    return {seed: ic.experiments("test", seed) for seed in SEEDS}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dataset", ic.DATASETS)
def test_early_on_the_linear_classifier_explains_the_network(found, seed, dataset):
    """mu / I(F;Y) while F is no better than L: typically above 0.8 (the issue's bar; seed 1 of the 2-D
    task dips to about 0.7 at a few early evaluations, and the chapter reports the minimum it measures)."""
    early = ic.explained_early(found[seed][dataset]["clean"].metrics)
    assert early["evaluations"] >= 3
    assert np.median(early["ratios"]) >= 0.8, early["ratios"]
    assert early["min_ratio"] >= 0.6, early["ratios"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dataset", ic.DATASETS)
def test_the_network_goes_beyond_the_linear_classifier_and_keeps_it(found, seed, dataset):
    summary = ic.summary(found[seed][dataset]["clean"], found[seed][dataset]["noisy"])
    assert summary["final_acc_F"] >= summary["acc_L"] + 0.05
    assert summary["final_mu_share_of_I_LY"] >= 0.9
    metrics = found[seed][dataset]["clean"].metrics
    assert metrics["I_FY_given_L"][-1] > 0.1  # the network knows things L does not


@pytest.mark.parametrize("seed", SEEDS)
def test_memorising_flipped_labels_gives_up_part_of_mu(found, seed):
    summary = ic.summary(found[seed]["digits"]["clean"], found[seed]["digits"]["noisy"])
    assert summary["noisy_final_train_acc"] > 0.95  # the flipped labels are memorised
    assert summary["noisy_final_mu"] <= 0.8 * summary["noisy_peak_mu"]


def test_without_noise_mu_does_not_fall_like_that(found):
    for seed in SEEDS:
        metrics = found[seed]["digits"]["clean"].metrics
        assert metrics["mu"][-1] >= 0.9 * max(metrics["mu"])


def test_the_ladder_is_passed_in_order_of_complexity(found):
    ladder = found[0]["sine"]["clean"].metrics["ladder"]
    assert ladder["1"]["acc"] < ladder["3"]["acc"] < ladder["5"]["acc"]
    passing = ic.passing_steps(found[0]["sine"]["clean"], share=0.85)
    assert passing[1] is not None and passing[3] is not None and passing[1] < passing[3]
    assert passing[5] is None or passing[3] <= passing[5]


def test_plug_in_estimators_on_distributions_we_can_work_out():
    y = np.array([0, 0, 1, 1] * 250)
    assert ic.mutual_information(y, y) == pytest.approx(1.0)
    assert ic.mutual_information(y, np.array([0, 1] * 500)) == pytest.approx(0.0)
    linear = np.array([0, 1, 0, 1] * 250)  # independent of y
    f = y ^ linear
    assert ic.mutual_information(f, y) == pytest.approx(0.0)
    assert ic.conditional_mutual_information(f, y, linear) == pytest.approx(1.0)
    assert ic.mu(f, y, linear) == pytest.approx(-1.0)
    assert ic.mu(y, y, y) == pytest.approx(1.0)  # F = L = Y: L explains everything F knows


def test_mu_never_exceeds_what_the_linear_classifier_knows():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 300)
        linear = np.where(rng.uniform(size=300) < 0.75, y, 1 - y)
        f = np.where(rng.uniform(size=300) < 0.5, linear, rng.integers(0, 2, 300))
        assert ic.mu(f, y, linear) <= ic.mutual_information(linear, y) + 1e-12


@pytest.mark.parametrize("bad, message", [
    (dict(dataset="mnist"), "dataset must be one of"),
    (dict(noise=0.6), "noise must be between 0 and 0.45"),
    (dict(dataset="digits", train_size=1700), "train_size must be at most 1500"),
    (dict(ladder=(1, 30)), "ladder degree must be between 1 and 20"),
])
def test_bad_settings_fail_before_training(bad, message):
    with pytest.raises(ValueError, match=message):
        ic.Config(**bad)
