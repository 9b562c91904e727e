# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The `mu` command line: `mu generate | distill | evaluate | push | demo | benchmark | convert | export-onnx`."""

import argparse
import os
import sys
from collections.abc import Sequence

from safetensors import SafetensorError

from .arguments import (
    CommandError,
    check_device,
    check_input_file,
    check_model_path,
    check_output_folder,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)
from .extras import MissingExtraError

DTYPES = ("auto", "float32", "bfloat16", "float16")
# The sampling flags of `mu generate`, which only apply with --do-sample.
SAMPLING_FLAGS = ("temperature", "top_k", "top_p")


def _add_generate_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate text with a Mu model folder",
        description="Generate an answer with a saved Mu model (a folder with config, safetensors and tokenizer).",
    )
    parser.add_argument("prompt", help="the prompt; with --context, the question of the reference QA prompt")
    parser.add_argument("--model", required=True, help="model folder or Hub repo id")
    parser.add_argument("--context", help="context passage: wraps the prompt in the reference QA template")
    parser.add_argument(
        "--image", help="image file or URL: the prompt is a question about it (needs a vision checkpoint)"
    )
    parser.add_argument("--max-new-tokens", type=positive_int, default=64)
    parser.add_argument("--do-sample", action="store_true", help="sample instead of greedy/beam decoding")
    parser.add_argument("--temperature", type=positive_float, help="sampling temperature (with --do-sample)")
    parser.add_argument("--top-k", type=non_negative_int, help="sample from the k likeliest tokens (with --do-sample)")
    parser.add_argument("--top-p", type=probability, help="nucleus sampling probability (with --do-sample)")
    parser.add_argument("--repetition-penalty", type=positive_float, default=None)
    parser.add_argument("--num-beams", type=positive_int, default=1)
    parser.add_argument("--num-return-sequences", type=positive_int, default=1)
    parser.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    parser.add_argument("--stream", action="store_true", help="print tokens as they are produced")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1, mps")
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    parser.add_argument("--trust-remote-code", action="store_true", help="allow code shipped with the model folder")
    parser.add_argument(
        "--backend",
        default="pytorch",
        choices=("pytorch", "onnx"),
        help="onnx: run a folder written by `mu export-onnx` with ONNX Runtime (greedy or sampling, CPU)",
    )
    parser.set_defaults(func=_run_generate)


def _check_generate_arguments(args: argparse.Namespace) -> None:
    if not args.prompt.strip():
        raise CommandError("the prompt is empty.")
    if args.stream and (args.num_beams > 1 or args.num_return_sequences > 1):
        raise CommandError("--stream works with one sequence only (no --num-beams/--num-return-sequences).")
    if args.image is not None and args.context is not None:
        raise CommandError("--image and --context exclude each other (the image is the context).")
    if not args.do_sample:
        given = [f"--{name.replace('_', '-')}" for name in SAMPLING_FLAGS if getattr(args, name) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise CommandError(f"{', '.join(given)} {verb} only when sampling: add --do-sample.")
        if args.num_return_sequences > args.num_beams:
            raise CommandError(
                f"--num-return-sequences {args.num_return_sequences} needs as many beams (--num-beams) or --do-sample."
            )
    args.model = check_model_path(args.model, "--model")
    if args.backend == "pytorch":
        check_device(args.device)


def _run_generate(args: argparse.Namespace) -> int:
    _check_generate_arguments(args)
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, TextStreamer, set_seed

    from .prompts import format_qa_prompt

    if args.seed is not None:
        set_seed(args.seed)
    if args.backend == "onnx":
        return _generate_with_onnx(args)
    image = _open_image_argument(args.image) if args.image is not None else None
    config = AutoConfig.from_pretrained(args.model, trust_remote_code=args.trust_remote_code)
    if config.model_type != "mu":
        raise CommandError(f"{args.model} holds a {config.model_type!r} model; mu generate runs Mu folders.")
    if image is not None and getattr(config, "vision_config", None) is None:
        raise CommandError(f"--image needs a vision checkpoint; {args.model} is text-only.")
    dtype = args.dtype if args.dtype == "auto" else getattr(torch, args.dtype)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, dtype=dtype, trust_remote_code=args.trust_remote_code)
    model.to(args.device).eval()

    if image is not None:
        inputs, tokenizer = _image_question_inputs(args, model, image)
    else:
        tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=args.trust_remote_code)
        text = format_qa_prompt(args.prompt, args.context) if args.context is not None else args.prompt
        inputs = tokenizer(text, return_tensors="pt").to(args.device)
    sampling = {name: getattr(args, name) for name in SAMPLING_FLAGS if getattr(args, name) is not None}
    streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True) if args.stream else None
    output_ids = model.generate(
        **inputs,
        max_new_tokens=args.max_new_tokens,
        do_sample=args.do_sample,
        num_beams=args.num_beams,
        num_return_sequences=args.num_return_sequences,
        repetition_penalty=args.repetition_penalty,
        streamer=streamer,
        **sampling,
    )
    if not args.stream:
        for text in tokenizer.batch_decode(output_ids, skip_special_tokens=True):
            print(text.strip())
    return 0


