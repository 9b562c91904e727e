# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The job behind `mu evaluate`: answers for a task's file, their scores, and the files written.

`mu evaluate`: generate answers for a task's file with a saved model, score them, and write predictions and
metrics."""

import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from .generation import generate_answers
from .judge import judge_scores
from .tasks import get_task, read_task_file


def evaluate_model(
    model_path: str,
    task_name: str,
    data_path: str,
    output_dir: str,
    limit: int | None = None,
    batch_size: int = 16,
    max_new_tokens: int = 64,
    judge_path: str | None = None,
    device: str = "cpu",
    dtype: torch.dtype | str = "auto",
) -> dict[str, float]:
    """Writes `predictions.jsonl` (id, prediction, reference) and `metrics.json` to `output_dir`; returns the
    metrics. With `judge_path`, `judge_score` is the mean judge score (see `mu.evaluation.judge`)."""
    task = get_task(task_name)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}.")
    rows = read_task_file(task, data_path, limit)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_path, dtype=dtype).to(device)
    prompts = [row["prompt"] for row in rows]
    predictions = generate_answers(model, tokenizer, prompts, batch_size, max_new_tokens, desc=task.name)
    metrics = {"task": task.name, "examples": len(rows), **task.score(predictions, rows)}
    if judge_path is not None:
        judge_tokenizer = AutoTokenizer.from_pretrained(judge_path)
        judge = AutoModelForCausalLM.from_pretrained(judge_path, dtype=dtype).to(device)
        references = [row["reference"] for row in rows]
        scores = judge_scores(judge, judge_tokenizer, prompts, references, predictions, batch_size)
        metrics["judge_score"] = sum(scores) / len(scores)
        for row, score in zip(rows, scores):
            row["judge_score"] = score

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / "predictions.jsonl", "w") as file:
        for row, prediction in zip(rows, predictions):
            record = {"id": row["id"], "prediction": prediction, "reference": row["reference"]}
            if "judge_score" in row:
                record["judge_score"] = row["judge_score"]
            file.write(json.dumps(record) + "\n")
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
