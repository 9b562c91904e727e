# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu demo`: a small Mu distilled from a small teacher on the CPU, against the same Mu trained on labels."""

import argparse

from ..arguments import check_output_folder, positive_int
from ..demo import DemoSettings


def make_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    defaults = DemoSettings()
    parser = subparsers.add_parser(
        "demo",
        help="fine-tune a small teacher, distil a small Mu from it and compare with a Mu trained on labels (CPU)",
        description="On a bundled synthetic extractive-QA set (CPU, about 10 minutes, no download): fine-tune a "
        "small decoder-only teacher on every training question with TRL's SFTTrainer, train a few-million-parameter "
        "Mu on the answers of a few of them (--labeled-examples), distil the same Mu from the teacher with "
        "MuDistillationTrainer on those and the other questions' prompts for the same steps, and print held-out "
        "exact match and F1 of the three; the distilled student is saved and reloaded with AutoModelForSeq2SeqLM.",
    )
    parser.add_argument("--output-dir", default=defaults.output_dir)
    parser.add_argument("--teacher-steps", type=positive_int, default=defaults.teacher_steps)
    parser.add_argument("--student-steps", type=positive_int, default=defaults.student_steps)
    parser.add_argument("--train-examples", type=positive_int, default=defaults.train_examples)
    parser.add_argument(
        "--labeled-examples",
        type=positive_int,
        default=defaults.labeled_examples,
        help="training rows whose answers the students see (the teacher sees all)",
    )
    parser.add_argument("--eval-examples", type=positive_int, default=defaults.eval_examples)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    return parser


def run(args: argparse.Namespace) -> int:
    check_output_folder(args.output_dir, "--output-dir")
    from ..extras import require_extra

    require_extra("train", "mu demo")
    require_extra("eval", "mu demo")
    from ..demo.run import run_demo

    run_demo(
        DemoSettings(
            output_dir=args.output_dir,
            teacher_steps=args.teacher_steps,
            student_steps=args.student_steps,
            train_examples=args.train_examples,
            labeled_examples=args.labeled_examples,
            eval_examples=args.eval_examples,
            seed=args.seed,
        )
    )
    return 0
