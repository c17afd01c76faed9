"""The on-disk result cache.

An entry is a folder ``<root>/<experiment>/<key>/`` holding ``metrics.json`` (numbers), and
``arrays.safetensors`` (tensors: snapshots, final weights), and last a ``manifest.json`` with the
SHA-256 of both. The key hashes the experiment's name, its version number and its config, so a
changed setting or a bumped version never reads a stale result.

Writes go to a temporary folder that is renamed into place, so a crash leaves no half-written entry;
a staging folder a killed writer left behind is removed by a later write once it is an hour old.
A reader that finds a missing, truncated or altered file, or an entry whose stored config is not the
one asked for, warns and recomputes. Tensors are read with safetensors, never with pickle, so a cache
entry cannot run code, and they are copied into memory, so nothing done to the file later can reach
a live process.

Two processes that ask for one missing entry compute it once: the first holds the entry's lock (a
file in the root's ``.locks`` folder) while it computes, the second waits and then reads the entry.

The root carries a marker file, written when the cache creates the root (or adopts one that holds
nothing but cache entries). Clearing refuses a root without it and deletes only experiment folders,
so pointing ``COMPANION_CACHE`` at a folder of one's own can never cost its files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import torch
from filelock import FileLock, Timeout
from safetensors.torch import load, save_file

from .config import InputError
from .runtime import pick_device, release_freed_memory, torch_threads

MANIFEST = "manifest.json"
FILES = ("metrics.json", "arrays.safetensors")
MARKER = ".companion-cache"
STAGING = ".tmp-"
LOCKS = ".locks"
STALE_STAGING_SECONDS = 3600
EXPERIMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
ENTRY_KEY = re.compile(r"[0-9a-f]{20}\Z")


class CacheCorruptionWarning(UserWarning):
    """A cache entry could not be read back intact and is being recomputed."""


class CacheWriteWarning(UserWarning):
    """A result could not be stored (its staging folder vanished twice); it is used, but not cached."""


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
        {"experiment": name, "version": version, "config": _config_dict(config)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def entry_path(name: str, version: int, config) -> Path:
    return cache_root() / name / cache_key(name, version, config)


def _is_experiment_folder(path: Path) -> bool:
    """A folder the cache made: a plain name, holding only entries and staging folders."""
    if path.is_symlink() or not path.is_dir() or not EXPERIMENT_NAME.match(path.name):
        return False
    return all(child.is_dir() and not child.is_symlink() and (ENTRY_KEY.match(child.name) or
                                                              child.name.startswith(STAGING))
               for child in path.iterdir())


def _is_lock_folder(path: Path) -> bool:
    """The folder of the entries' lock files, as `cached` makes it."""
    return (path.name == LOCKS and path.is_dir() and not path.is_symlink()
            and all(child.suffix == ".lock" and child.is_file() for child in path.iterdir()))


def prepare_root() -> Path:
    """The cache root, created (with its marker) when missing and checked writable; an ``InputError``
    naming ``COMPANION_CACHE`` and the path when it cannot be used. Called before any compute."""
    root = cache_root()
    if root.exists() and not root.is_dir():
        raise InputError(f"COMPANION_CACHE must be a folder, but {root} is a file")
    try:
        root.mkdir(parents=True, exist_ok=True)
        marker = root / MARKER
        if not marker.exists() and all(_is_experiment_folder(child) or _is_lock_folder(child)
                                       for child in root.iterdir()):
            marker.write_text("The result cache of the companion package: `python -m companion cache clear` "
                              "empties it.\n")
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as err:
        raise InputError(f"COMPANION_CACHE must be a writable folder, but {root} is not "
                         f"({err.strerror or err})") from None
    return root


def cached(name: str, version: int, config, compute: Callable[[], Result],
           use_cache: bool = True) -> Result:
    """Return the cached result for (name, version, config), computing and storing it if needed.

    One process computes an entry; another that asks for it meanwhile (a second test worker, the
    capstone beside a chapter) waits on the entry's lock and then reads what the first stored."""
    if not use_cache:
        result = compute()
        release_freed_memory()  # what the run's steps kept for reuse goes back when the run ends
        return result
    path = entry_path(name, version, config)
    result = _load(path, name, version, config)
    if result is None:
        prepare_root()  # a cache that cannot be written fails now, not after the compute
        with _entry_lock(path):
            result = _load(path, name, version, config)
            if result is None:
                result = compute()
                release_freed_memory()
                _store(path, result, name, version, config)
    for touched in _RECORDERS:
        touched.append(path)
    return result


