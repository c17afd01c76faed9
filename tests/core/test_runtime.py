"""Where a process's memory comes from: importing companion keeps glibc from mapping a training step's
large tensors afresh from the OS each time (runtime.keep_freed_memory_for_reuse), and what was kept goes
back when a run ends (runtime.release_freed_memory)."""

import os
import subprocess
import sys

import pytest

from companion.core import runtime

FRESH_MAPPINGS_FOR_A_TENSOR = """
import ctypes, sys
import torch
class MallocInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                     "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallocInfo
import companion
before = libc.mallinfo2().hblks
tensor = torch.empty(2**20)  # 4 MiB: an attention tensor of the induction-heads chapter is 2.5 MiB
print(libc.mallinfo2().hblks - before)
"""


needs_glibc = pytest.mark.skipif(not hasattr(runtime._glibc(), "mallinfo2"), reason="glibc 2.33 or later only")


def _fresh_mappings(keep: str) -> int:
    env = {**os.environ, runtime.KEEP_FREED_MEMORY_VARIABLE: keep}
    done = subprocess.run([sys.executable, "-c", FRESH_MAPPINGS_FOR_A_TENSOR], env=env, capture_output=True,
                          text=True, check=True)
    return int(done.stdout.split()[-1])


@needs_glibc
def test_importing_companion_serves_a_large_tensor_from_the_heap_not_a_fresh_mapping():
    assert _fresh_mappings("1") == 0
    assert _fresh_mappings("0") == 1  # glibc's default, which the variable keeps for measuring


MEMORY_AFTER_A_RUN = """
import gc, psutil, torch
from companion.core import cache
from dataclasses import dataclass

@dataclass(frozen=True)
class Settings:
    tensors: int = 20

survivors = []

def run():
    tensors = [torch.ones(5 * 2**20) for _ in range(Settings.tensors)]  # 400 MiB of 20 MiB tensors
    survivors.append(torch.ones(1000))  # allocated after them and kept: the heap's top cannot shrink past it
    del tensors
    gc.collect()
    return cache.Result(metrics={})

before = psutil.Process().memory_info().rss
cache.cached("toy-memory", 1, Settings(), run)
print((psutil.Process().memory_info().rss - before) / 2**20)
"""


@needs_glibc
def test_memory_kept_for_reuse_goes_back_when_a_run_ends(tmp_path):
    env = {**os.environ, "COMPANION_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", MEMORY_AFTER_A_RUN], env=env, capture_output=True, text=True,
                          check=True)
    assert float(done.stdout.split()[-1]) < 100  # MiB: without the release, all 400 stayed