def _generate_with_onnx(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer, TextStreamer

    from .onnx import MuOnnxGenerator
    from .prompts import format_qa_prompt

    unsupported = {
        "--image": args.image is not None,
        "--num-beams": args.num_beams > 1,
        "--num-return-sequences": args.num_return_sequences > 1,
        "--repetition-penalty": args.repetition_penalty not in (None, 1.0),
        "--device": args.device != "cpu",
        "--dtype": args.dtype != "auto",
        "--trust-remote-code": args.trust_remote_code,
    }
    if any(unsupported.values()):
        flags = ", ".join(flag for flag, used in unsupported.items() if used)
        raise CommandError(f"the onnx backend (CPU, the exported precision) does not support {flags}.")
    generator = MuOnnxGenerator(args.model)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    text = format_qa_prompt(args.prompt, args.context) if args.context is not None else args.prompt
    inputs = tokenizer(text, return_tensors="np")
    streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True) if args.stream else None
    sampling = {name: getattr(args, name) for name in SAMPLING_FLAGS if getattr(args, name) is not None}
    output_ids = generator.generate(
        inputs["input_ids"],
        inputs["attention_mask"],
        streamer=streamer,
        max_new_tokens=args.max_new_tokens,
        do_sample=args.do_sample,
        **sampling,
    )
    if not args.stream:
        print(tokenizer.decode(output_ids[0], skip_special_tokens=True).strip())
    return 0


def _add_export_onnx_parser(subparsers) -> None:
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
    parser.set_defaults(func=_run_export_onnx)


def _run_export_onnx(args: argparse.Namespace) -> int:
    args.model = check_model_path(args.model, "--model")
    check_output_folder(args.output, "--output")
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from .onnx import export_onnx
    from .onnx.export import QUANTIZATIONS

    if args.quantize is not None and args.quantize not in QUANTIZATIONS:
        raise CommandError(f"--quantize {args.quantize}: choose one of {', '.join(QUANTIZATIONS)}.")
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, trust_remote_code=args.trust_remote_code)
    paths = export_onnx(model, args.output, quantize=args.quantize)
    AutoTokenizer.from_pretrained(args.model, trust_remote_code=args.trust_remote_code).save_pretrained(args.output)
    for path in paths.values():
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


def _open_image_argument(source: str):
    """The `--image` file or URL, opened before any model is loaded."""
    from .extras import require_extra

    require_extra("vision", "mu generate --image")
    from .processing_mu import open_image

    if not source.startswith(("http://", "https://", "data:")):
        check_input_file(source, "--image")
    return open_image(source)


