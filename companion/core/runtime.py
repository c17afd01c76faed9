"""Devices, seeds, threads and progress bars: the run-time choices every experiment shares."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import platform
import random
import sys

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(device: str = "auto") -> torch.device:
    """Return the requested device; "auto" prefers cuda, then mps, then cpu."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a torch generator seeded the same way."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer from 0 to {2**32 - 1}, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with `n` intra-op threads.

    Tiny models spend most of their time in thread hand-offs: on a 2-core laptop one thread is
    several times faster than two (benchmarks/RESULTS.md).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def progress_enabled() -> bool:
    """Progress bars are for people: off under pytest, CI, the book build and non-interactive runs.

    COMPANION_PROGRESS=1 or 0 forces the choice.
    """
    forced = os.environ.get("COMPANION_PROGRESS")
    if forced is not None:
        return forced not in ("0", "", "false", "no")
    if "pytest" in sys.modules or os.environ.get("CI"):
        return False
    try:
        from IPython import get_ipython

        if get_ipython() is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell":
            return True
    except ImportError:
        pass
    return sys.stderr.isatty()


def derived_generator(*keys: int) -> torch.Generator:
    """A torch generator for a tuple of integers (a seed and a stream number, say).

    PyTorch's CPU generator keeps only the low 32 bits of its seed, so seeds like ``seed + 2**40``
    silently collide with ``seed``; NumPy's SeedSequence mixes the whole tuple into a fresh seed.
    """
    for key in keys:
        if not isinstance(key, int) or key < 0:
            raise ValueError(f"generator keys must be non-negative integers, got {keys!r}")
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(keys)).generate_state(1)[0]))


# glibc's mallopt parameters (malloc.h) and the largest mmap threshold it accepts on 64-bit machines
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
LARGEST_MMAP_THRESHOLD = 32 * 2**20
KEPT_FREE_HEAP_TOP = 8 * LARGEST_MMAP_THRESHOLD  # the trim threshold: free memory the heap keeps at its top
KEEP_FREED_MEMORY_VARIABLE = "COMPANION_KEEP_FREED_MEMORY"


def keep_freed_memory_for_reuse() -> bool:
    """Have glibc's malloc serve the training steps' large tensors from memory it keeps, not from the OS.

    By default glibc maps every block over its threshold (128 KiB at first) afresh from the OS and
    unmaps it when freed. A transformer step frees and asks again for several attention tensors of a few
    MiB each, and every one of their pages is then faulted in and zeroed by the kernel again: a quarter
    of the induction-heads step on a 2-core AMD EPYC (benchmarks/RESULTS.md). Raising the mmap
    threshold to its maximum keeps such blocks in the heap, and a high trim threshold stops the heap
    from handing its top back after every step. Values computed are unchanged: only where memory comes
    from.

    Does nothing off glibc (macOS, Windows, musl) or when COMPANION_KEEP_FREED_MEMORY=0; returns whether
    the setting took.
    """
    if os.environ.get(KEEP_FREED_MEMORY_VARIABLE, "1") in ("0", "false", "no"):
        return False
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, LARGEST_MMAP_THRESHOLD)
                                      and libc.mallopt(M_TRIM_THRESHOLD, KEPT_FREE_HEAP_TOP))


def release_freed_memory() -> None:
    """Hand the memory the heap keeps back to the OS (glibc's malloc_trim), at the end of a run.

    What `keep_freed_memory_for_reuse` keeps for the next step would otherwise stay with the process
    after the run: a run that peaked at 400 MiB of large tensors kept all of it, and joblib's workers
    take such growth for a leak and restart."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc():
    """The C library when it is glibc, whose malloc takes these settings; None elsewhere."""
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "malloc_trim") else None


def environment(threads_per_run: int = 1) -> dict:
    """The machine and software a result was computed with, for reproducibility cards."""
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads_per_run": threads_per_run,
    }


def scale_changes(book: dict, full: dict) -> dict[str, str]:
    """What `--scale full` changes in a chapter's settings, as "book value → full value" per setting that
    differs (a setting the book scale leaves at its default shows that default, or "default")."""
    return {key: f"{book.get(key, 'default')} → {value}" for key, value in full.items() if book.get(key) != value}


def reproducibility_card(name: str, version: int, result, **extra) -> dict:
    """Config, wall time, cache status, machine and software of a result, plus chapter-specific entries."""
    return {
        "experiment": name,
        "version": version,
        "config": result.metrics["config"],
        "wall_seconds_when_trained": result.metrics["wall_seconds"],
        "loaded_from_cache": result.from_cache,
        **environment(threads_per_run=1),
        **extra,
    }
