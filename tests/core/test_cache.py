import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import ANY

import pytest
import torch

from companion.core import cache
from companion.core.cache import CacheCorruptionWarning, Result
from companion.core.config import InputError


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


# ----------------------------------------------------------------------------- never delete what is not the cache

def user_files(folder):
    """A folder of someone's own work, which no cache command may touch."""
    (folder / "chapter-1").mkdir(parents=True)
    (folder / "chapter-1" / "draft.tex").write_text("my thesis")
    (folder / "notes.txt").write_text("notes")
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


def test_clear_refuses_a_root_the_cache_did_not_create(tmp_path, monkeypatch):
    thesis = tmp_path / "thesis"
    before = user_files(thesis)
    monkeypatch.setenv("COMPANION_CACHE", str(thesis))
    compute, _ = compute_counter()
    cache.cached("toy", 1, Toy(), compute)  # results may still be stored there...
    with pytest.raises(InputError, match="no .companion-cache marker"):
        cache.clear_cache()  # ...but clearing deletes nothing
    assert set(before) <= set(p.relative_to(thesis) for p in thesis.rglob("*"))


@pytest.mark.parametrize("name", ["../outside", "/tmp", ".", "", "..", "toy/../../outside", "notes.txt",
                                  "chapter-1", "toy/"])
def test_clear_refuses_anything_but_an_experiment_folder_inside_the_root(tmp_path, monkeypatch, name):
    outside = tmp_path / "outside"
    before = user_files(outside)
    root = tmp_path / "cache"
    monkeypatch.setenv("COMPANION_CACHE", str(root))
    compute, _ = compute_counter()
    cache.cached("toy", 1, Toy(), compute)
    user_files(root)  # a user's files inside the cache root are not the cache's to delete either
    with pytest.raises(InputError, match="experiment must be one of the cache's experiments \\['toy'\\]"):
        cache.clear_cache(name)
    assert sorted(p.relative_to(outside) for p in outside.rglob("*")) == before
    assert (root / "notes.txt").exists() and (root / "chapter-1" / "draft.tex").exists()
    assert cache.clear_cache() == 1  # a whole clear takes the experiments and leaves the rest
    assert (root / "notes.txt").exists() and (root / "chapter-1" / "draft.tex").exists()


def test_a_new_or_empty_root_gets_the_marker_and_a_legacy_cache_is_adopted(tmp_path, monkeypatch):
    compute, _ = compute_counter()
    for root in (tmp_path / "new", tmp_path / "empty"):
        if root.name == "empty":
            root.mkdir()
        monkeypatch.setenv("COMPANION_CACHE", str(root))
        cache.cached("toy", 1, Toy(), compute)
        assert (root / cache.MARKER).is_file()
    (tmp_path / "new" / cache.MARKER).unlink()  # a cache written before the marker existed
    monkeypatch.setenv("COMPANION_CACHE", str(tmp_path / "new"))
    assert cache.cached("toy", 1, Toy(), compute).from_cache
    cache.cached("toy", 1, Toy(size=9), compute)
    assert cache.clear_cache() == 2


@pytest.mark.parametrize("problem", ["file", "under a file", "unwritable"])
def test_a_root_that_cannot_be_used_fails_before_compute(tmp_path, monkeypatch, problem):
    (tmp_path / "a-file").write_text("x")
    root = {"file": tmp_path / "a-file", "under a file": tmp_path / "a-file" / "cache",
            "unwritable": Path("/proc/companion-cache")}[problem]
    monkeypatch.setenv("COMPANION_CACHE", str(root))
    compute, calls = compute_counter()
    with pytest.raises(InputError, match="COMPANION_CACHE must be a"):
        cache.cached("toy", 1, Toy(), compute)
    assert calls == []


# ----------------------------------------------------------------------------- integrity

