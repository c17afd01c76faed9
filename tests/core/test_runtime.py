"""Where a process's memory comes from: importing companion keeps glibc from mapping a training step's
large tensors afresh from the OS each time (runtime.keep_freed_memory_for_reuse)."""

import ctypes
import ctypes.util
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


def _has_mallinfo2() -> bool:
    if sys.platform != "linux":
        return False
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "mallinfo2")
    except OSError:
        return False


needs_glibc = pytest.mark.skipif(not _has_mallinfo2(), reason="glibc 2.33 or later (mallinfo2) only")


def _fresh_mappings(keep: str) -> int:
    env = {**os.environ, runtime.KEEP_FREED_MEMORY_VARIABLE: keep}
    done = subprocess.run([sys.executable, "-c", FRESH_MAPPINGS_FOR_A_TENSOR], env=env, capture_output=True,
                          text=True, check=True)
    return int(done.stdout.split()[-1])


@needs_glibc
def test_importing_companion_serves_a_large_tensor_from_the_heap_not_a_fresh_mapping():
    assert _fresh_mappings("1") == 0
    assert _fresh_mappings("0") == 1  # glibc's default, which the variable keeps for measuring

