import subprocess
import sys

import pytest

from companion import induction_heads as ih
from companion.core.config import resolve_scale
from companion.core.runtime import pick_device, set_seed


@pytest.mark.parametrize("bad, message", [
    (dict(k=1), "k must be between 2 and 16, got 1"),
    (dict(prior="zipf"), "prior must be one of ('dirichlet', 'doubly-stochastic', 'iid', 'mixture'), got 'zipf'"),
    (dict(alpha=0.0), "alpha must be > 0"),
    (dict(lr=-1e-3), "lr must be > 0"),
    (dict(d_model=15, n_heads=2), "d_model must be divisible by n_heads"),
    (dict(seed=-1), "seed must be >= 0"),
    (dict(steps=2.5), "steps must be an integer"),
    (dict(prior="doubly-stochastic", ngram=3), "prior='doubly-stochastic' needs ngram=2, got ngram=3"),
    (dict(prior="mixture", ngram=3), "prior='mixture' needs ngram=2, got ngram=3"),
])
def test_bad_settings_name_the_parameter(bad, message):
    with pytest.raises(ValueError) as error:
        ih.config_for("test", **bad)
    assert message in str(error.value)


def test_bad_settings_fail_before_any_compute(monkeypatch):
    monkeypatch.setattr(ih.experiment, "_compute", lambda config: pytest.fail("computed with a bad config"))
    with pytest.raises(ValueError):
        ih.run(ih.config_for("test", k=0))


def test_scale_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.setenv("COMPANION_SCALE", "full")
    assert resolve_scale() == "full"
    assert resolve_scale("test") == "test"
    monkeypatch.setenv("COMPANION_SCALE", "huge")
    with pytest.raises(ValueError, match=r"COMPANION_SCALE must be one of \('test', 'book', 'full'\), got 'huge'"):
        resolve_scale()
    with pytest.raises(ValueError, match="scale must be one of"):
        resolve_scale("medium")


def test_device_and_seed():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="device must be one of"):
        pick_device("tpu")
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        set_seed(-3)


@pytest.mark.parametrize("args, message", [
    (["reproduce", "chess"], "invalid choice: 'chess'"),
    (["reproduce", "induction-heads", "--scale", "huge"], "invalid choice: 'huge'"),
    (["reproduce", "induction-heads", "--seed", "-2"], "seed must be a non-negative integer, got '-2'"),
    (["cache", "wipe"], "invalid choice: 'wipe'"),
])
def test_cli_rejects_bad_input_with_a_clear_message(args, message):
    done = subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr
