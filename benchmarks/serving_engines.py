# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Serving engines for Mu on the CPU: PyTorch, ONNX Runtime and CTranslate2, with a same-size T5 on CTranslate2 as
the anchor, in one run.

The 330M Mu and T5 (10 + 10 layers, gated GELU) with seeded random weights are converted once: Mu to ONNX and to
CTranslate2, T5 to CTranslate2, each in float32 and int8. Every engine runs in a process of its own, so that its
peak memory (the process's resident high-water mark) is its own; the repetitions of a case go round the engines in
turn, medians are reported, and the ratios between engines are the medians of the ratios within a repetition (a
machine that drifts shifts both sides alike). Cases: batch 1 over input lengths (first token, decode tokens/s) and
a batched case (end-to-end tokens/s, prefill included). The same workers then answer prompts of 8 to 1024 tokens
greedily: float32 engines against PyTorch (identical sequences), int8 against its own float32 (agreeing tokens).
Given a trained folder (`mu demo`'s), every Mu engine's exact match / F1 on the demo's held-out questions.

    python benchmarks/serving_engines.py [--input-lengths 128 1024 4096] [--demo-model mu-demo/distilled-student]
"""

import datetime
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers
from tqdm.auto import tqdm
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    HfArgumentParser,
    PreTrainedTokenizerFast,
    T5ForConditionalGeneration,
)

from mu.benchmark.contenders import SIZES, mu_config, t5_config
from mu.benchmark.flops import TransformerShape
from mu.benchmark.report import save_results
from mu.benchmark.roofline import weight_streaming_bytes_per_second
from mu.benchmark.timing import TokenClock, device_name, time_generation
from mu.modeling_mu import MuForConditionalGeneration

ENGINES = (
    "mu-pytorch-fp32",
    "mu-onnxruntime-fp32",
    "mu-onnxruntime-int8",
    "mu-ctranslate2-fp32",
    "mu-ctranslate2-int8",
    "t5-ctranslate2-fp32",
    "t5-ctranslate2-int8",
)
ANCHOR = "t5-ctranslate2-int8"
# (engine, baseline, measure, case, bound): the targets, as ratios within a repetition
TARGETS = (
    ("mu-ctranslate2-int8", ANCHOR, "decode_tokens_per_s", "batch 1, 1024 in", 1.4),
    ("mu-ctranslate2-int8", "mu-onnxruntime-int8", "decode_tokens_per_s", "batch 1, 1024 in", 1.3),
    ("mu-ctranslate2-int8", ANCHOR, "first_token_s", "batch 1, 1024 in", 1.6),
    ("mu-ctranslate2-int8", ANCHOR, "tokens_per_s", "batched", 1.2),
)
LOWER_IS_BETTER = {"first_token_s", "end_to_end_s"}


@dataclass
class ServingBenchmarkSettings:
    size: str = field(default="330m", metadata={"choices": list(SIZES)})
    input_lengths: list[int] = field(default_factory=lambda: [128, 512, 1024, 2048, 4096])
    new_tokens: int = 128
    batch_size: int = field(default=16, metadata={"help": "prompts of the batched case"})
    batch_input_length: int = 256
    batch_new_tokens: int = 64
    engines: list[str] = field(default_factory=lambda: list(ENGINES), metadata={"choices": list(ENGINES)})
    repeats: int = 3
    threads: int = 2
    parity_prompts: int = field(default=12, metadata={"help": "greedy prompts of 8 to 1024 tokens"})
    parity_new_tokens: int = 16
    demo_model: str | None = field(default=None, metadata={"help": "a trained Mu folder (`mu demo`'s)"})
    seed: int = 0
    output_dir: str = "benchmarks/results"

    def validate(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"Unknown benchmark size {self.size!r}; choose one of {list(SIZES)}.")
        unknown = sorted(set(self.engines) - set(ENGINES))
        if unknown:
            raise ValueError(f"Unknown engine(s) {unknown}; choose among {list(ENGINES)}.")
        if not self.input_lengths or min(self.input_lengths) < 1:
            raise ValueError(f"`input_lengths` must be positive numbers, got {self.input_lengths}.")
        for name in ("new_tokens", "batch_new_tokens"):
            if getattr(self, name) < 2:
                raise ValueError(f"`{name}` must be at least 2 (a first token and a decoded one).")
        for name in ("batch_size", "batch_input_length", "repeats", "threads", "parity_prompts", "parity_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}.")


def numbered_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose token `i` reads `t{i}`: every id has a token string, as CTranslate2 needs."""
    tokenizer = Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab_size)}, unk_token="t0"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="t0", pad_token="t0", bos_token="t1", eos_token="t2"
    )


