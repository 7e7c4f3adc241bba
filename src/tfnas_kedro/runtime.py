"""Where computations run: the device to use, honouring CUDA when present, and how the CPU
process allocates memory."""

from __future__ import annotations

import ctypes
import sys

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; ``cpu``/``cuda``/``cuda:1`` are taken as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available on this machine")
    return device


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` (auto | bf16 | fp16 | off) on ``device``: ``auto`` is bf16 on
    CUDA (fp16 where the GPU lacks bf16) and none (fp32) on the CPU."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "auto" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


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
