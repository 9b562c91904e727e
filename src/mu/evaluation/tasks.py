# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The paper's evaluation tasks on local files: SQuAD v2, XSum, CodeXGLUE code-to-text.

The paper's evaluation tasks on local files: SQuAD v2 (official JSON layout), XSum (JSONL `document`/`summary`)
and CodeXGLUE code-to-text (JSONL `code`/`docstring`). Each task reads its file with `datasets`, builds the prompts,
and scores predictions with its own metric plus ROUGE-Lsum, the score the paper's table uses for every task."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from datasets import load_dataset

from ..prompts import format_code_to_text_prompt, format_qa_prompt, format_summary_prompt
from .metrics import load_metric

# A sentence ends at ., ! or ? followed by white space (ROUGE-Lsum reads one sentence per line; nltk's splitter
# needs data that is not available offline).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> str:
    """`text` with one sentence per line, as ROUGE-Lsum expects."""
    return "\n".join(sentence for sentence in _SENTENCE_END.split(text.strip()) if sentence)


def rouge_lsum(predictions: list[str], references: list[str]) -> float:
    """Aggregated ROUGE-Lsum F-measure with stemming, sentences split on both sides."""
    rouge = load_metric("rouge")
    scores = rouge.compute(
        predictions=[split_sentences(p) for p in predictions],
        references=[split_sentences(r) for r in references],
        rouge_types=["rougeLsum"],
        use_stemmer=True,
    )
    return scores["rougeLsum"]


@dataclass(frozen=True)
class EvaluationTask:
    """How to read a task's file into rows (`id`, `prompt`, `reference`, ...) and how to score predictions."""

    name: str
    file_layout: str
    read: Callable[[Path], list[dict]]
    score: Callable[[list[str], list[dict]], dict[str, float]]


def _read_jsonl(path: Path, columns: tuple[str, str], layout: str) -> list[dict]:
    dataset = load_dataset("json", data_files=str(path), split="train")
    missing = [column for column in columns if column not in dataset.column_names]
    if missing:
        raise ValueError(f"{path} is not {layout}: it has no {missing} column (it has {dataset.column_names}).")
    for column in columns:
        for row, value in enumerate(dataset[column]):
            if not isinstance(value, str):
                raise ValueError(f"{path} row {row}: column {column!r} holds {value!r}; expected text.")
    return [{column: row[column] for column in columns} | {"id": str(i)} for i, row in enumerate(dataset)]


def _read_squad_v2(path: Path) -> list[dict]:
    layout = 'SQuAD v2 JSON: {"data": [{"paragraphs": [{"context": ..., "qas": [{"id", "question", "answers"}]}]}]}'
    try:
        articles = load_dataset("json", data_files=str(path), field="data", split="train")
    except Exception as error:  # datasets raises several types for a missing field or a file that is not JSON
        raise ValueError(f"{path} is not {layout} ({error})") from error
    rows = []
    try:
        for article in articles:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    answers = [answer["text"] for answer in qa["answers"]]
                    rows.append(
                        {
                            "id": qa["id"],
                            "prompt": format_qa_prompt(qa["question"], paragraph["context"]),
                            "reference": answers[0] if answers else "",
                            "answers": {
                                "text": answers,
                                "answer_start": [answer["answer_start"] for answer in qa["answers"]],
                            },
                        }
                    )
    except (KeyError, TypeError) as error:
        raise ValueError(f"{path} is not {layout}: missing {error}") from error
    return rows


def _read_xsum(path: Path) -> list[dict]:
    rows = _read_jsonl(path, ("document", "summary"), "XSum JSONL (document, summary)")
    return [row | {"prompt": format_summary_prompt(row["document"]), "reference": row["summary"]} for row in rows]


def _read_code_to_text(path: Path) -> list[dict]:
    rows = _read_jsonl(path, ("code", "docstring"), "CodeXGLUE code-to-text JSONL (code, docstring)")
    return [row | {"prompt": format_code_to_text_prompt(row["code"]), "reference": row["docstring"]} for row in rows]


def _score_squad_v2(predictions: list[str], rows: list[dict]) -> dict[str, float]:
    scores = load_metric("squad_v2").compute(
        predictions=[
            {"id": row["id"], "prediction_text": prediction, "no_answer_probability": 0.0}
            for prediction, row in zip(predictions, rows)
        ],
        references=[{"id": row["id"], "answers": row["answers"]} for row in rows],
    )
    # ROUGE-Lsum over the answerable questions: an empty gold answer has no words to overlap with.
    answerable = [i for i, row in enumerate(rows) if row["answers"]["text"]]
    if answerable:
        scores["rougeLsum"] = rouge_lsum(
            [predictions[i] for i in answerable], [rows[i]["reference"] for i in answerable]
        )
    return scores


def _score_xsum(predictions: list[str], rows: list[dict]) -> dict[str, float]:
    rouge = load_metric("rouge")
    return rouge.compute(
        predictions=[split_sentences(p) for p in predictions],
        references=[split_sentences(row["reference"]) for row in rows],
        use_stemmer=True,
    )


def _score_code_to_text(predictions: list[str], rows: list[dict]) -> dict[str, float]:
    references = [row["reference"] for row in rows]
    bleu = load_metric("bleu").compute(predictions=predictions, references=[[r] for r in references], smooth=True)
    exact = load_metric("exact_match").compute(predictions=predictions, references=references)
    return {"bleu": bleu["bleu"], **exact, "rougeLsum": rouge_lsum(predictions, references)}


TASKS = {
    task.name: task
    for task in (
        EvaluationTask("squad_v2", "official SQuAD v2 JSON", _read_squad_v2, _score_squad_v2),
        EvaluationTask("xsum", "JSONL with document, summary", _read_xsum, _score_xsum),
        EvaluationTask("codexglue_code2text", "JSONL with code, docstring", _read_code_to_text, _score_code_to_text),
    )
}


def get_task(name: str) -> EvaluationTask:
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; choose one of {', '.join(TASKS)}.")
    return TASKS[name]


def read_task_file(task: EvaluationTask, path: str | Path, limit: int | None = None) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No {task.name} data file at {path} (expected {task.file_layout}).")
    rows = task.read(path)
    if not rows:
        raise ValueError(f"{path} holds no {task.name} examples.")
    return rows[:limit] if limit is not None else rows
