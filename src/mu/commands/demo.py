# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu demo`: a small Mu distilled from a small teacher on the CPU, against the same Mu trained on labels."""

import argparse

from ..arguments import CommandError, check_output_folder, positive_int
from ..demo import DemoSettings

# The flags of the demo's data and schedule, also those of the distillation quality benchmark.
SETTINGS_FLAGS = ("teacher_steps", "student_steps", "train_examples", "labeled_examples", "eval_examples")


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's data and schedule (`DemoSettings`) as flags, with its defaults."""
    defaults = DemoSettings()
    help_texts = {"labeled_examples": "training rows whose answers the students see (the teacher sees all)"}
    for name in SETTINGS_FLAGS:
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=positive_int, default=getattr(defaults, name), help=help_texts.get(name))


def settings_from_arguments(args: argparse.Namespace, **fields) -> DemoSettings:
    """`DemoSettings` from the flags of `add_settings_arguments`, and `fields`."""
    if args.labeled_examples > args.train_examples:
        raise CommandError(
            f"--labeled-examples {args.labeled_examples} exceeds --train-examples {args.train_examples}: the "
            "students' answers are a part of the training rows."
        )
    return DemoSettings(**{name: getattr(args, name) for name in SETTINGS_FLAGS}, **fields)


def make_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    defaults = DemoSettings()
    parser = subparsers.add_parser(
        "demo",
        help="fine-tune a small teacher, distil a small Mu from it and compare with a Mu trained on labels (CPU)",
        description="On a bundled synthetic extractive-QA set (CPU, about 6 minutes on 2 cores, no download): "
        "fine-tune a small decoder-only teacher on every training question with TRL's SFTTrainer, train a "
        "few-million-parameter Mu on the answers of a few of them (--labeled-examples), distil the same Mu from the "
        "teacher with MuDistillationTrainer on those and the other questions' prompts for the same steps, and print "
        "held-out exact match and F1 of the three; the distilled student is saved and reloaded with "
        "AutoModelForSeq2SeqLM.",
    )
    parser.add_argument("--output-dir", default=defaults.output_dir)
    add_settings_arguments(parser)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    return parser


def run(args: argparse.Namespace) -> int:
    settings = settings_from_arguments(args, output_dir=args.output_dir, seed=args.seed)
    check_output_folder(args.output_dir, "--output-dir")
    from ..extras import require_extra

    require_extra("train", "mu demo")
    require_extra("eval", "mu demo")
    from ..demo.run import run_demo

    run_demo(settings)
    return 0
