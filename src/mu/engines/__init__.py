# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Serving Mu on inference engines other than PyTorch."""
