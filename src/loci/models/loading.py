"""Loading the learned models from their checkpoints (what ``loci play`` needs; no training code).

Each loader builds the model from the config stored in the checkpoint and loads its validated
weights (:func:`loci.models.checkpoint.load_model`), in eval mode on ``device``.
"""

from __future__ import annotations

import os

import torch

from .checkpoint import load_model
from .depth import DepthNet, DepthNetConfig
from .dit import CausalDiT, DiTConfig
from .tokenizer import Tokenizer, TokenizerConfig

TOKENIZER_KIND = "tokenizer"
WORLD_KIND = "world"
DEPTH_KIND = "depth"


def load_tokenizer(path: str | os.PathLike, device: str | torch.device = "cpu") -> Tokenizer:
    """Build a :class:`Tokenizer` from a checkpoint's config and load its validated weights (eval mode)."""
    return load_model(path, TOKENIZER_KIND, Tokenizer, TokenizerConfig, device)


def load_world_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> CausalDiT:
    """Build a :class:`CausalDiT` from a world checkpoint's config and load its validated weights (eval mode)."""
    return load_model(path, WORLD_KIND, CausalDiT, DiTConfig, device)


def load_depth_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> DepthNet:
    """Build a :class:`DepthNet` from a depth checkpoint's config and load its validated weights (eval mode)."""
    return load_model(path, DEPTH_KIND, DepthNet, DepthNetConfig, device)
