import json
import pickle
from dataclasses import dataclass

import pytest
import torch

from companion.core import cache
from companion.core.cache import CacheCorruptionWarning, Result


@dataclass(frozen=True)
class Toy:
    size: int = 3
    seed: int = 0


def compute_counter():
    calls = []

    def compute():
        calls.append(1)
        return Result(metrics={"loss": [1.0, 0.5], "calls": len(calls)},
                      arrays={"weights.w": torch.arange(6.0).reshape(2, 3)})

    return compute, calls


def test_second_call_reads_the_cache(private_cache):
    compute, calls = compute_counter()
    first = cache.cached("toy", 1, Toy(), compute)
    second = cache.cached("toy", 1, Toy(), compute)
    assert len(calls) == 1 and not first.from_cache and second.from_cache
    assert second.metrics == first.metrics
    assert torch.equal(second.arrays["weights.w"], first.arrays["weights.w"])
    assert str(cache.entry_path("toy", 1, Toy())).startswith(str(private_cache))


def test_config_and_version_change_the_key(private_cache):
    compute, calls = compute_counter()
    cache.cached("toy", 1, Toy(), compute)
    cache.cached("toy", 1, Toy(size=4), compute)
    cache.cached("toy", 2, Toy(), compute)
    assert len(calls) == 3


def test_failed_compute_leaves_no_entry(private_cache):
    def broken():
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cache.cached("toy", 1, Toy(), broken)
    assert not cache.entry_path("toy", 1, Toy()).exists()


def test_write_is_atomic_when_saving_fails(private_cache, monkeypatch):
    compute, _ = compute_counter()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cache, "save_file", crash)
    with pytest.raises(OSError):
        cache.cached("toy", 1, Toy(), compute)
    assert not cache.entry_path("toy", 1, Toy()).exists()
    assert not any((private_cache / "toy").iterdir())  # no staging folder left behind


@pytest.mark.parametrize("damage", ["truncate_arrays", "edit_metrics", "remove_manifest", "pickle_arrays"])
def test_damaged_entry_is_recomputed_with_a_warning(private_cache, damage):
    compute, calls = compute_counter()
    cache.cached("toy", 1, Toy(), compute)
    path = cache.entry_path("toy", 1, Toy())
    if damage == "truncate_arrays":
        data = (path / "arrays.safetensors").read_bytes()
        (path / "arrays.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "edit_metrics":
        (path / "metrics.json").write_text(json.dumps({"loss": [0.0]}))
    elif damage == "remove_manifest":
        (path / "manifest.json").unlink()
    else:
        # a pickle in place of the tensors, with a matching checksum: it must never be unpickled
        class Boom:
            def __reduce__(self):
                return (exec, ("raise SystemExit('pickle was executed')",))

        (path / "arrays.safetensors").write_bytes(pickle.dumps(Boom()))
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["sha256"]["arrays.safetensors"] = cache._sha256(path / "arrays.safetensors")
        (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(CacheCorruptionWarning):
        result = cache.cached("toy", 1, Toy(), compute)
    assert len(calls) == 2 and not result.from_cache
    assert cache.cached("toy", 1, Toy(), compute).from_cache  # the entry was repaired


def test_info_and_clear(private_cache):
    compute, _ = compute_counter()
    cache.cached("toy", 1, Toy(), compute)
    cache.cached("other", 1, Toy(), compute)
    info = cache.cache_info()
    assert info["experiments"]["toy"]["entries"] == 1 and info["experiments"]["toy"]["bytes"] > 0
    assert cache.clear_cache("toy") == 1
    assert "toy" not in cache.cache_info()["experiments"]
    assert cache.clear_cache() == 1
