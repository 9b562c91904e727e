# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""ONNX Runtime (float32, int8) against PyTorch float32 for the 330M Mu on the CPU.

ONNX Runtime against PyTorch on the CPU, in one run: the 330M Mu (seeded random weights) exported to ONNX float32
and int8. Measures first-token latency and decode tokens/s of PyTorch float32 `generate()`, ONNX Runtime float32
and ONNX Runtime int8 (repetitions interleaved, medians, the same thread count everywhere), checks that greedy ONNX
Runtime float32 is token-identical to PyTorch on prompts of many lengths and how often int8 agrees, reports the
sizes on disk, and, given a trained folder (`mu demo`'s), the SQuAD v2 exact match / F1 of the three backends on the
demo's held-out synthetic QA set.
"""

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import transformers
from tqdm.auto import tqdm

from mu.benchmark.contenders import SIZES, mu_config
from mu.benchmark.report import save_results
from mu.benchmark.timing import PeakMemory, TokenClock, device_name, time_generation
from mu.modeling_mu import MuForConditionalGeneration
from mu.onnx import MuOnnxGenerator, export_onnx
from mu.onnx.export import DECODER_FILE, ENCODER_FILE, quantize_int8

BACKENDS = ("pytorch-fp32", "onnxruntime-fp32", "onnxruntime-int8")
TIMINGS = ("first_token_s", "decode_tokens_per_s", "end_to_end_s")


@dataclass
class OnnxBenchmarkSettings:
    size: str = "330m"
    input_lengths: list[int] = field(default_factory=lambda: [128, 512, 1024])
    new_tokens: int = 64
    repeats: int = 3
    threads: int = 2
    parity_prompts: int = 24
    parity_new_tokens: int = 16
    demo_model: str | None = None
    seed: int = 0
    output_dir: str = "benchmarks/results"


def _time_onnx(generator: MuOnnxGenerator, input_ids: torch.Tensor, new_tokens: int) -> dict[str, float]:
    """One timed greedy ONNX Runtime generation of exactly `new_tokens` tokens, clocked like `time_generation`."""
    clock = TokenClock()
    # inside the same memory sampler as `time_generation`, so that its thread weighs on both runtimes alike (all
    # backends share one process here, so its peak is not reported)
    with PeakMemory(torch.device("cpu")):
        start = time.perf_counter()
        generator.generate(input_ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, streamer=clock)
        end = time.perf_counter()
    first_token, last_token = clock.times[1], clock.times[-1]
    return {
        "first_token_s": first_token - start,
        "decode_tokens_per_s": (new_tokens - 1) * input_ids.shape[0] / (last_token - first_token),
        "end_to_end_s": end - start,
    }


def _folder_megabytes(folder: Path) -> float:
    return sum((folder / name).stat().st_size for name in (ENCODER_FILE, DECODER_FILE)) / 2**20


def _parity(model, generators: dict[str, MuOnnxGenerator], settings: OnnxBenchmarkSettings) -> dict:
    """Greedy answers to prompts of lengths spread over 8 .. the longest benchmark length: ONNX Runtime float32
    against PyTorch (identical sequences), int8 against ONNX Runtime float32 (agreeing tokens)."""
    lengths = np.unique(np.geomspace(8, max(settings.input_lengths), settings.parity_prompts).astype(int))
    generator = torch.Generator().manual_seed(settings.seed)
    identical, agreeing, compared = 0, 0, 0
    for length in tqdm(lengths, desc="parity prompts"):
        prompt = torch.randint(3, model.config.vocab_size, (1, int(length)), generator=generator)
        with torch.no_grad():
            reference = model.generate(prompt, max_new_tokens=settings.parity_new_tokens, do_sample=False)
        fp32 = generators["onnxruntime-fp32"].generate(prompt, max_new_tokens=settings.parity_new_tokens)
        int8 = generators["onnxruntime-int8"].generate(prompt, max_new_tokens=settings.parity_new_tokens)
        identical += fp32.tolist() == reference.tolist()
        width = min(fp32.shape[1], int8.shape[1])
        agreeing += int((fp32[:, 1:width] == int8[:, 1:width]).sum())
        compared += width - 1
    return {
        "prompt_lengths": lengths.tolist(),
        "new_tokens": settings.parity_new_tokens,
        "onnxruntime_fp32_identical_to_pytorch": f"{identical}/{len(lengths)}",
        "int8_token_agreement_with_fp32": agreeing / compared,
    }


def _quality(folder: str, settings: OnnxBenchmarkSettings, scratch: Path) -> dict:
    """Exact match / F1 of PyTorch, ONNX Runtime float32 and int8 on the demo's held-out questions."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from mu.demo.run import DemoSettings, score
    from mu.evaluation.generation import generate_answers
    from mu.synthetic_data.qa import make_synthetic_qa, prompt_completion_rows

    demo = DemoSettings()
    rows = make_synthetic_qa(demo.eval_examples, seed=demo.seed + 1)
    model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    export_onnx(model, scratch / "demo-fp32")
    quantize_int8(scratch / "demo-fp32", scratch / "demo-int8")
    prompts = [row["prompt"] for row in prompt_completion_rows(rows)]
    answers = {"pytorch-fp32": generate_answers(model, tokenizer, prompts, batch_size=50, max_new_tokens=8)}
    tokens = {}
    for backend, path in (("onnxruntime-fp32", "demo-fp32"), ("onnxruntime-int8", "demo-int8")):
        generator = MuOnnxGenerator(scratch / path, threads=settings.threads)
        answers[backend], tokens[backend] = [], []
        for start in range(0, len(prompts), 50):
            batch = tokenizer(prompts[start : start + 50], padding=True, return_tensors="np")
            output = generator.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=8)
            tokens[backend] += output.tolist()
            answers[backend] += [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]
    agreement = np.mean([a == b for a, b in zip(tokens["onnxruntime-fp32"], tokens["onnxruntime-int8"])])
    return {
        "model": Path(folder).name,
        "questions": len(rows),
        "scores": {backend: score(predictions, rows) for backend, predictions in answers.items()},
        "answers_identical_int8_vs_fp32": float(agreement),
        "megabytes": {
            "onnxruntime-fp32": _folder_megabytes(scratch / "demo-fp32"),
            "onnxruntime-int8": _folder_megabytes(scratch / "demo-int8"),
        },
    }