def build_engine_folders(settings: ServingBenchmarkSettings, scratch: Path) -> dict[str, Path]:
    """Writes the random-weight Mu (and T5, if an engine runs it) and the conversions the engines read; returns each
    engine's folder."""
    from mu.engines.ctranslate2 import COPIED_FILES, export_ctranslate2
    from mu.onnx import export_onnx
    from mu.onnx.export import quantize_int8

    torch.manual_seed(settings.seed)
    mu = MuForConditionalGeneration(mu_config(settings.size)).eval()
    mu.save_pretrained(scratch / "mu")
    numbered_tokenizer(mu.config.vocab_size).save_pretrained(scratch / "mu")
    folders = {name: scratch / name for name in settings.engines} | {"mu-pytorch-fp32": scratch / "mu"}
    if {"mu-onnxruntime-fp32", "mu-onnxruntime-int8"} & set(settings.engines):
        export_onnx(mu, folders["mu-onnxruntime-fp32"])
    if "mu-onnxruntime-int8" in settings.engines:
        quantize_int8(folders["mu-onnxruntime-fp32"], folders["mu-onnxruntime-int8"])
    if any(name.startswith("t5-") for name in settings.engines):
        from ctranslate2.converters import TransformersConverter

        t5 = T5ForConditionalGeneration(t5_config(settings.size)).eval()
        t5.save_pretrained(scratch / "t5")
        numbered_tokenizer(t5.config.vocab_size).save_pretrained(scratch / "t5")
    for name in settings.engines:
        model, runtime, precision = name.split("-")
        if runtime != "ctranslate2":
            continue
        quantization = {"fp32": "float32", "int8": "int8"}[precision]
        if model == "mu":
            export_ctranslate2(scratch / "mu", folders[name], quantization)
        else:
            copied = [file for file in COPIED_FILES if (scratch / "t5" / file).is_file()]
            TransformersConverter(str(scratch / "t5"), copy_files=copied).convert(
                str(folders[name]), quantization=quantization
            )
    return {name: folders[name] for name in settings.engines}


def _answer_ids(output: np.ndarray | torch.Tensor, eos_token_id: int) -> list[list[int]]:
    """Generated ids after the decoder start token, up to the first end-of-sequence token."""
    answers = []
    for row in np.asarray(output)[:, 1:].tolist():
        answers.append(row[: row.index(eos_token_id)] if eos_token_id in row else row)
    return answers


def _padded(prompts: list[list[int]], pad_token_id: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(prompt) for prompt in prompts)
    ids = np.full((len(prompts), width), pad_token_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, : len(prompt)], mask[row, : len(prompt)] = prompt, 1
    return ids, mask


class PyTorchEngine:
    """`generate()` of the folder's model."""

    def __init__(self, folder: Path, threads: int):
        torch.set_num_threads(threads)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
        self.eos_token_id, self.pad_token_id = self.model.config.eos_token_id, self.model.config.pad_token_id

    def timed(self, prompts: np.ndarray, new_tokens: int) -> dict[str, float]:
        with torch.no_grad():
            return time_generation(self.model, torch.from_numpy(prompts), new_tokens)

    def greedy(self, prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
        ids, mask = (torch.from_numpy(array) for array in _padded(prompts, self.pad_token_id))
        with torch.no_grad():
            output = self.model.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=new_tokens)
        return _answer_ids(output, self.eos_token_id)