_RECORDERS: list[list[Path]] = []


@contextmanager
def touched_entries():
    """Collect the path of every entry `cached` reads or stores in this process while the block runs:
    what a worker on another machine sends back to the caller (see `entry_files`)."""
    touched: list[Path] = []
    _RECORDERS.append(touched)
    try:
        yield touched
    finally:
        # by identity: list.remove would take the first recorder *equal* to this one, and two recorders
        # open at once (jobs running side by side in one worker) are equal while both hold the same paths
        del _RECORDERS[next(i for i, recorder in enumerate(_RECORDERS) if recorder is touched)]


def entry_files(path: Path) -> dict:
    """An entry as it lies on disk, to travel to another machine: its experiment, key and the bytes of
    its three files (the safetensors file's own bytes: no tensor is pickled)."""
    return {"experiment": path.parent.name, "key": path.name,
            "files": {name: (path / name).read_bytes() for name in (*FILES, MANIFEST)}}


def store_entry_files(experiment: str, key: str, files: dict[str, bytes]) -> bool:
    """Store an entry that `entry_files` packed elsewhere into this process's cache, after checking
    its name, its key and its files against their checksums; False if the entry was already here."""
    if not EXPERIMENT_NAME.match(experiment) or not ENTRY_KEY.match(key) or set(files) != {*FILES, MANIFEST}:
        raise ValueError(f"not a cache entry: {experiment}/{key} with files {sorted(files)}")
    manifest = json.loads(files[MANIFEST])
    if (manifest.get("experiment") != experiment
            or cache_key(experiment, manifest.get("version"), _Stored(manifest.get("config"))) != key):
        raise ValueError(f"the entry {experiment}/{key} does not hold the config its key names")
    for name in FILES:
        if hashlib.sha256(files[name]).hexdigest() != manifest["sha256"][name]:
            raise ValueError(f"{experiment}/{key}: {name} does not match its checksum")
    path = prepare_root() / experiment / key
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=path.parent))
    try:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        os.replace(staging, path)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not path.exists():
            raise
        return False  # another process stored it first
    return True


class _Stored:
    """A config as a manifest stores it (a dict), for recomputing its key."""

    def __init__(self, fields: dict):
        self.fields = fields


def _config_dict(config) -> dict:
    return config.fields if isinstance(config, _Stored) else dataclasses.asdict(config)


def _entry_lock(path: Path) -> FileLock:
    """The lock of the entry at `path`: a file in the root's lock folder, which is no experiment folder,
    so `cache clear` and `cache info` pass it by. The operating system releases it if its holder dies."""
    locks = cache_root() / LOCKS
    locks.mkdir(exist_ok=True)
    return FileLock(locks / f"{path.parent.name}-{path.name}.lock")


def being_computed(name: str, version: int, config) -> bool:
    """Whether another process holds the entry's lock now, that is, is computing it (a probe: the lock
    is taken and let go at once when it is free)."""
    path = entry_path(name, version, config)
    if not (cache_root() / LOCKS).is_dir():
        return False
    lock = _entry_lock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def _load(path: Path, name: str, version: int, config) -> Result | None:
    """The entry at `path`, or None where there is none; a damaged entry is removed with a warning."""
    if not path.exists():
        return None
    try:
        result = _read(path, name, version, config)
    except Exception as err:  # any defect in an entry means: recompute it
        warnings.warn(
            f"cache entry {path} is unreadable ({type(err).__name__}: {err}); recomputing",
            CacheCorruptionWarning,
            stacklevel=3,
        )
        shutil.rmtree(path, ignore_errors=True)
        return None
    result.from_cache = True
    return result


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _described(name: str, version: int, config) -> dict:
    """What an entry stands for, as its manifest stores it (JSON's view: tuples become lists)."""
    return json.loads(json.dumps({"experiment": name, "version": version,
                                  "config": dataclasses.asdict(config)}, sort_keys=True))


