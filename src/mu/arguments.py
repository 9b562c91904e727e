# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Checks of the `mu` command line's values, made before any model is loaded.

Argparse types for numbers, the rule that tells a mistyped local folder from a Hub id, the device, and output paths.
They raise [`CommandError`], which `mu` prints as `mu <command>: <message>`."""

import argparse
import os
from pathlib import Path

# `--dtype` of the commands that load a model: `auto` keeps the checkpoint's.
DTYPES = ("auto", "float32", "bfloat16", "float16")


class CommandError(Exception):
    """An expected failure of a `mu` command (bad flag, missing file, unusable device): printed without a
    traceback."""


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = _parse(text, int, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer of at least 0."""
    value = _parse(text, int, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0."""
    value = _parse(text, float, "a number")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def probability(text: str) -> float:
    """argparse type: a number in (0, 1]."""
    value = _parse(text, float, "a number")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _parse(text: str, kind: type, name: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {name}, got {text!r}") from None


def looks_local(name_or_path: str) -> bool:
    """Whether a model argument names a local path rather than a Hub id: it starts with `.`, `/` or `~`, or its
    first component (e.g. `runs` of `runs/mu-demo`) exists here."""
    if name_or_path.startswith((".", "/", "~")) or os.path.isabs(name_or_path):
        return True
    head = Path(name_or_path).parts[0] if name_or_path else ""
    return bool(head) and os.path.exists(head)


def check_model_path(name_or_path: str, flag: str) -> str:
    """`name_or_path` unchanged when it exists or reads as a Hub id; a `CommandError` for a missing local path."""
    if looks_local(name_or_path) and not os.path.exists(os.path.expanduser(name_or_path)):
        hint = "a Hub id looks like ORG/NAME"
        if not name_or_path.startswith((".", "/", "~")):
            hint = (
                f"read as a local path because {Path(name_or_path).parts[0]} exists here; run elsewhere for a Hub id"
            )
        raise CommandError(f"{flag} {name_or_path}: no such file or folder ({hint}).")
    return os.path.expanduser(name_or_path) if name_or_path.startswith("~") else name_or_path


def check_input_file(path: str, flag: str) -> None:
    """A `CommandError` unless `path` is an existing file."""
    if os.path.isdir(path):
        raise CommandError(f"{flag} {path} is a folder; give a file.")
    if not os.path.isfile(path):
        raise CommandError(f"{flag} {path}: no such file.")


def check_output_folder(path: str, flag: str) -> None:
    """A `CommandError` when `path` exists and is not a folder, or cannot be created: checked before any work."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise CommandError(f"{flag} {path} is a file; give a folder to write into.")
    existing = next(parent for parent in (target, *target.parents) if parent.exists())
    if not existing.is_dir():
        raise CommandError(f"{flag} {path}: {existing} is a file, so the folder cannot be created.")
    if not os.access(existing, os.W_OK):
        raise CommandError(f"{flag} {path}: {existing} is not writable.")


def check_device(device: str) -> str:
    """`device` when torch can use it on this machine, else a `CommandError` saying what is available."""
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise CommandError(f"--device {device} is not a torch device; use cpu, cuda, cuda:N or mps.") from None
    if parsed.type == "cpu":
        return device
    if parsed.type == "mps":
        available = int(torch.backends.mps.is_available())
    else:
        backend = getattr(torch, parsed.type, None)
        available = backend.device_count() if backend is not None and backend.is_available() else 0
    if available == 0:
        raise CommandError(
            f"--device {device}: this machine (or this torch build) has no {parsed.type} device; use cpu."
        )
    if parsed.index is not None and parsed.index >= available:
        raise CommandError(
            f"--device {device}: this machine has {available} {parsed.type} device(s), numbered from 0."
        )
    return device
