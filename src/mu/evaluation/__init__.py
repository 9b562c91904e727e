# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Task metrics."""

from .squad_v2 import exact_match, f1_score, normalize_answer

__all__ = ["exact_match", "f1_score", "normalize_answer"]
