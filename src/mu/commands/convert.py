# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu convert`: a checkpoint of the reference code as a Hugging Face folder."""

import argparse
import os

from ..arguments import CommandError, check_model_path, check_output_folder


def make_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "convert",
        help="convert a reference checkpoint (microsoft/encoder-decoder-slm) into a Hugging Face folder",
        description="Convert a checkpoint of the reference Mu code into config.json + safetensors + "
        "generation_config.json + tokenizer + model card, loadable with AutoModelForSeq2SeqLM.",
    )
    parser.add_argument("path", help="the reference model.pt (--source text) or vision folder (--source vision)")
    parser.add_argument("--source", required=True, choices=("text", "vision"))
    parser.add_argument("--tokenizer", required=True, help="folder of the tokenizer the model was trained with")
    parser.add_argument("--output", required=True, help="folder to write")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--push-to-hub", metavar="REPO", help="also upload the folder to this Hub repo")
    return parser


def run(args: argparse.Namespace) -> int:
    if not os.path.exists(args.path):
        raise CommandError(f"{args.path}: no such file or folder.")
    args.tokenizer = check_model_path(args.tokenizer, "--tokenizer")
    check_output_folder(args.output, "--output")
    import torch

    from ..convert_mu_original_checkpoint import convert

    model = convert(args.source, args.path, args.tokenizer, args.output, getattr(torch, args.dtype), args.push_to_hub)
    print(f"Wrote {args.output}: {model.num_parameters() / 1e6:.2f}M parameters")
    return 0
