# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The `mu` command line: `mu generate | distill | evaluate | push | demo | benchmark | convert | export-onnx |
export-ctranslate2`."""

import argparse
import sys
from collections.abc import Sequence

from safetensors import SafetensorError

from .arguments import CommandError
from .commands import benchmark, convert, demo, distill, evaluate, export_ctranslate2, export_onnx, generate, push
from .extras import MissingExtraError

# Each command module builds its parser with `make_parser(subparsers)` and runs it with `run(args) -> int`.
COMMANDS = (generate, distill, evaluate, push, demo, benchmark, convert, export_onnx, export_ctranslate2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mu", description="Mu: small encoder-decoder language models.")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an error instead of its one-line message"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.make_parser(subparsers).set_defaults(run=command.run)
    return parser


# What a command reports as `mu <command>: <message>` without a traceback: bad values and files (`ValueError`, and
# `OSError`, which covers transformers' loading errors and the Hub's HTTP errors), a missing extra, damaged weights.
EXPECTED_ERRORS = (CommandError, MissingExtraError, ValueError, OSError, SafetensorError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra_arguments = parser.parse_known_args(argv)
    if hasattr(args, "extra_arguments"):  # a command that parses its own flags
        args.extra_arguments = extra_arguments
    elif extra_arguments:
        parser.error(f"unrecognized arguments: {' '.join(extra_arguments)}")
    try:
        return args.run(args)
    except EXPECTED_ERRORS as error:
        if args.debug:
            raise
        print(f"mu {args.command}: {_message(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"mu {args.command}: interrupted.", file=sys.stderr)
        return 130


def _message(error: BaseException) -> str:
    return str(error).strip() or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
