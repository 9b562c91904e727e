# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Distillation benchmark: training steps/s of MuDistillationTrainer against the reference recipe's on-policy loop
(per-sample sampling without a KV cache inside the data loader), with the same tiny student and teacher.
`python benchmarks/distillation.py --help` lists the options."""

import sys

from mu.benchmarks.distillation import main

if __name__ == "__main__":
    sys.exit(main())
