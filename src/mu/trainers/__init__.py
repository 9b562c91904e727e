# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Training Mu with TRL: distillation from a decoder-only teacher."""

from ..extras import require_extra

require_extra("train", "Training Mu (mu.trainers)")

from .data import check_prompt_completion_dataset, load_prompt_completion_dataset
from .distillation_config import MuDistillationConfig
from .distillation_trainer import MuDistillationTrainer, load_teacher
from .losses import generalized_jsd_divergence
from .vocabulary import shared_vocabulary_size

__all__ = [
    "MuDistillationConfig",
    "MuDistillationTrainer",
    "generalized_jsd_divergence",
    "load_teacher",
    "check_prompt_completion_dataset",
    "load_prompt_completion_dataset",
    "shared_vocabulary_size",
]
