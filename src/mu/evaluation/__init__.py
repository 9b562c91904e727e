# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Evaluation: SQuAD v2 scoring, the bundled `evaluate` metrics, task runners and an LLM judge."""

from ..extras import require_extra

require_extra("eval", "Evaluation (mu.evaluation)")

from .metrics import METRICS, load_metric
from .squad_v2 import exact_match, f1_score, normalize_answer

__all__ = ["METRICS", "load_metric", "exact_match", "f1_score", "normalize_answer"]
