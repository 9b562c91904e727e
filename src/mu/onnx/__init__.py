# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Edge deployment: ONNX export of Mu (encoder + cached decoder step, optionally int8) and ONNX Runtime generation."""

from ..extras import require_extra

require_extra("onnx", "ONNX export and runtime (mu.onnx)")

from .export import export_onnx
from .runtime import MuOnnxGenerator

__all__ = ["export_onnx", "MuOnnxGenerator"]
