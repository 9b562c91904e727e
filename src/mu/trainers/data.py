# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Prompt-completion datasets (TRL's standard format) for distillation.

Prompt-completion datasets (TRL's standard, non-conversational format) for distillation: loading from local
JSONL/Parquet files and checking every row before any training starts."""

from pathlib import Path

from datasets import Dataset, load_dataset

PROMPT_COMPLETION_COLUMNS = ("prompt", "completion")
_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def check_prompt_completion_dataset(dataset: Dataset, name: str = "dataset", prompt_only_rows: bool = False) -> None:
    """Raises a ValueError naming the row and column of the first bad value: each row needs a non-empty string
    `prompt` and a string `completion` (empty means "no answer"). With `prompt_only_rows`, a row's `completion` may
    be `None` and the column may be missing (TRL's prompt-only format): the row has no ground truth."""
    required = PROMPT_COMPLETION_COLUMNS[:1] if prompt_only_rows else PROMPT_COMPLETION_COLUMNS
    missing = [column for column in required if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"The {name} has no {' or '.join(repr(c) for c in missing)} column (it has {dataset.column_names}); "
            "distillation needs a `prompt` and a ground-truth `completion` per row."
        )
    for column in PROMPT_COMPLETION_COLUMNS:
        if column not in dataset.column_names:
            continue
        for row, value in enumerate(dataset[column]):
            if value is None and column == "completion" and prompt_only_rows:
                continue
            if value is None:
                raise ValueError(f"The {name} row {row} has no value in column {column!r}.")
            if not isinstance(value, str):
                raise ValueError(
                    f"The {name} row {row}, column {column!r} holds a {type(value).__name__}; expected text "
                    "(conversational prompts are not supported for encoder-decoder students)."
                )
            if column == "prompt" and not value.strip():
                raise ValueError(f"The {name} row {row} has an empty {column!r}.")


def load_prompt_completion_dataset(path: str | Path, prompt_only: bool = False) -> Dataset:
    """Reads a local `.jsonl`/`.json` (one object per line) or `.parquet` file with `prompt` and `completion`
    columns, and checks every row. With `prompt_only`, the file holds prompts without answers (a `prompt` column and
    no `completion`), returned as prompt-only rows: a `completion` column of `None`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No dataset file at {path}.")
    file_format = _FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise ValueError(f"Cannot read {path}: expected a {', '.join(_FORMATS)} file.")
    try:
        dataset = load_dataset(file_format, data_files=str(path), split="train")
    except Exception as error:  # datasets raises several types for unreadable files
        raise ValueError(f"Cannot read {path} as {file_format}: {error}") from error
    if not prompt_only:
        check_prompt_completion_dataset(dataset, name=f"dataset {path.name}")
        return dataset
    if "completion" in dataset.column_names:
        raise ValueError(
            f"The prompts file {path.name} has a 'completion' column: rows with answers belong in the training file."
        )
    check_prompt_completion_dataset(dataset, name=f"prompts file {path.name}", prompt_only_rows=True)
    return dataset.select_columns(["prompt"]).add_column("completion", [None] * len(dataset))