def _remove_stale_staging(folder: Path) -> None:
    """Staging folders of writers killed an hour or more ago; a live writer's is younger."""
    for staging in folder.glob(f"{STAGING}*"):
        try:
            if time.time() - staging.stat().st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(staging, ignore_errors=True)
        except FileNotFoundError:  # its writer finished (or another cleaner came) first
            pass


def _store(path: Path, result: Result, name: str, version: int, config) -> None:
    """Write the entry; if its staging folder vanishes under it (a concurrent `cache clear`), try once
    more, and then keep the result uncached with a warning rather than fail the run."""
    for attempt in range(2):
        try:
            _write(path, result, name, version, config)
            return
        except FileNotFoundError as err:
            if attempt:
                warnings.warn(f"could not store {path} ({err}); the result is used but not cached",
                              CacheWriteWarning, stacklevel=3)


def _write(path: Path, result: Result, name: str, version: int, config) -> None:
    prepare_root()
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(path.parent)
    staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=path.parent))
    try:
        (staging / "metrics.json").write_text(json.dumps(result.metrics))
        arrays = {k: v.detach().cpu().contiguous() for k, v in result.arrays.items()}
        save_file(arrays, str(staging / "arrays.safetensors"))
        manifest = {
            **_described(name, version, config),
            "sha256": {f: _sha256(staging / f) for f in FILES},
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
        try:
            os.replace(staging, path)
        except FileNotFoundError:
            raise
        except OSError:
            # another process stored the same entry first; theirs is as good as ours
            shutil.rmtree(staging, ignore_errors=True)
    except Exception as err:
        if not staging.exists():  # removed under us: say so plainly, whatever the writer raised
            raise FileNotFoundError(f"the staging folder {staging} vanished while writing") from err
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _read(path: Path, name: str, version: int, config) -> Result:
    manifest = json.loads((path / MANIFEST).read_text())
    expected = _described(name, version, config)
    for field_name in ("experiment", "version", "config"):
        # entries written before the manifest named their experiment and version hold only the config
        if field_name in manifest and manifest[field_name] != expected[field_name]:
            raise ValueError(f"the entry's stored {field_name} is not the one asked for")
    if "config" not in manifest:
        raise ValueError("the manifest has no config")
    for file_name in FILES:
        if _sha256(path / file_name) != manifest["sha256"][file_name]:
            raise ValueError(f"{file_name} does not match its checksum")
    metrics = json.loads((path / "metrics.json").read_text())
    # read into memory: tensors mapped onto the file would die with SIGBUS if it were truncated later
    arrays = load((path / "arrays.safetensors").read_bytes())
    return Result(metrics=metrics, arrays=arrays)


def cache_info() -> dict:
    """Entries, bytes and leftover staging folders per experiment under the cache root."""
    root = cache_root()
    info = {"root": str(root), "marked": (root / MARKER).is_file(), "experiments": {}}
    if root.is_dir():
        for experiment in sorted(p for p in root.iterdir() if _is_experiment_folder(p)):
            entries = [p for p in experiment.iterdir() if ENTRY_KEY.match(p.name)]
            size = sum(f.stat().st_size for e in entries for f in e.iterdir())
            staging = sum(1 for p in experiment.iterdir() if p.name.startswith(STAGING))
            info["experiments"][experiment.name] = {"entries": len(entries), "bytes": size, "staging": staging}
    return info


def clear_cache(experiment: str | None = None) -> int:
    """Delete every experiment folder (or one); return how many entries went.

    Refuses (``InputError``) a root without the cache's marker, and an `experiment` that is not the
    plain name of an experiment folder directly inside the root.
    """
    root = cache_root()
    if not root.exists():
        return 0
    if not (root / MARKER).is_file():
        raise InputError(f"COMPANION_CACHE must be a folder the cache created, but {root} has no {MARKER} "
                         "marker: nothing was deleted")
    folders = sorted(p.name for p in root.iterdir() if _is_experiment_folder(p))
    if experiment is None:
        targets = folders
    else:
        inside = EXPERIMENT_NAME.match(experiment) and (root / experiment).resolve().parent == root.resolve()
        if not inside or experiment not in folders:
            raise InputError(f"experiment must be one of the cache's experiments {folders}, got {experiment!r}")
        targets = [experiment]
    removed = 0
    for name in targets:
        removed += sum(1 for p in (root / name).iterdir() if ENTRY_KEY.match(p.name))
        shutil.rmtree(root / name)
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
