"""The chapter's claim at test scale, over three seeds, with a control that must fail it."""

import pytest

from companion import induction_heads as ih

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def seed_runs():
    return dict(zip(SEEDS, ih.run_many([ih.config_for("test", seed=s) for s in SEEDS])))


@pytest.mark.parametrize("seed", SEEDS)
def test_three_phases(seed_runs, seed):
    metrics = seed_runs[seed].metrics
    checks = ih.phase_checks(metrics)
    # a unigram plateau: within 0.02 nats of the unigram strategy, much closer to it than to bigram
    assert checks["plateau_steps"], f"seed {seed}: no unigram plateau"
    # then the bigram solution: closer to the bigram strategy than to the unigram one
    assert checks["bigram_after_plateau"], f"seed {seed}: never moved to the bigram strategy"
    assert metrics["transition_step"] is not None and metrics["transition_step"] > checks["plateau_steps"][0]
    # and convergence to within 0.03 nats of the Bayes-optimal bigram loss
    assert checks["converged"], f"seed {seed}: ended {checks['final_gap_to_bigram']:.3f} above bigram"
    # it starts from uniform predictions, well above the unigram plateau
    assert abs(metrics["kl_model"][0] - metrics["baselines"]["uniform"]) < 0.02
    assert metrics["kl_model"][0] > metrics["baselines"]["unigram"] + 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_both_heads_form_at_the_transition(seed_runs, seed):
    metrics = seed_runs[seed].metrics
    plateau_end = metrics["step"].index(ih.phase_checks(metrics)["plateau_steps"][-1])
    previous, induction = metrics["previous_token_score"], metrics["induction_score"]
    assert previous[plateau_end] < 0.15 < 0.3 < previous[-1]
    assert induction[-1] - induction[plateau_end] > 0.2
    assert seed_runs[seed].arrays["attention"].shape[:2] == (len(metrics["step"]), 2)


def test_same_seed_gives_the_same_metrics():
    config = ih.config_for("test", steps=30, n_evals=5, test_size=32)
    first = ih.run(config, use_cache=False).metrics
    second = ih.run(config, use_cache=False).metrics
    assert {k: v for k, v in first.items() if k != "wall_seconds"} == \
           {k: v for k, v in second.items() if k != "wall_seconds"}
    other = ih.run(ih.config_for("test", steps=30, n_evals=5, test_size=32, seed=1), use_cache=False)
    assert other.metrics["kl_model"] != first["kl_model"]


def test_one_layer_cannot_count_bigrams():
    """The control: with one attention layer there is no induction circuit, so the checks must fail."""
    metrics = ih.run(ih.config_for("test", n_layers=1)).metrics
    checks = ih.phase_checks(metrics)
    assert not checks["converged"]
    assert metrics["kl_model"][-1] > metrics["baselines"]["bigram"] + 0.05


def test_doubly_stochastic_prior_has_no_useful_unigram_solution():
    runs = ih.prior_experiment("test", seed=0)
    ds = runs["doubly-stochastic"].metrics
    assert ds["baselines"]["unigram"] >= ds["baselines"]["uniform"] - 0.005
    assert runs["dirichlet"].metrics["baselines"]["unigram"] < runs["dirichlet"].metrics["baselines"]["uniform"] - 0.05
    # the doubly stochastic run waits near the uniform level, then learns from bigram statistics
    assert min(abs(v - ds["baselines"]["uniform"]) for v in ds["kl_model"][:10]) < 0.02
    assert ds["kl_model"][-1] < ds["baselines"]["uniform"] - 0.05
    summary = ih.prior_summary(runs)
    assert summary["verdict"] in ("earlier than", "later than", "at the same evaluated step as")


def test_live_widget_retrains(capsys):
    import ipywidgets as widgets

    box = ih.live_widget(scale="test")
    controls = {w.description: w for row in box.children[:-1] for w in row.children}
    controls["steps"].value = 200
    output = box.children[-1]
    controls["Retrain"].click()
    text = "".join(o.get("text", "") for o in output.outputs)
    assert "transition step" in text or "transition step" in capsys.readouterr().out
    assert isinstance(controls["prior"], widgets.Dropdown)


def test_trigram_extension_passes_through_the_bigram_solution():
    """Full scale's trigram run, shortened: unigram, then bigram, then trigram statistics."""
    metrics = ih.run(ih.config_for("test", **{**ih.TRIGRAM, "steps": 1200, "lr": 2e-3})).metrics
    base = metrics["baselines"]
    closest = [min(("unigram", "bigram", "trigram"), key=lambda name: metrics[f"kl_to_{name}"][i])
               for i in range(len(metrics["step"]))]
    assert "unigram" in closest and "bigram" in closest and closest[-1] == "trigram"
    assert closest.index("unigram") < closest.index("bigram") < closest.index("trigram")
    assert metrics["kl_model"][-1] < base["bigram"] - 0.05
