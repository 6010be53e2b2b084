"""Describe the machine a measurement ran on, for benchmark JSON and tables."""

from __future__ import annotations

import os
import platform

import torch


def machine_info() -> dict:
    """CPU model, core count, torch version and thread count."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
    }


def calls_per_second(fn, seconds: float, warmup: int = 3, rounds: int = 3) -> float:
    """Calls per second of ``fn()``: ``warmup`` calls, then the best of ``rounds`` rounds of ``seconds / rounds``."""
    import time

    for _ in range(warmup):
        fn()
    best = 0.0
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / rounds:
            fn()
            n += 1
        best = max(best, n / elapsed)
    return best
