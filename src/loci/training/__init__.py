"""Training loops, losses and checkpoints (may import models, data, memory)."""

from loci.models.checkpoint import (
    Checkpoint,
    check_state_dict,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from loci.models.loading import load_tokenizer

from .tokenizer import (
    TokenizerTrainConfig,
    evaluate_tokenizer,
    export_tokenizer,
    load_train_config,
    train_tokenizer,
)

__all__ = [
    "Checkpoint",
    "TokenizerTrainConfig",
    "check_state_dict",
    "evaluate_tokenizer",
    "export_tokenizer",
    "load_checkpoint",
    "load_tokenizer",
    "load_train_config",
    "load_weights",
    "save_checkpoint",
    "train_tokenizer",
]
