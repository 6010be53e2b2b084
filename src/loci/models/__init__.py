"""Learned models: the 4D-state tokenizer (and, from other modules, the causal generator)."""

from pathlib import Path

from .adapters import Conditions, drop_conditions, latent_plucker
from .dit import CausalDiT, DiTConfig
from .kv_cache import CacheContext, CacheGeometry, KVCache, evict_except, sink_and_window, sliding_window
from .sampler import (
    SamplerConfig,
    euler,
    few_step_times,
    guided_velocity,
    renoise_sample,
    sample_chunk,
    time_schedule,
)
from .tokenizer import Tokenizer, TokenizerConfig, denormalize_depth, normalize_depth

WEIGHTS_DIR = Path(__file__).parent / "weights"
SHIPPED_TOKENIZER = WEIGHTS_DIR / "tokenizer_doom.safetensors"  # the 4D tokenizer (ViZDoom)
SHIPPED_WORLD = WEIGHTS_DIR / "world_doom.safetensors"  # the memory-conditioned world model (ViZDoom)
SHIPPED_STUDENT = (
    WEIGHTS_DIR / "student.safetensors"
)  # its few-step student (Self-Forcing + DMD), when shipped
SHIPPED_DEPTH = WEIGHTS_DIR / "depth_doom.safetensors"  # monocular depth for single-image starts (ViZDoom)
# distance light falloff of each world's engine, by engine name (re-lights the learned world's memory)
SHIPPED_LIGHT = {"vizdoom": WEIGHTS_DIR / "light_doom.safetensors"}

__all__ = [
    "SHIPPED_DEPTH",
    "SHIPPED_LIGHT",
    "SHIPPED_STUDENT",
    "SHIPPED_TOKENIZER",
    "SHIPPED_WORLD",
    "WEIGHTS_DIR",
    "Tokenizer",
    "TokenizerConfig",
    "denormalize_depth",
    "normalize_depth",
]

# Causal generator (dit.py, blocks.py, rope.py, kv_cache.py, adapters.py, sampler.py)

__all__ += [
    "CacheContext",
    "CacheGeometry",
    "CausalDiT",
    "Conditions",
    "DiTConfig",
    "KVCache",
    "SamplerConfig",
    "drop_conditions",
    "euler",
    "evict_except",
    "few_step_times",
    "guided_velocity",
    "latent_plucker",
    "renoise_sample",
    "sample_chunk",
    "sink_and_window",
    "sliding_window",
    "time_schedule",
]
