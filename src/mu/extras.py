# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The optional parts of Mu: which packages each `pip install "mu[EXTRA]"` brings, and the error that names it."""

import importlib.util

# Import names of the packages each extra of `pyproject.toml` installs (a test keeps the two in step).
EXTRA_MODULES = {
    "train": ("datasets", "peft", "trl", "matplotlib"),
    "vision": ("PIL",),
    "eval": ("datasets", "evaluate", "rouge_score", "sacrebleu"),
    "onnx": ("onnx", "onnxruntime", "onnxscript"),
    "ctranslate2": ("ctranslate2",),
}


class MissingExtraError(ImportError):
    """A Mu feature was used without the optional packages it needs."""


def require_extra(extra: str, feature: str) -> None:
    """Raises [`MissingExtraError`] naming `extra` when any package of that extra is not installed."""
    missing = [module for module in EXTRA_MODULES[extra] if importlib.util.find_spec(module) is None]
    if missing:
        raise MissingExtraError(
            f"{feature} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed: "
            f'pip install "mu[{extra}]"'
        )
