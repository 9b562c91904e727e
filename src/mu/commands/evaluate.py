# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu evaluate`: a model folder scored on SQuAD v2, XSum or CodeXGLUE code-to-text from local files."""

import argparse
import os

from ..arguments import (
    DTYPES,
    CommandError,
    check_device,
    check_input_file,
    check_model_path,
    check_output_folder,
    positive_int,
)


def make_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model folder on SQuAD v2, XSum or CodeXGLUE code-to-text from local files",
        description="Generate answers (greedy, batched) for a task's local file, score them with the task's "
        "metrics (SQuAD v2 exact/F1, ROUGE-1/2/L/Lsum, smoothed BLEU-4 + exact match) plus ROUGE-Lsum, optionally "
        "an LLM judge, and write predictions.jsonl and metrics.json.",
    )
    parser.add_argument("--model", required=True, help="model folder or Hub repo id (AutoModelForSeq2SeqLM)")
    parser.add_argument("--task", required=True, help="squad_v2 | xsum | codexglue_code2text")
    parser.add_argument("--data", required=True, help="SQuAD v2 JSON, or JSONL (document/summary, code/docstring)")
    parser.add_argument("--output", required=True, help="folder for predictions.jsonl and metrics.json")
    parser.add_argument("--limit", type=positive_int, help="evaluate the first N examples only")
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--max-new-tokens", type=positive_int, default=64)
    parser.add_argument("--judge", metavar="MODEL_DIR", help="a causal LM that grades each answer (0-1, averaged)")
    parser.add_argument(
        "--add-to-card", action="store_true", help="add the metrics to the model-index of the model folder's card"
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda")
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    return parser


def run(args: argparse.Namespace) -> int:
    args.model = check_model_path(args.model, "--model")
    if args.judge is not None:
        args.judge = check_model_path(args.judge, "--judge")
    if args.add_to_card and not os.path.isdir(args.model):
        raise CommandError(f"--add-to-card writes into the model folder's card; {args.model} is not a local folder.")
    check_input_file(args.data, "--data")
    check_output_folder(args.output, "--output")
    check_device(args.device)
    import json

    import torch

    from ..evaluation.runner import evaluate_model
    from ..evaluation.tasks import get_task

    get_task(args.task)
    metrics = evaluate_model(
        args.model,
        args.task,
        args.data,
        args.output,
        limit=args.limit,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        judge_path=args.judge,
        device=args.device,
        dtype=args.dtype if args.dtype == "auto" else getattr(torch, args.dtype),
    )
    if args.add_to_card:
        from pathlib import Path

        from ..model_card import add_evaluation_results

        add_evaluation_results(args.model, Path(args.output) / "metrics.json")
    print(json.dumps(metrics, indent=2))
    return 0
