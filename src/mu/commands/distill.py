# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu distill`: a decoder-only teacher distilled into an encoder-decoder student.

Every field of [`MuDistillationConfig`] (hence of `TrainingArguments`) is a flag, parsed by `HfArgumentParser` when
the command runs, so that the other commands need no `train` extra."""

import argparse


def make_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "distill",
        add_help=False,
        help="distil a decoder-only teacher into a Mu (or T5) student (`mu distill --help`)",
    )
    parser.set_defaults(extra_arguments=[])  # every flag, `--help` included, goes to `run`
    return parser


def run(args: argparse.Namespace) -> int:
    from transformers import HfArgumentParser

    from ..trainers.distill import DistillArguments, check_arguments, run_distill
    from ..trainers.distillation_config import PAPER_RECIPE, MuDistillationConfig

    parser = HfArgumentParser((DistillArguments, MuDistillationConfig), prog="mu distill")
    recipe, _ = parser.parse_known_args(args.extra_arguments)
    if recipe.recipe == "paper":
        parser.set_defaults(**PAPER_RECIPE)
    arguments, config = parser.parse_args_into_dataclasses(args=args.extra_arguments)
    check_arguments(arguments, config)
    trainer = run_distill(arguments, config)
    print(f"Saved the student to {config.output_dir}/ (loss curves: {trainer.args.output_dir}/loss_curves.png)")
    return 0
