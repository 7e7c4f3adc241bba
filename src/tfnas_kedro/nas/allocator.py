"""How the CPU process allocates memory: steady, as in a serving process."""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters (malloc.h)
_freed_memory_kept = False


def keep_freed_memory() -> bool:
    """Let this process reuse the memory it frees instead of handing it back (Linux, glibc).

    glibc serves each allocation above its mmap threshold (32 MiB at most) with a fresh mapping and
    unmaps it on free, so every large activation is page-faulted in again, step after step. At 224 px
    a supernet's architecture step allocates gigabytes of such activations (eight ops of a layer, at
    112 x 112 in its first stage): keeping freed memory makes it about 10% faster here, while the
    process's peak stays that of its live tensors. (torch's CPU launcher, ``torch.backends.xeon.run_cpu``,
    gets the same effect by preloading jemalloc or tcmalloc.) Returns whether the settings apply (not
    elsewhere: macOS, Windows, musl); calling again does nothing.

    The latency profiler calls it too, for timings: which freed buffers glibc handed back depended
    on the order of earlier allocations, so in eager PyTorch some blocks paid the page faults on
    every call and some never. The 112x112 16->24 block at width 88 read 6.8-7.1 ms timed among
    certain others and 1.9 ms with freed memory kept (2,400 minor page faults per call against
    50), and TF-NAS-A, whose width 83 was priced from that entry, came out 8-19% over its measured
    latency. Kedro runs had it from the run hook; the benchmarks and the library alone did not.
    """
    global _freed_memory_kept
    if _freed_memory_kept:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        applied = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    except (OSError, AttributeError):  # not glibc
        return False
    _freed_memory_kept = applied
    return applied
