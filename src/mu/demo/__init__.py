# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The `mu demo` job: a small Mu trained on CPU on synthetic extractive QA, with nothing downloaded."""
