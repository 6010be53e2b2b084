"""Shared test settings: deterministic torch, one thread per xdist worker, a hypothesis profile for CI."""

import os

import torch
from hypothesis import HealthCheck, settings

torch.manual_seed(0)
# Under pytest-xdist every worker gets one core's worth of threads: two workers with two OpenMP threads
# each on a 2-core machine oversubscribe it, and torch's parallel regions then stall for milliseconds.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1)))
settings.register_profile(
    "loci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("loci")
