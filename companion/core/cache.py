"""The on-disk result cache.

An entry is a folder ``<root>/<experiment>/<key>/`` holding ``metrics.json`` (numbers), and
``arrays.safetensors`` (tensors: snapshots, final weights), and last a ``manifest.json`` with the
SHA-256 of both. The key hashes the experiment's name, its version number and its config, so a
changed setting or a bumped version never reads a stale result.

Writes go to a temporary folder that is renamed into place, so a crash leaves no half-written entry.
A reader that finds a missing, truncated or altered file warns and recomputes. Tensors are read with
safetensors, never with pickle, so a cache entry cannot run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import torch
from safetensors.torch import load_file, save_file

from .runtime import pick_device, torch_threads

MANIFEST = "manifest.json"
FILES = ("metrics.json", "arrays.safetensors")


class CacheCorruptionWarning(UserWarning):
    """A cache entry could not be read back intact and is being recomputed."""


@dataclass
class Result:
    """What an experiment returns: JSON-able ``metrics`` and named ``arrays`` (tensors)."""

    metrics: dict
    arrays: dict[str, torch.Tensor] = field(default_factory=dict)
    from_cache: bool = False

    def __getitem__(self, name):
        return self.metrics[name] if name in self.metrics else self.arrays[name]


def cache_root() -> Path:
    """``COMPANION_CACHE`` if set, else the platform's user cache folder."""
    env = os.environ.get("COMPANION_CACHE")
    if env:
        return Path(env).expanduser()

    return Path(platformdirs.user_cache_dir("companion"))


def cache_key(name: str, version: int, config) -> str:
    payload = json.dumps(
        {"experiment": name, "version": version, "config": dataclasses.asdict(config)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def entry_path(name: str, version: int, config) -> Path:
    return cache_root() / name / cache_key(name, version, config)


def cached(name: str, version: int, config, compute: Callable[[], Result],
           use_cache: bool = True) -> Result:
    """Return the cached result for (name, version, config), computing and storing it if needed."""
    path = entry_path(name, version, config)
    if use_cache and path.exists():
        try:
            result = _read(path)
            result.from_cache = True
            return result
        except Exception as err:  # any defect in an entry means: recompute it
            warnings.warn(
                f"cache entry {path} is unreadable ({type(err).__name__}: {err}); recomputing",
                CacheCorruptionWarning,
                stacklevel=2,
            )
            shutil.rmtree(path, ignore_errors=True)
    result = compute()
    if use_cache:
        _write(path, result, config)
    return result


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(path: Path, result: Result, config) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=path.parent))
    try:
        (staging / "metrics.json").write_text(json.dumps(result.metrics))
        arrays = {k: v.detach().cpu().contiguous() for k, v in result.arrays.items()}
        save_file(arrays, str(staging / "arrays.safetensors"))
        manifest = {
            "config": dataclasses.asdict(config),
            "sha256": {f: _sha256(staging / f) for f in FILES},
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
        try:
            os.replace(staging, path)
        except OSError:
            # another process stored the same entry first; theirs is as good as ours
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _read(path: Path) -> Result:
    manifest = json.loads((path / MANIFEST).read_text())
    for name in FILES:
        if _sha256(path / name) != manifest["sha256"][name]:
            raise ValueError(f"{name} does not match its checksum")
    metrics = json.loads((path / "metrics.json").read_text())
    arrays = load_file(str(path / "arrays.safetensors"))
    return Result(metrics=metrics, arrays=arrays)


def cache_info() -> dict:
    """Entries and bytes per experiment under the cache root."""
    root = cache_root()
    info = {"root": str(root), "experiments": {}}
    if root.exists():
        for experiment in sorted(p for p in root.iterdir() if p.is_dir()):
            entries = [p for p in experiment.iterdir() if p.is_dir() and not p.name.startswith(".")]
            size = sum(f.stat().st_size for e in entries for f in e.iterdir())
            info["experiments"][experiment.name] = {"entries": len(entries), "bytes": size}
    return info


def clear_cache(experiment: str | None = None) -> int:
    """Delete every entry (or one experiment's); return how many entries went."""
    root = cache_root()
    if experiment:
        targets = [root / experiment]
    else:
        targets = list(root.iterdir()) if root.exists() else []
    removed = 0
    for target in targets:
        if target.is_dir():
            removed += sum(1 for p in target.iterdir() if p.is_dir() and not p.name.startswith("."))
            shutil.rmtree(target)
    return removed


def cached_training(name: str, version: int, config, compute: Callable, use_cache: bool = True,
                    device: str = "auto", threads: int = 1) -> Result:
    """``cached`` for a training run: ``compute(config, device)`` on the chosen device ("auto" picks
    cuda, then mps, then cpu) with `threads` CPU threads; one is the fastest for networks this small
    (benchmarks/RESULTS.md). The cache key leaves the device out: a result stands for its config."""
    target = pick_device(device)

    def run():
        with torch_threads(threads):
            return compute(config, target)
    return cached(name, version, config, run, use_cache=use_cache)