def run_onnx_benchmark(settings: OnnxBenchmarkSettings) -> dict:
    if settings.size not in SIZES:
        raise ValueError(f"Unknown benchmark size {settings.size!r}; choose one of {SIZES}.")
    if min(settings.input_lengths, default=0) < 1 or settings.new_tokens < 2 or settings.repeats < 1:
        raise ValueError("Input lengths and repeats must be positive and new tokens at least 2.")
    torch.set_num_threads(settings.threads)
    transformers.logging.set_verbosity_error()
    torch.manual_seed(settings.seed)
    model = MuForConditionalGeneration(mu_config(settings.size)).eval()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        start = time.perf_counter()
        export_onnx(model, scratch / "fp32")
        export_s = time.perf_counter() - start
        start = time.perf_counter()
        quantize_int8(scratch / "fp32", scratch / "int8")
        quantize_s = time.perf_counter() - start
        generators = {
            f"onnxruntime-{precision}": MuOnnxGenerator(scratch / precision, threads=settings.threads)
            for precision in ("fp32", "int8")
        }
        sizes = {backend: _folder_megabytes(scratch / backend.split("-")[1]) for backend in generators}
        parity = _parity(model, generators, settings)
        quality = _quality(settings.demo_model, settings, scratch) if settings.demo_model else None

        timers = {
            "pytorch-fp32": lambda prompt: time_generation(model, prompt, settings.new_tokens),
            **{
                name: (lambda prompt, g=g: _time_onnx(g, prompt, settings.new_tokens))
                for name, g in generators.items()
            },
        }
        rows = []
        progress = tqdm(total=len(settings.input_lengths) * (settings.repeats + 1) * len(BACKENDS), desc="timing")
        for length in settings.input_lengths:
            prompt = torch.randint(
                3, model.config.vocab_size, (1, length), generator=torch.Generator().manual_seed(length)
            )
            runs = {backend: [] for backend in BACKENDS}
            for repeat in range(settings.repeats + 1):  # the first round warms up
                for backend in BACKENDS:
                    with torch.no_grad():
                        run = timers[backend](prompt)
                    if repeat:
                        runs[backend].append(run)
                    progress.update()
            for backend in BACKENDS:
                median = {key: statistics.median(run[key] for run in runs[backend]) for key in TIMINGS}
                rows.append({"backend": backend, "input_length": length, "new_tokens": settings.new_tokens, **median})
        progress.close()

    results = {
        "device": device_name(torch.device("cpu"), settings.threads),
        "date": datetime.date.today().isoformat(),
        # the demo folder by name: results are committed, the machine's paths are not
        "settings": {**asdict(settings), "demo_model": settings.demo_model and Path(settings.demo_model).name},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, **_onnx_versions()},
        "parameters": model.num_parameters(),
        "export_s": export_s,
        "quantize_s": quantize_s,
        "megabytes": {"pytorch-fp32": model.num_parameters() * 4 / 2**20, **sizes},
        "parity": parity,
        "rows": rows,
        "ratios": _ratios(rows),
        "quality": quality,
    }
    stem = Path(settings.output_dir) / f"onnx-{settings.size}-{results['device']}-{results['date']}"
    results["files"] = save_results(results, stem, write_markdown, write_plot)
    return results


