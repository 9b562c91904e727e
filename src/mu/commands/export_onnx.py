# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu export-onnx`: a text Mu folder as ONNX (encoder + cached decoder step), optionally int8."""

import argparse

from ..arguments import CommandError, check_model_path, check_output_folder


def make_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export-onnx",
        help="export a text Mu folder to ONNX (encoder + cached decoder step), optionally int8",
        description="Writes encoder_model.onnx and decoder_model.onnx with the config, generation config and "
        "tokenizer; run it with `mu generate --backend onnx --model OUTPUT`.",
    )
    parser.add_argument("--model", required=True, help="Mu model folder or Hub repo id")
    parser.add_argument("--output", required=True, help="folder to write")
    # `export_onnx` checks the value: the parser is built without the `onnx` extra
    parser.add_argument("--quantize", metavar="int8", help="dynamic int8 quantization of the linears")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow code shipped with the model folder")
    return parser


def run(args: argparse.Namespace) -> int:
    args.model = check_model_path(args.model, "--model")
    check_output_folder(args.output, "--output")
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ..onnx import export_onnx
    from ..onnx.export import QUANTIZATIONS

    if args.quantize is not None and args.quantize not in QUANTIZATIONS:
        raise CommandError(f"--quantize {args.quantize}: choose one of {', '.join(QUANTIZATIONS)}.")
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, trust_remote_code=args.trust_remote_code)
    paths = export_onnx(model, args.output, quantize=args.quantize)
    AutoTokenizer.from_pretrained(args.model, trust_remote_code=args.trust_remote_code).save_pretrained(args.output)
    for path in paths.values():
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0
