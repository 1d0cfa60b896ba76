"""Keep freed memory in the process for reuse (glibc): an allocator setting that benchmarks measure.

glibc hands large blocks (above a threshold that adapts up to 32 MB) straight back to the
kernel when a tensor is freed, and gives the top of the heap back once more than a trim
threshold is free. Every new activation then starts as fresh pages that the kernel must fault
in and zero one by one: in this project's virtual machines a 64->64 1x1 convolution on a freshly
allocated (64, 64, 32, 32) input took 72 ms instead of 14 ms (docs/speed.md). Raising both
thresholds keeps freed blocks in the heap, where the next call of the same shapes reuses them.

The cost: the process's resident memory stays at its peak instead of shrinking after it.
Only applications may call this, never library code; it is a no-op where the C library is not
glibc. The `restore` command calls it: on a quiet 2-core machine the folded flow at batch 64 ran
2.6-2.75x as fast as the unfolded layers with it, against 1.9x without (docs/speed.md; on the
same machine shared with training jobs it had measured slower, so the rates there were noise).
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit systems
TRIM_THRESHOLD = 2**31 - 1  # the most mallopt's int takes: 2 GB of free heap before any goes back


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed blocks up to 32 MB for reuse; True if it took effect."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1
    return mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
