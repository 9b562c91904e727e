# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu generate`: an answer from a saved Mu folder, with PyTorch or its ONNX export; a question about an image."""

import argparse
from pathlib import Path

from ..arguments import (
    DTYPES,
    CommandError,
    check_device,
    check_input_file,
    check_model_path,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)

# The sampling flags, which only apply with --do-sample.
SAMPLING_FLAGS = ("temperature", "top_k", "top_p")


def make_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
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
        choices=("pytorch", "onnx", "ctranslate2"),
        help="onnx: a folder written by `mu export-onnx`, run with ONNX Runtime (greedy or sampling, CPU); "
        "ctranslate2: a folder written by `mu export-ctranslate2` (greedy, sampling or beams; CPU or CUDA)",
    )
    return parser


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


def run(args: argparse.Namespace) -> int:
    _check_generate_arguments(args)
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, TextStreamer, set_seed

    from ..prompts import format_qa_prompt

    if args.seed is not None:
        set_seed(args.seed)
    if args.backend == "onnx":
        return _generate_with_onnx(args)
    if args.backend == "ctranslate2":
        return _generate_with_ctranslate2(args)
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
    # flags left unset keep the folder's generation config (generate() would take an explicit None over it)
    optional = {name: getattr(args, name) for name in (*SAMPLING_FLAGS, "repetition_penalty")}
    streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True) if args.stream else None
    output_ids = model.generate(
        **inputs,
        max_new_tokens=args.max_new_tokens,
        do_sample=args.do_sample,
        num_beams=args.num_beams,
        num_return_sequences=args.num_return_sequences,
        streamer=streamer,
        **{name: value for name, value in optional.items() if value is not None},
    )
    if not args.stream:
        for text in tokenizer.batch_decode(output_ids, skip_special_tokens=True):
            print(text.strip())
    return 0


def _generate_with_onnx(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer, TextStreamer

    from ..onnx import MuOnnxGenerator
    from ..prompts import format_qa_prompt

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


def _generate_with_ctranslate2(args: argparse.Namespace) -> int:
    from ..extras import require_extra

    require_extra("ctranslate2", "mu generate --backend ctranslate2")
    import ctranslate2
    import torch
    from transformers import AutoTokenizer, GenerationConfig, TextStreamer

    from ..prompts import format_qa_prompt

    device, _, index = args.device.partition(":")
    unsupported = {
        "--image": args.image is not None,
        "--device": device not in ("cpu", "cuda") or not (index == "" or index.isdigit()),
        "--dtype": args.dtype != "auto",
        "--trust-remote-code": args.trust_remote_code,
        "--num-return-sequences with --do-sample": args.do_sample and args.num_return_sequences > 1,
    }
    if any(unsupported.values()):
        flags = ", ".join(flag for flag, used in unsupported.items() if used)
        raise CommandError(
            f"the ctranslate2 backend (text, cpu or cuda[:N], the exported precision) does not support {flags}."
        )
    if args.seed is not None:
        ctranslate2.set_random_seed(args.seed)
    translator = ctranslate2.Translator(args.model, device=device, device_index=int(index or 0))
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    text = format_qa_prompt(args.prompt, args.context) if args.context is not None else args.prompt
    source = tokenizer.convert_ids_to_tokens(tokenizer(text).input_ids)
    # the flags, else the folder's generation config (copied by `mu export-ctranslate2`), as `generate()` reads them
    saved = Path(args.model) / "generation_config.json"
    defaults = GenerationConfig.from_pretrained(args.model) if saved.is_file() else GenerationConfig()
    top_k = args.top_k if args.top_k is not None else defaults.top_k
    options = {
        "max_input_length": 0,  # CTranslate2 would cut longer inputs at 1024 tokens
        "max_decoding_length": args.max_new_tokens,
        # CTranslate2 forbids EOS at the first step unless told (min_decoding_length 1): an empty answer would be lost
        "min_decoding_length": defaults.min_new_tokens or 0,
        "repetition_penalty": args.repetition_penalty or defaults.repetition_penalty or 1.0,
        # top-k 0 (or none) samples from the whole vocabulary, in transformers as in CTranslate2
        "sampling_topk": (top_k or 0) if args.do_sample else 1,
        "sampling_topp": args.top_p or defaults.top_p or 1.0,
        "sampling_temperature": args.temperature or defaults.temperature or 1.0,
    }
    if args.stream:
        streamer = TextStreamer(tokenizer, skip_special_tokens=True)
        for step in translator.generate_tokens(source, **options):
            streamer.put(torch.tensor([step.token_id]))
        streamer.end()
        return 0
    beams = 1 if args.do_sample else args.num_beams
    (result,) = translator.translate_batch(
        [source], beam_size=beams, num_hypotheses=args.num_return_sequences, **options
    )
    for tokens in result.hypotheses:
        print(tokenizer.convert_tokens_to_string(tokens).strip())
    return 0


def _open_image_argument(source: str):
    """The `--image` file or URL, opened before any model is loaded."""
    from ..extras import require_extra

    require_extra("vision", "mu generate --image")
    from ..processing_mu import open_image

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
