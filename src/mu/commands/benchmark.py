# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu benchmark`: generation speed of Mu against its decoder-only twin, no-cache decoding, T5 and Qwen3."""

import argparse
from pathlib import Path

import torch

from ..arguments import check_device, check_output_folder, positive_float, positive_int
from ..benchmark.contenders import CONTENDERS, SIZES
from ..benchmark.run import BenchmarkSettings, run_benchmark


def make_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "benchmark",
        help="time generation of Mu against its decoder-only twin, no-cache decoding, T5 and Qwen3",
        description="Generation benchmark at the paper's 330M size (random weights): first-token latency, decode "
        "tokens/s, end-to-end time, peak memory and FLOPs over input lengths, with the machine's GEMM and "
        "weight-streaming roof measured in the same run. Writes JSON, a markdown table and a PNG.",
    )
    defaults = BenchmarkSettings()
    parser.add_argument("--size", choices=SIZES, default=defaults.size, help="model size (tiny: for tests)")
    parser.add_argument("--contenders", nargs="+", choices=list(CONTENDERS), default=defaults.contenders)
    parser.add_argument("--input-lengths", nargs="+", type=positive_int, default=defaults.input_lengths)
    parser.add_argument("--new-tokens", type=positive_int, default=defaults.new_tokens)
    parser.add_argument("--batch-sizes", nargs="+", type=positive_int, default=defaults.batch_sizes)
    parser.add_argument(
        "--extra-cases",
        nargs="*",
        default=defaults.extra_cases,
        help="further CONTENDER:INPUT_LENGTH:NEW_TOKENS runs (default: %(default)s)",
    )
    parser.add_argument("--repeats", type=positive_int, default=defaults.repeats, help="timed runs per case (median)")
    parser.add_argument(
        "--repeat-budget-s",
        type=positive_float,
        default=defaults.repeat_budget_s,
        help="stop repeating a case once its runs took this long (at least one run)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    dtypes = ("float32", "bfloat16", "float16")
    parser.add_argument("--dtype", choices=dtypes, help="default: bfloat16 on GPU, float32 on CPU")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="static cache + torch.compile for every contender")
    parser.add_argument("--output-dir", default=defaults.output_dir)
    return parser


def _settings(args: argparse.Namespace) -> BenchmarkSettings:
    device = check_device(args.device) if args.device else ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("bfloat16" if device == "cuda" else "float32")
    check_output_folder(args.output_dir, "--output-dir")
    return BenchmarkSettings(
        size=args.size,
        contenders=args.contenders,
        input_lengths=sorted(args.input_lengths),
        new_tokens=args.new_tokens,
        batch_sizes=args.batch_sizes,
        extra_cases=args.extra_cases,
        repeats=args.repeats,
        repeat_budget_s=args.repeat_budget_s,
        device=device,
        dtype=dtype,
        threads=args.threads,
        compile=args.compile,
        output_dir=args.output_dir,
    )


def run(args: argparse.Namespace) -> int:
    results = run_benchmark(_settings(args))
    print(Path(results["files"][1]).read_text())
    return 0