def _image_question_inputs(args: argparse.Namespace, model, image):
    """The processor's inputs for the reference VQA prompt about `image`, and the tokenizer to decode with."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(args.model, trust_remote_code=args.trust_remote_code)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": args.prompt}]}]
    text = processor.apply_chat_template(messages, tokenize=False)
    inputs = processor(images=image, text=text, return_tensors="pt").to(args.device, dtype=model.dtype)
    return inputs, processor.tokenizer


def _add_distill_parser(subparsers) -> None:
    # The flags are those of `HfArgumentParser` over the trainer's config; `main` hands them over untouched.
    subparsers.add_parser(
        "distill",
        add_help=False,
        help="distil a decoder-only teacher into a Mu (or T5) student (`mu distill --help`)",
    )


def _add_evaluate_parser(subparsers) -> None:
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
    parser.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
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

    from .evaluation.runner import evaluate_model
    from .evaluation.tasks import get_task

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

        from .model_card import add_evaluation_results

        add_evaluation_results(args.model, Path(args.output) / "metrics.json")
    print(json.dumps(metrics, indent=2))
    return 0


def _add_push_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "push",
        help="check a model folder and publish it to the Hub in one commit",
        description="Check that the folder is publishable (config loads, safetensors weights and no pickles, the "
        "remote-code files named in auto_map, a model card), create the repo if needed and upload the folder as a "
        "single commit. Nothing is sent when a check fails.",
    )
    parser.add_argument("--model", required=True, help="the model folder")
    parser.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", help="branch to commit to (created if needed)")
    parser.add_argument("--commit-message")
    parser.set_defaults(func=_run_push)


def _run_push(args: argparse.Namespace) -> int:
    from .hub import push_folder

    url = push_folder(args.model, args.repo_id, args.private, args.revision, args.commit_message)
    print(f"Pushed {args.model} to {args.repo_id}: {url}")
    return 0


def _add_demo_parser(subparsers) -> None:
    from .demo import DemoSettings

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
    parser.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    check_output_folder(args.output_dir, "--output-dir")
    from .extras import require_extra

    require_extra("train", "mu demo")
    require_extra("eval", "mu demo")
    from .demo.run import DemoSettings, run_demo

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


def _add_benchmark_parser(subparsers) -> None:
    from .benchmark.run import add_benchmark_arguments

    parser = subparsers.add_parser(
        "benchmark",
        help="time generation of Mu against its decoder-only twin, no-cache decoding, T5 and Qwen3",
        description="Generation benchmark at the paper's 330M size (random weights): first-token latency, decode "
        "tokens/s, end-to-end time, peak memory and FLOPs over input lengths, with the machine's GEMM and "
        "weight-streaming roof measured in the same run. Writes JSON, a markdown table and a PNG.",
    )
    add_benchmark_arguments(parser)
    parser.set_defaults(func=_run_benchmark)


def _run_benchmark(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .benchmark.run import run_benchmark, settings_from_arguments

    results = run_benchmark(settings_from_arguments(args))
    print(Path(results["files"][1]).read_text())
    return 0


def _add_convert_parser(subparsers) -> None:
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
    parser.set_defaults(func=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    if not os.path.exists(args.path):
        raise CommandError(f"{args.path}: no such file or folder.")
    args.tokenizer = check_model_path(args.tokenizer, "--tokenizer")
    check_output_folder(args.output, "--output")
    import torch

    from .convert_mu_original_checkpoint import convert

    model = convert(args.source, args.path, args.tokenizer, args.output, getattr(torch, args.dtype), args.push_to_hub)
    print(f"Wrote {args.output}: {model.num_parameters() / 1e6:.2f}M parameters")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mu", description="Mu: small encoder-decoder language models.")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an error instead of its one-line message"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_generate_parser(subparsers)
    _add_distill_parser(subparsers)
    _add_evaluate_parser(subparsers)
    _add_push_parser(subparsers)
    _add_demo_parser(subparsers)
    _add_benchmark_parser(subparsers)
    _add_convert_parser(subparsers)
    _add_export_onnx_parser(subparsers)
    return parser


# What a command reports as `mu <command>: <message>` without a traceback: bad values and files (`ValueError`, and
# `OSError`, which covers transformers' loading errors and the Hub's HTTP errors), a missing extra, damaged weights.
EXPECTED_ERRORS = (CommandError, MissingExtraError, ValueError, OSError, SafetensorError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "distill":
            from .trainers.distill import main as distill

            return distill(rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return args.func(args)
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
