# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Generation benchmark (same as `mu benchmark`): Mu-330M against its decoder-only twin, itself without a KV cache,
and transformers' T5 and Qwen3 of the same size. `python benchmarks/generation.py --help` lists the options."""

import sys

from mu.benchmarks.generation import main

if __name__ == "__main__":
    sys.exit(main())
