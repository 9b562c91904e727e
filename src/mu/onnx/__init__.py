# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Edge deployment: ONNX export of Mu (encoder + cached decoder step, optionally int8) and ONNX Runtime generation."""

from .export import export_onnx
from .runtime import MuOnnxGenerator

__all__ = ["export_onnx", "MuOnnxGenerator"]