def test_a_hit_lives_in_memory_not_on_the_file(private_cache):
    """Truncating an entry under a process that holds its tensors must not kill it (SIGBUS when mapped)."""
    compute, _ = compute_counter()
    cache.cached("toy", 1, Toy(), compute)
    script = (
        "import torch, dataclasses\n"
        "from companion.core import cache\n"
        "@dataclasses.dataclass(frozen=True)\n"
        "class Toy:\n    size: int = 3\n    seed: int = 0\n"
        "r = cache.cached('toy', 1, Toy(), lambda: None)\n"
        "open(cache.entry_path('toy', 1, Toy()) / 'arrays.safetensors', 'w').close()\n"
        "print(float(r.arrays['weights.w'].sum()))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "15.0"


def test_an_entry_stored_under_another_key_is_recomputed(private_cache):
    compute, calls = compute_counter()
    cache.cached("toy", 1, Toy(size=4), compute)
    shutil.copytree(cache.entry_path("toy", 1, Toy(size=4)), cache.entry_path("toy", 1, Toy()))  # restored wrongly
    with pytest.warns(CacheCorruptionWarning, match="stored config"):
        result = cache.cached("toy", 1, Toy(), compute)
    assert len(calls) == 2 and not result.from_cache


def test_a_killed_writers_staging_is_cleaned_up_and_counted(private_cache):
    compute, _ = compute_counter()
    cache.cached("toy", 1, Toy(), compute)
    stale, fresh = private_cache / "toy" / ".tmp-killed", private_cache / "toy" / ".tmp-running"
    stale.mkdir(), fresh.mkdir()
    old = time.time() - 2 * cache.STALE_STAGING_SECONDS
    os.utime(stale, (old, old))
    assert cache.cache_info()["experiments"]["toy"]["staging"] == 2
    cache.cached("toy", 1, Toy(size=5), compute)  # the next write sweeps
    assert not stale.exists() and fresh.exists()  # a live writer's folder is young and stays
    assert cache.cache_info()["experiments"]["toy"] == {"entries": 2, "bytes": ANY, "staging": 1}


def test_a_writer_whose_staging_vanishes_still_returns_its_result(private_cache, monkeypatch):
    compute, _ = compute_counter()
    real = cache.save_file
    vanish = [2]

    def clear_underneath(arrays, path):  # a concurrent `cache clear` between mkdtemp and the save
        if vanish[0]:
            vanish[0] -= 1
            shutil.rmtree(private_cache / "toy")
        return real(arrays, path)

    monkeypatch.setattr(cache, "save_file", clear_underneath)
    with pytest.warns(cache.CacheWriteWarning, match="used but not cached"):
        result = cache.cached("toy", 1, Toy(), compute)
    assert result.metrics["calls"] == 1
    vanish[0] = 1  # once: the retry stores it
    assert cache.cached("toy", 1, Toy(), compute).metrics["calls"] == 2
    assert cache.cached("toy", 1, Toy(), compute).from_cache


SLOW_COMPUTE = """
import sys, time
from pathlib import Path
from dataclasses import dataclass
from companion.core import cache

@dataclass(frozen=True)
class Toy:
    size: int = 3
    seed: int = 0

def compute():
    with open(sys.argv[1], "a") as calls:
        calls.write("computed\\n")
    time.sleep(2)
    return cache.Result(metrics={"value": 7})

print(cache.cached("toy", 1, Toy(), compute).metrics["value"])
"""


def test_two_processes_asking_for_one_entry_compute_it_once(private_cache, tmp_path):
    """The second waits on the entry's lock and reads what the first stored (two test workers, or the
    capstone beside a chapter, never both pay for one result)."""
    calls = tmp_path / "calls.txt"
    env = {**os.environ, "COMPANION_CACHE": str(private_cache)}
    workers = [subprocess.Popen([sys.executable, "-c", SLOW_COMPUTE, str(calls)], env=env, stdout=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [worker.communicate(timeout=120)[0].strip() for worker in workers]
    assert outputs == ["7", "7"] and all(worker.returncode == 0 for worker in workers)
    assert calls.read_text() == "computed\n"
    assert cache.cache_info()["experiments"] == {"toy": {"entries": 1, "bytes": ANY, "staging": 0}}


def test_recorders_open_side_by_side_each_close_their_own():
    """Two jobs side by side in one worker: each recorder leaves the list itself, even when the other
    holds the same paths (removing by equality once took the wrong one, and the next exit failed)."""
    from pathlib import Path

    from companion.core import cache

    first, second = cache.touched_entries(), cache.touched_entries()
    a, b = first.__enter__(), second.__enter__()
    a.append(Path("x")), b.append(Path("x"))
    second.__exit__(None, None, None)
    assert len(cache._RECORDERS) == 1 and cache._RECORDERS[0] is a
    a.append(Path("y"))
    first.__exit__(None, None, None)
    assert cache._RECORDERS == []
