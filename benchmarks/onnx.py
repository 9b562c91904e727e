# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""ONNX Runtime (float32, int8) against PyTorch float32 for the 330M Mu on the CPU: first-token latency, decode
tokens/s, greedy parity, size on disk, and int8 QA quality on a trained folder.
`python benchmarks/onnx.py --help` lists the options."""

import sys
from pathlib import Path

# Python puts this script's folder first on the import path, where this file would shadow the `onnx` package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent.resolve()]

from mu.benchmarks.onnx import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
