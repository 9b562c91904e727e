# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu export-ctranslate2`: a text Mu folder as a CTranslate2 model, optionally quantized."""

import argparse

from ..arguments import check_model_path, check_output_folder


def make_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export-ctranslate2",
        help="convert a text Mu folder into a CTranslate2 model (int8, int16, float16, bfloat16, float32)",
        description="Writes a CTranslate2 model (model.bin, vocabularies, config) with the folder's tokenizer and "
        "generation config beside it, for ctranslate2.Translator.",
    )
    parser.add_argument("--model", required=True, help="Mu model folder or Hub repo id")
    parser.add_argument("--output", required=True, help="a new or empty folder to write")
    # `export_ctranslate2` checks the value: the parser is built without the `ctranslate2` extra
    parser.add_argument("--quantization", help="int8, int8_float32, int16, float16, bfloat16 or float32")
    return parser


def run(args: argparse.Namespace) -> int:
    args.model = check_model_path(args.model, "--model")
    check_output_folder(args.output, "--output")
    from ..extras import require_extra

    require_extra("ctranslate2", "mu export-ctranslate2")
    from ..engines.ctranslate2 import export_ctranslate2

    output = export_ctranslate2(args.model, args.output, quantization=args.quantization)
    print(f"wrote {output} ({(output / 'model.bin').stat().st_size / 2**20:.1f} MiB)")
    return 0
