"""Giving freed memory back to the operating system (glibc keeps what the allocator freed).

A long session allocates and frees tensors of many sizes in several threads; glibc's malloc keeps
the freed memory in its per-thread arenas (64 MiB each) and main heap, so the resident size climbs
in steps and stays up although nothing leaks. ``malloc_trim(0)`` returns those pages: on a player at
step 8,243 of ``benchmarks/soak.py`` it took the server from 603 to 465 MiB (BENCHMARKS.md, Soak).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _trim():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        fn = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def release_free_memory() -> bool:
    """Return the allocator's free pages to the OS (glibc ``malloc_trim(0)``); False where unavailable
    or nothing was released."""
    fn = _trim()
    return bool(fn(0)) if fn is not None else False