def _onnx_versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def _ratios(rows: list[dict]) -> list[dict]:
    """Each ONNX Runtime backend against PyTorch float32 at each input length: decode speed-up and first-token
    latency ratio (targets: int8 decode >= 2x, first token <= 0.8x)."""
    reference = {row["input_length"]: row for row in rows if row["backend"] == "pytorch-fp32"}
    return [
        {
            "backend": row["backend"],
            "input_length": row["input_length"],
            "decode_speedup": row["decode_tokens_per_s"] / reference[row["input_length"]]["decode_tokens_per_s"],
            "first_token_ratio": row["first_token_s"] / reference[row["input_length"]]["first_token_s"],
        }
        for row in rows
        if row["backend"] != "pytorch-fp32"
    ]


def write_markdown(results: dict, path: Path) -> None:
    lines = [
        f"# ONNX Runtime vs PyTorch — Mu {results['settings']['size']} ({results['parameters'] / 1e6:.1f}M), "
        f"{results['device']}, {results['date']}",
        "",
        "| backend | input | first token (ms) | decode (tok/s) | decode vs PyTorch | first token vs PyTorch |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ratios = {(r["backend"], r["input_length"]): r for r in results["ratios"]}
    for row in results["rows"]:
        ratio = ratios.get((row["backend"], row["input_length"]))
        speedup = f"{ratio['decode_speedup']:.2f}x" if ratio else "1.00x"
        first = f"{ratio['first_token_ratio']:.2f}x" if ratio else "1.00x"
        lines.append(
            f"| {row['backend']} | {row['input_length']} | {row['first_token_s'] * 1000:.0f} | "
            f"{row['decode_tokens_per_s']:.1f} | {speedup} | {first} |"
        )
    parity, megabytes = results["parity"], results["megabytes"]
    lengths = f"{min(parity['prompt_lengths'])}–{max(parity['prompt_lengths'])}"
    lines += [
        "",
        f"Greedy ONNX Runtime float32 identical to PyTorch: {parity['onnxruntime_fp32_identical_to_pytorch']} "
        f"prompts ({lengths} tokens, {parity['new_tokens']} new tokens); int8 tokens agreeing with float32: "
        f"{parity['int8_token_agreement_with_fp32']:.1%}.",
        "",
        "Size of the weights: "
        + ", ".join(f"{name} {size:.0f} MiB" for name, size in megabytes.items())
        + f" (int8 / float32 ONNX = {megabytes['onnxruntime-int8'] / megabytes['onnxruntime-fp32']:.2f}).",
    ]
    quality = results["quality"]
    if quality:
        lines += [
            "",
            f"Held-out synthetic QA ({quality['questions']} questions, `{quality['model']}`): "
            + ", ".join(
                f"{name} EM {scores['exact_match']:.1f} / F1 {scores['f1']:.1f}"
                for name, scores in quality["scores"].items()
            )
            + f"; int8 answers identical to float32: {quality['answers_identical_int8_vs_fp32']:.1%}.",
        ]
    path.write_text("\n".join(lines) + "\n")


def write_plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = results["settings"]["input_lengths"]
    figure, (first_axis, decode_axis) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(BACKENDS)
    for index, backend in enumerate(BACKENDS):
        rows = [row for row in results["rows"] if row["backend"] == backend]
        positions = np.arange(len(lengths)) + index * width
        first_axis.bar(positions, [row["first_token_s"] * 1000 for row in rows], width, label=backend)
        decode_axis.bar(positions, [row["decode_tokens_per_s"] for row in rows], width, label=backend)
    for axis, title in ((first_axis, "first token (ms, lower is better)"), (decode_axis, "decode tokens/s")):
        axis.set_xticks(np.arange(len(lengths)) + width, [str(length) for length in lengths])
        axis.set_xlabel("input tokens")
        axis.set_title(title)
    decode_axis.legend()
    figure.suptitle(f"Mu {results['settings']['size']}: ONNX Runtime vs PyTorch, {results['device']}")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    defaults = OnnxBenchmarkSettings()
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default=defaults.size)
    parser.add_argument("--input-lengths", type=int, nargs="+", default=defaults.input_lengths)
    parser.add_argument("--new-tokens", type=int, default=defaults.new_tokens)
    parser.add_argument("--repeats", type=int, default=defaults.repeats)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--parity-prompts", type=int, default=defaults.parity_prompts)
    parser.add_argument("--parity-new-tokens", type=int, default=defaults.parity_new_tokens)
    parser.add_argument("--demo-model", help="a trained Mu folder (`mu demo`'s) for the QA quality of int8")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--output-dir", default=defaults.output_dir)
    results = run_onnx_benchmark(OnnxBenchmarkSettings(**vars(parser.parse_args(argv))))
    print(Path(results["files"][1]).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
