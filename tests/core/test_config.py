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
    (dict(seed=-1), "seed must be between 0 and 4294967295, got -1"),
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
    for bad in (-3, 2**32, True, 1.5):
        with pytest.raises(ValueError, match="seed must be an integer from 0 to 4294967295"):
            set_seed(bad)


@pytest.mark.parametrize("args, message", [
    (["reproduce", "chess"], "invalid choice: 'chess'"),
    (["reproduce", "induction-heads", "--scale", "huge"], "invalid choice: 'huge'"),
    (["reproduce", "induction-heads", "--seed", "-2"], "seed must be an integer from 0 to 4294967295, got '-2'"),
    (["reproduce", "induction-heads", "--seed", "4294967296"], "from 0 to 4294967295, got '4294967296'"),
    (["cache", "wipe"], "invalid choice: 'wipe'"),
])
def test_cli_rejects_bad_input_with_a_clear_message(args, message):
    done = subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr


def every_config_class():
    """Every experiment config of every chapter with a seed or a flag."""
    import dataclasses
    import importlib
    import inspect

    from companion import topics

    for module_name in topics.CHAPTER_MODULES.values():
        package = importlib.import_module(module_name)
        for part in ("experiment", "toy", "players", "policy", "ladder"):
            try:
                module = importlib.import_module(f"{module_name}.{part}")
            except ModuleNotFoundError:
                continue
            for name, cls in inspect.getmembers(module, inspect.isclass):
                everything_has_a_default = all(
                    f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
                    for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else False
                # configs a user sets; the cache keys derived from them (no defaults) are checked upstream
                if everything_has_a_default and cls.__module__ == module.__name__:
                    fields = {f.name: f.type for f in dataclasses.fields(cls)}
                    if "seed" in fields or "bool" in fields.values():
                        yield pytest.param(cls, id=f"{package.__name__.rsplit('.', 1)[1]}.{name}")


CONFIGS = list(every_config_class())


def test_the_walk_finds_the_configs_with_flags():
    names = {param.id for param in CONFIGS}
    assert {"induction_heads.Config", "hidden_progress.Config", "transcendence.ChessConfig"} <= names


@pytest.mark.parametrize("cls", CONFIGS)
def test_seeds_and_flags_are_checked_by_every_config(cls):
    """A seed past 2**32 - 1 would repeat a smaller one (torch keeps 32 bits); a flag must be a bool
    (`layer_norm="no"` once built a model, under a cache key of its own)."""
    import dataclasses

    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    if "seed" in fields:
        with pytest.raises(ValueError, match="seed must be"):
            cls(seed=2**32)
    for name, kind in fields.items():
        if kind == "bool":
            with pytest.raises(ValueError, match=f"{name} must be True or False, got 'no'"):
                cls(**{name: "no"})


@pytest.mark.parametrize("make, message", [
    ("watermark_sand.Config(gamma=1.0)", "gamma must be < 1"),
    ("watermark_sand.Config(generator='small')", "generator must be a ModelConfig"),
    ("increasing_complexity.Config(ladder=())", "ladder must be a tuple of polynomial degrees starting with 1"),
    ("increasing_complexity.Config(ladder=(3, 1))", "ladder must be a tuple of polynomial degrees starting with 1"),
    ("increasing_complexity.Config(ladder=(1, 5, 3))", "ladder must list distinct degrees in increasing order"),
    ("induction_heads.Config(layer_norm='no')", "layer_norm must be True or False"),
])
def test_configs_refuse_what_once_failed_inside_compute(make, message):
    from companion import increasing_complexity, induction_heads, watermark_sand  # noqa: F401

    with pytest.raises(ValueError, match=message):
        eval(make)
