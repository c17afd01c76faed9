"""The transcendence chapter's exact toy world: temperature, mixtures, votes and the diversity condition."""

import dataclasses

import numpy as np
import pytest

from companion import transcendence as tr


def test_temperature_one_is_the_identity_and_zero_is_the_argmax():
    p = np.array([[0.5, 0.3, 0.2, 0.0], [0.1, 0.45, 0.45, 0.0]])
    assert np.allclose(tr.temperature_scale(p, 1.0), p)
    assert np.allclose(tr.temperature_scale(p, 0.0), [[1, 0, 0, 0], [0, 0.5, 0.5, 0]])
    assert np.allclose(tr.temperature_scale(p, 1e-3)[0], [1, 0, 0, 0], atol=1e-12)
    cold = tr.temperature_scale(p, 0.5)
    assert np.allclose(cold.sum(-1), 1) and (cold[:, -1] == 0).all()
    assert cold[0, 0] > p[0, 0]  # cooling sharpens


@pytest.mark.parametrize("config", list(tr.TOY_SCENARIOS.values()) + [tr.ToyConfig(noise=0.3)],
                         ids=list(tr.TOY_SCENARIOS) + ["noisy diverse"])
def test_at_temperature_one_the_model_earns_the_experts_average(config):
    summary = tr.toy_summary(config)
    assert summary["model_reward"][1.0] == pytest.approx(summary["expert_average"], abs=1e-12)
    assert summary["model_reward"][0.001] == pytest.approx(summary["argmax_reward"], abs=1e-9)


def test_diverse_experts_are_combined_and_shared_errors_are_not():
    found = tr.toy_results()
    assert found["diverse_gain"] == pytest.approx(0.3 * (1 - 0.3 / 4))  # every error region repaired
    assert found["shared_gain"] <= 0  # the vote repeats the shared mistake, and loses the lucky guesses
    rewards = found["scenarios"]["diverse"]["model_reward"]
    assert all(a <= b for a, b in zip(list(rewards.values()), list(rewards.values())[1:]))  # colder is better


def test_a_single_noisy_expert_is_denoised():
    summary = tr.toy_results()["scenarios"]["one noisy expert"]
    assert summary["expert_rewards"] == [pytest.approx(0.6)]
    assert summary["argmax_reward"] == 1.0 and summary["gain"] == pytest.approx(0.4, abs=1e-9)


def test_two_diverse_experts_suffice_and_the_regions_are_as_specified():
    """With two experts, one wrong in a place still leaves the right action the most likely; the shared
    scenario's experts err on one common region, the diverse ones on disjoint regions."""
    config = dataclasses.replace(tr.TOY_SCENARIOS["diverse"], experts=2)
    assert tr.toy_summary(config)["gain"] > 0  # one of two wrong: the right action still has the most mass
    regions = tr.error_regions(tr.TOY_SCENARIOS["shared"])
    assert regions.all(0).sum() == round(0.3 * 120) and not tr.error_regions(tr.TOY_SCENARIOS["diverse"]).all(0).any()


@pytest.mark.parametrize("changes, named", [
    (dict(actions=1), "actions"), (dict(noise=1.5), "noise"), (dict(diversity="mixed"), "diversity"),
    (dict(experts=4, error_share=0.3), "error_share"), (dict(states=0), "states"),
])
def test_bad_settings_name_the_parameter(changes, named):
    with pytest.raises(ValueError, match=named):
        tr.ToyConfig(**changes)


def test_negative_temperature_is_refused():
    with pytest.raises(ValueError, match="tau"):
        tr.temperature_scale(np.array([0.5, 0.5]), -1.0)
