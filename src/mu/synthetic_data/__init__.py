# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Data that needs no download, for the demo, the benchmarks and the tests.

A synthetic SQuAD-2-style QA set and a byte-level BPE tokenizer trained on it."""