class OnnxRuntimeEngine:
    """[`MuOnnxGenerator`] over the folder's ONNX export."""

    def __init__(self, folder: Path, threads: int):
        from mu.onnx import MuOnnxGenerator

        self.generator = MuOnnxGenerator(folder, threads=threads)
        config = transformers.AutoConfig.from_pretrained(folder)
        self.eos_token_id, self.pad_token_id = config.eos_token_id, config.pad_token_id

    def timed(self, prompts: np.ndarray, new_tokens: int) -> dict[str, float]:
        clock = TokenClock()
        start = time.perf_counter()
        self.generator.generate(prompts, max_new_tokens=new_tokens, min_new_tokens=new_tokens, streamer=clock)
        end = time.perf_counter()
        first_token, last_token = clock.times[1], clock.times[-1]
        return {
            "first_token_s": first_token - start,
            "decode_tokens_per_s": (new_tokens - 1) * len(prompts) / (last_token - first_token),
            "end_to_end_s": end - start,
        }

    def greedy(self, prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
        ids, mask = _padded(prompts, self.pad_token_id)
        return _answer_ids(self.generator.generate(ids, mask, max_new_tokens=new_tokens), self.eos_token_id)


class CTranslate2Engine:
    """A `ctranslate2.Translator` over the folder, fed the tokens of the folder's tokenizer; one prompt streams
    through `generate_tokens` (clocked token by token), a batch goes through `translate_batch`."""

    def __init__(self, folder: Path, threads: int):
        import ctranslate2

        self.translator = ctranslate2.Translator(str(folder), device="cpu", intra_threads=threads)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)

    def _sources(self, prompts) -> list[list[str]]:
        return [self.tokenizer.convert_ids_to_tokens(list(map(int, prompt))) for prompt in prompts]

    def timed(self, prompts: np.ndarray, new_tokens: int) -> dict[str, float]:
        sources = self._sources(prompts)
        options = {"max_decoding_length": new_tokens, "min_decoding_length": new_tokens, "max_input_length": 0}
        times, start = [], time.perf_counter()
        if len(sources) == 1:
            times = [time.perf_counter() for _ in self.translator.generate_tokens(sources[0], **options)]
            generated = [len(times)]
        else:
            results = self.translator.translate_batch(sources, beam_size=1, **options)
            generated = [len(result.hypotheses[0]) for result in results]
        end = time.perf_counter()
        if set(generated) != {new_tokens}:
            raise RuntimeError(f"CTranslate2 produced {generated} tokens instead of the {new_tokens} asked for.")
        if not times:  # a batch: no clock per token
            return {"first_token_s": float("nan"), "decode_tokens_per_s": float("nan"), "end_to_end_s": end - start}
        return {
            "first_token_s": times[0] - start,
            "decode_tokens_per_s": (new_tokens - 1) / (times[-1] - times[0]),
            "end_to_end_s": end - start,
        }

    def greedy(self, prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
        results = self.translator.translate_batch(
            self._sources(prompts),
            beam_size=1,
            max_decoding_length=new_tokens,
            min_decoding_length=0,
            max_input_length=0,
        )
        return [self.tokenizer.convert_tokens_to_ids(result.hypotheses[0]) for result in results]


RUNTIMES = {"pytorch": PyTorchEngine, "onnxruntime": OnnxRuntimeEngine, "ctranslate2": CTranslate2Engine}


def open_engine(name: str, folder: Path, threads: int):
    return RUNTIMES[name.split("-")[1]](folder, threads)


class _Worker:
    """The engine a worker process holds between the calls the parent makes."""

    engine: object


def _load_worker(name: str, folder: Path, threads: int) -> None:
    transformers.logging.set_verbosity_error()
    _Worker.engine = open_engine(name, folder, threads)


def _peak_resident_mb() -> float:
    """The process's resident high-water mark since it started its program: `VmHWM` on Linux (`ru_maxrss` would
    carry the parent's over the spawn's exec), `ru_maxrss` elsewhere."""
    status = Path("/proc/self/status")
    if status.exists():
        (line,) = [line for line in status.read_text().splitlines() if line.startswith("VmHWM:")]
        return int(line.split()[1]) / 1024  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _time_case(prompts: np.ndarray, new_tokens: int) -> dict[str, float]:
    return {**_Worker.engine.timed(prompts, new_tokens), "peak_memory_mb": _peak_resident_mb()}


def _greedy(prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
    return _Worker.engine.greedy(prompts, new_tokens)


def _cases(settings: ServingBenchmarkSettings) -> list[tuple[str, int, int, int]]:
    """`(label, batch, input length, new tokens)`, smallest first: the resident high-water mark grows with them."""
    cases = [(f"batch 1, {length} in", 1, length, settings.new_tokens) for length in sorted(settings.input_lengths)]
    batched = ("batched", settings.batch_size, settings.batch_input_length, settings.batch_new_tokens)
    return sorted([*cases, batched], key=lambda case: case[1] * case[2])


def _prompts(seed: int, batch: int, length: int, vocab_size: int) -> np.ndarray:
    generator = np.random.default_rng([seed, batch, length])
    return generator.integers(3, vocab_size, (batch, length), dtype=np.int64)


def measure_engines(settings: ServingBenchmarkSettings, folders: dict[str, Path]) -> dict:
    spawn = multiprocessing.get_context("spawn")
    workers = {
        name: ProcessPoolExecutor(1, spawn, initializer=_load_worker, initargs=(name, folder, settings.threads))
        for name, folder in folders.items()
    }
    vocab_size = min(mu_config(settings.size).vocab_size, t5_config(settings.size).vocab_size)
    try:
        warm_up = _prompts(settings.seed, 1, 16, vocab_size)
        for worker in tqdm(workers.values(), desc="loading engines"):
            worker.submit(_time_case, warm_up, 4).result()
        rows, runs_by_case = [], {}
        cases = _cases(settings)
        progress = tqdm(total=len(cases) * settings.repeats * len(workers), desc="generation runs")
        for case in cases:
            label, batch, length, new_tokens = case
            prompts = _prompts(settings.seed, batch, length, vocab_size)
            runs = {name: [] for name in workers}
            for _ in range(settings.repeats):
                for name, worker in workers.items():
                    runs[name].append(worker.submit(_time_case, prompts, new_tokens).result())
                    progress.update()
            runs_by_case[label] = runs
            for name, engine_runs in runs.items():
                tokens_per_s = [_measure(run, "tokens_per_s", case) for run in engine_runs]
                rows.append(
                    {
                        "engine": name,
                        "case": label,
                        "batch_size": batch,
                        "input_length": length,
                        "new_tokens": new_tokens,
                        **{key: statistics.median(run[key] for run in engine_runs) for key in engine_runs[0]},
                        "tokens_per_s": statistics.median(tokens_per_s),
                        "repeats": len(engine_runs),
                        "runs": engine_runs,
                    }
                )
        progress.close()
        parity = _parity(settings, workers, vocab_size)
    finally:
        for worker in workers.values():
            worker.shutdown()
    return {"rows": rows, "ratios": _ratios(runs_by_case, settings), "parity": parity}


def _measure(run: dict, measure: str, case: tuple[str, int, int, int]) -> float:
    """`measure` of one run; `tokens_per_s` counts every prompt's new tokens over the whole call."""
    _, batch, _, new_tokens = case
    return batch * new_tokens / run["end_to_end_s"] if measure == "tokens_per_s" else run[measure]


def _ratios(runs_by_case: dict[str, dict[str, list[dict]]], settings: ServingBenchmarkSettings) -> list[dict]:
    """Each target's ratio: the median over repetitions of engine / baseline within the repetition, and the ratio of
    the two medians."""
    cases = {case[0]: case for case in _cases(settings)}
    ratios = []
    for engine, baseline, measure, label, bound in TARGETS:
        runs = runs_by_case.get(label, {})
        if engine not in runs or baseline not in runs:
            continue
        values = {name: [_measure(run, measure, cases[label]) for run in runs[name]] for name in (engine, baseline)}
        ratio = statistics.median(a / b for a, b in zip(values[engine], values[baseline]))
        of_medians = statistics.median(values[engine]) / statistics.median(values[baseline])
        lower_is_better = measure in LOWER_IS_BETTER
        ratios.append(
            {
                "engine": engine,
                "baseline": baseline,
                "measure": measure,
                "case": label,
                "ratio": ratio,
                "ratio_of_medians": of_medians,
                "target": f"{'<=' if lower_is_better else '>='} {bound}",
                # met only if both readings meet it
                "met": all(r <= bound if lower_is_better else r >= bound for r in (ratio, of_medians)),
            }
        )
    return ratios


def _parity(settings: ServingBenchmarkSettings, workers: dict, vocab_size: int) -> dict:
    """Greedy answers of every engine to prompts of 8 to 1024 tokens: float32 against Mu in PyTorch (identical
    answers), int8 against its own float32 (agreeing tokens, position by position)."""
    lengths = np.unique(np.geomspace(8, 1024, settings.parity_prompts).astype(int)).tolist()
    prompts = [_prompts(settings.seed + 1, 1, length, vocab_size)[0].tolist() for length in lengths]
    answers = {}
    for name, worker in tqdm(workers.items(), desc="parity"):
        answers[name] = [
            worker.submit(_greedy, [prompt], settings.parity_new_tokens).result()[0] for prompt in prompts
        ]
    parity = {"prompt_lengths": lengths, "new_tokens": settings.parity_new_tokens}
    reference = answers.get("mu-pytorch-fp32")
    for name in answers:
        model, runtime, precision = name.split("-")
        if precision == "fp32" and model == "mu" and runtime != "pytorch" and reference:
            identical = sum(a == b for a, b in zip(answers[name], reference))
            parity[f"{name} identical to mu-pytorch-fp32"] = f"{identical}/{len(prompts)}"
        float_name = name.replace("int8", "fp32")
        if precision == "int8" and float_name in answers:
            pairs = [(a, b) for int8, fp32 in zip(answers[name], answers[float_name]) for a, b in zip(int8, fp32)]
            parity[f"{name} tokens agreeing with {float_name}"] = sum(a == b for a, b in pairs) / max(len(pairs), 1)
    return parity


def _quality(folder: str, settings: ServingBenchmarkSettings, scratch: Path) -> dict:
    """Exact match / F1 of every Mu engine on the demo's held-out questions, converted from the trained folder."""
    from mu.demo import DemoSettings
    from mu.demo.run import score
    from mu.engines.ctranslate2 import export_ctranslate2
    from mu.onnx import export_onnx
    from mu.onnx.export import quantize_int8
    from mu.synthetic_data.qa import make_synthetic_qa, prompt_completion_rows

    demo = DemoSettings()
    rows = make_synthetic_qa(demo.eval_examples, seed=demo.seed + 1)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    folders = {"mu-pytorch-fp32": Path(folder)}
    export_onnx(model, scratch / "demo-onnxruntime-fp32")
    quantize_int8(scratch / "demo-onnxruntime-fp32", scratch / "demo-onnxruntime-int8")
    export_ctranslate2(folder, scratch / "demo-ctranslate2-fp32", "float32")
    export_ctranslate2(folder, scratch / "demo-ctranslate2-int8", "int8")
    for name in ENGINES:
        if name.startswith("mu-") and name not in folders:
            folders[name] = scratch / name.replace("mu-", "demo-")
    prompts = [tokenizer(row["prompt"]).input_ids for row in prompt_completion_rows(rows)]
    scores, answers = {}, {}
    for name, engine_folder in folders.items():
        engine = open_engine(name, engine_folder, settings.threads)
        answers[name] = [
            ids for start in range(0, len(prompts), 50) for ids in engine.greedy(prompts[start : start + 50], 8)
        ]
        predictions = [text.strip() for text in tokenizer.batch_decode(answers[name], skip_special_tokens=True)]
        scores[name] = score(predictions, rows)
    return {
        "model": Path(folder).name,
        "questions": len(rows),
        "scores": scores,
        "answers_identical_to_pytorch": {
            name: float(np.mean([a == b for a, b in zip(answers[name], answers["mu-pytorch-fp32"])]))
            for name in answers
            if name != "mu-pytorch-fp32"
        },
    }


def _megabytes(folder: Path) -> float:
    return (
        sum(path.stat().st_size for path in folder.iterdir() if path.suffix in (".onnx", ".bin", ".safetensors"))
        / 2**20
    )


def run_serving_benchmark(settings: ServingBenchmarkSettings) -> dict:
    settings.validate()
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(settings.threads)
    streaming = weight_streaming_bytes_per_second(torch.device("cpu"), torch.float32)
    step_weights = {
        model: TransformerShape.from_config(config(settings.size)).decoder_step_weights
        for model, config in (("mu", mu_config), ("t5", t5_config))
    }
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        start = time.perf_counter()
        folders = build_engine_folders(settings, scratch)
        build_s = time.perf_counter() - start
        megabytes = {name: _megabytes(folder) for name, folder in folders.items()}
        measured = measure_engines(settings, folders)
        quality = _quality(settings.demo_model, settings, scratch) if settings.demo_model else None

    import ctranslate2
    import onnxruntime

    results = {
        "device": device_name(torch.device("cpu"), settings.threads),
        "date": datetime.date.today().isoformat(),
        # the demo folder by name: results are committed, the machine's paths are not
        "settings": {**asdict(settings), "demo_model": settings.demo_model and Path(settings.demo_model).name},
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__,
            "ctranslate2": ctranslate2.__version__,
        },
        "build_s": build_s,
        # what a decoding step would take if it only streamed its weights (one byte each in int8, four in float32)
        "weight_streaming_bytes_per_s": streaming,
        "decode_step_weights": step_weights,
        "int8_streaming_bound_tokens_per_s": {model: streaming / weights for model, weights in step_weights.items()},
        "megabytes": megabytes,
        **measured,
        "quality": quality,
    }
    stem = Path(settings.output_dir) / f"serving-{settings.size}-{results['device']}-{results['date']}"
    results["files"] = save_results(results, stem, write_markdown, write_plot)
    return results


def write_markdown(results: dict, path: Path) -> None:
    settings = results["settings"]
    lines = [
        f"# Serving engines — Mu and T5 {settings['size']}, {results['device']}, {results['date']}",
        "",
        f"{settings['threads']} threads, random weights, greedy, median of {settings['repeats']} (peak memory: the "
        "engine process's resident high-water mark).",
        "",
        "| engine | case | first token (ms) | decode (tok/s) | end-to-end (s) | tokens/s | peak memory (MB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        first = "–" if np.isnan(row["first_token_s"]) else f"{row['first_token_s'] * 1000:.0f}"
        decode = "–" if np.isnan(row["decode_tokens_per_s"]) else f"{row['decode_tokens_per_s']:.1f}"
        lines.append(
            f"| {row['engine']} | {row['case']} | {first} | {decode} | {row['end_to_end_s']:.2f} | "
            f"{row['tokens_per_s']:.1f} | {row['peak_memory_mb']:.0f} |"
        )
    lines += [
        "",
        "| engine | against | measure | case | ratio (median of paired runs) | ratio of medians | target | met |",
        "|---|---|---|---|---:|---:|---|---|",
    ]
    for ratio in results["ratios"]:
        lines.append(
            f"| {ratio['engine']} | {ratio['baseline']} | {ratio['measure']} | {ratio['case']} | "
            f"{ratio['ratio']:.2f} | {ratio['ratio_of_medians']:.2f} | {ratio['target']} | "
            f"{'yes' if ratio['met'] else 'no'} |"
        )
    parity = {key: value for key, value in results["parity"].items() if key not in ("prompt_lengths", "new_tokens")}
    streaming = results["weight_streaming_bytes_per_s"]
    lines += [
        "",
        f"Greedy answers ({len(results['parity']['prompt_lengths'])} prompts of 8 to 1024 tokens, "
        f"{results['parity']['new_tokens']} new tokens): "
        + "; ".join(
            f"{key}: {value:.1%}" if isinstance(value, float) else f"{key}: {value}" for key, value in parity.items()
        )
        + ".",
        "",
        "Weights on disk: " + ", ".join(f"{name} {size:.0f} MiB" for name, size in results["megabytes"].items()) + ".",
        "",
        f"Weight streaming (a float32 matrix-vector product, same run): {streaming / 1e9:.1f} GB/s; "
        "a decoding step that only streamed its int8 weights would give "
        + ", ".join(
            f"{model} {bound:.0f} tok/s ({results['decode_step_weights'][model] / 1e6:.0f}M weights)"
            for model, bound in results["int8_streaming_bound_tokens_per_s"].items()
        )
        + ".",
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
            + "; answers identical to PyTorch: "
            + ", ".join(f"{name} {share:.1%}" for name, share in quality["answers_identical_to_pytorch"].items())
            + ".",
        ]
    path.write_text("\n".join(lines) + "\n")


def write_plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = results["settings"]["engines"]
    single = [row for row in results["rows"] if row["batch_size"] == 1]
    batched = [row for row in results["rows"] if row["case"] == "batched"]
    figure, (first_axis, decode_axis, batch_axis) = plt.subplots(1, 3, figsize=(16, 4.5))
    for engine in engines:
        rows = sorted((row for row in single if row["engine"] == engine), key=lambda row: row["input_length"])
        style = "--" if engine.startswith("t5") else "-"
        lengths = [row["input_length"] for row in rows]
        first_axis.plot(lengths, [row["first_token_s"] for row in rows], style, marker="o", label=engine)
        decode_axis.plot(lengths, [row["decode_tokens_per_s"] for row in rows], style, marker="o", label=engine)
    for axis, title in ((first_axis, "first token (s, lower is better)"), (decode_axis, "decode tokens/s, batch 1")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("input tokens")
        axis.set_title(title)
    first_axis.set_yscale("log")
    decode_axis.legend(fontsize=8)
    bars = batch_axis.barh([row["engine"] for row in batched], [row["tokens_per_s"] for row in batched])
    batch_axis.bar_label(bars, fmt="%.0f", fontsize=8)
    settings = results["settings"]
    batch_axis.set_title(
        f"batch {settings['batch_size']}: {settings['batch_input_length']} in, {settings['batch_new_tokens']} out "
        "(tokens/s, end to end)"
    )
    batch_axis.invert_yaxis()
    figure.suptitle(f"Serving engines, {results['device']}")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = HfArgumentParser(ServingBenchmarkSettings, description=__doc__.strip().splitlines()[0])
    (settings,) = parser.parse_args_into_dataclasses(argv if argv is not None else sys.argv[1:])
    results = run_serving_benchmark(settings)
    print(Path(results["files"][1]).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
