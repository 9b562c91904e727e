# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The generation benchmark behind `mu benchmark`.

Generation benchmark: Mu against its decoder-only twin, itself without a KV cache, and transformers' T5 and Qwen3
at the same size, over input lengths, with the machine's roof measured in the same run.

Every contender runs in its own process (so that peak memory is its own) with random weights and random prompts;
`min_new_tokens` forces the output length. Each case is timed from the `generate()` call to each emitted token,
after a warm-up, with the repetitions taken in turn across contenders; the medians are reported.
"""

import datetime
import multiprocessing
import re
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import transformers
from tqdm.auto import tqdm
from transformers import CompileConfig, PreTrainedModel

from .contenders import CONTENDERS, SIZES
from .flops import TransformerShape, counted_flops, generation_flops
from .report import save_results, summarize_targets, write_markdown, write_plot
from .roofline import gemm_flops_per_second, weight_streaming_bytes_per_second
from .timing import device_name, time_generation

DEFAULT_INPUT_LENGTHS = (128, 512, 1024, 2048, 4096)
DEFAULT_EXTRA_CASES = ("mu:1024:512", "mu-no-cache:1024:512")


@dataclass
class BenchmarkSettings:
    size: str = "330m"
    contenders: list[str] = field(default_factory=lambda: list(CONTENDERS))
    input_lengths: list[int] = field(default_factory=lambda: list(DEFAULT_INPUT_LENGTHS))
    new_tokens: int = 128
    batch_sizes: list[int] = field(default_factory=lambda: [1])
    extra_cases: list[str] = field(default_factory=lambda: list(DEFAULT_EXTRA_CASES))
    repeats: int = 3
    repeat_budget_s: float = 90.0
    device: str = "cpu"
    dtype: str = "float32"
    threads: int | None = None
    compile: bool = False
    seed: int = 0
    output_dir: str = "mu-benchmark"

    def cases(self, contender: str) -> list[tuple[int, int, int]]:
        """`(batch_size, input_length, new_tokens)` of every run of `contender`, shortest first."""
        cases = [(batch, length, self.new_tokens) for batch in self.batch_sizes for length in self.input_lengths]
        for extra in self.extra_cases:
            name, length, new_tokens = parse_extra_case(extra)
            if name == contender:
                cases += [(batch, length, new_tokens) for batch in self.batch_sizes]
        return sorted(set(cases))


def parse_extra_case(text: str) -> tuple[str, int, int]:
    """`"mu:1024:512"` -> `("mu", 1024, 512)`."""
    match = re.fullmatch(r"([\w-]+):(\d+):(\d+)", text)
    if match is None or match[1] not in CONTENDERS:
        raise ValueError(
            f"Extra case {text!r} must read CONTENDER:INPUT_LENGTH:NEW_TOKENS with one of {list(CONTENDERS)}."
        )
    return match[1], int(match[2]), int(match[3])


def _generate_kwargs(contender_kwargs: dict, settings: BenchmarkSettings, model: PreTrainedModel) -> dict:
    kwargs = {"pad_token_id": model.config.pad_token_id or 0, **contender_kwargs}
    if settings.compile and kwargs.get("use_cache", True):
        compile_config = CompileConfig(fullgraph=True)
        compile_config._compile_all_devices = True  # transformers compiles on GPUs only unless told otherwise
        kwargs.update(cache_implementation="static", compile_config=compile_config)
    return kwargs


class _Worker:
    """The contender a worker process holds between the runs the parent asks for."""

    model: PreTrainedModel
    generate_kwargs: dict
    seed: int


def _load_contender(name: str, settings: BenchmarkSettings) -> None:
    """Worker initializer: builds the contender with random weights."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    transformers.logging.set_verbosity_error()
    torch.manual_seed(settings.seed)
    model = CONTENDERS[name].build(settings.size)
    _Worker.model = model.to(device=torch.device(settings.device), dtype=getattr(torch, settings.dtype)).eval()
    _Worker.generate_kwargs = _generate_kwargs(CONTENDERS[name].generate_kwargs, settings, _Worker.model)
    _Worker.seed = settings.seed


def _random_prompt(batch_size: int, length: int) -> torch.Tensor:
    """The same prompt for every contender and repetition of a case."""
    generator = torch.Generator().manual_seed(_Worker.seed * 1_000_003 + batch_size * 65_537 + length)
    prompt = torch.randint(3, _Worker.model.config.vocab_size, (batch_size, length), generator=generator)
    return prompt.to(_Worker.model.device)


def _describe_contender(shortest_input: int, warm_up_tokens: int) -> dict:
    """The contender's size and FLOP check, then one untimed warm-up generation."""
    model = _Worker.model
    shape = TransformerShape.from_config(model.config)
    counted = counted_flops(model, _random_prompt(1, shortest_input))
    analytic = generation_flops(shape, shortest_input, 2)
    with torch.no_grad():
        time_generation(model, _random_prompt(1, shortest_input), warm_up_tokens, **_Worker.generate_kwargs)
    return {
        "model_class": type(model).__name__,
        "parameters": model.num_parameters(),
        "shape": shape,
        "use_cache": _Worker.generate_kwargs.get("use_cache", True),
        "decode_step_weight_bytes": shape.decoder_step_weights * model.dtype.itemsize,
        "flop_check": {
            "input_length": shortest_input,
            "counted_prefill": counted["prefill"],
            "analytic_prefill": analytic["prefill"],
            "counted_decode_step": counted["decode_step"],
            "analytic_decode_step": analytic["decode"],
        },
    }


def _time_case(batch_size: int, input_length: int, new_tokens: int) -> dict[str, float]:
    with torch.no_grad():
        prompt = _random_prompt(batch_size, input_length)
        return time_generation(_Worker.model, prompt, new_tokens, **_Worker.generate_kwargs)


def measure_contenders(settings: BenchmarkSettings) -> list[dict]:
    """Times every case of every contender. Each contender lives in a process of its own (so that its peak memory
    is its own), and the repetitions of a case go round the contenders in turn, so that a machine that slows down
    or speeds up during the run shifts every contender alike and the ratios hold."""
    spawn = multiprocessing.get_context("spawn")
    workers = {
        name: ProcessPoolExecutor(1, spawn, initializer=_load_contender, initargs=(name, settings))
        for name in settings.contenders
    }
    try:
        shortest, warm_up_tokens = min(settings.input_lengths), min(settings.new_tokens, 8)
        entries = {}
        for name, worker in tqdm(workers.items(), desc="building and warming up"):
            description = worker.submit(_describe_contender, shortest, warm_up_tokens).result()
            entries[name] = {"name": name, "description": CONTENDERS[name].description, **description, "rows": []}
        cases = {name: settings.cases(name) for name in workers}
        progress = tqdm(total=sum(len(c) for c in cases.values()) * settings.repeats, desc="generation runs")
        for case in sorted(set().union(*cases.values())):
            names = [name for name in workers if case in cases[name]]
            if settings.compile:  # each prompt length compiles its own decoding graph
                for name in names:
                    workers[name].submit(_time_case, *case).result()
            runs = {name: [] for name in names}
            for _ in range(settings.repeats):
                for name in names:
                    progress.update()
                    if runs[name] and sum(run["end_to_end_s"] for run in runs[name]) >= settings.repeat_budget_s:
                        continue
                    runs[name].append(workers[name].submit(_time_case, *case).result())
            for name in names:
                entries[name]["rows"].append(_summarize_case(entries[name], case, runs[name]))
        progress.close()
    finally:
        for worker in workers.values():
            worker.shutdown()
    for entry in entries.values():
        entry["shape"] = asdict(entry["shape"])
    return list(entries.values())


def _summarize_case(entry: dict, case: tuple[int, int, int], runs: list[dict]) -> dict:
    batch_size, input_length, new_tokens = case
    flops = generation_flops(entry["shape"], input_length, new_tokens, batch_size, entry["use_cache"])
    return {
        "contender": entry["name"],
        "batch_size": batch_size,
        "input_length": input_length,
        "new_tokens": new_tokens,
        **{key: statistics.median(run[key] for run in runs) for key in runs[0]},
        "repeats": len(runs),
        "prefill_flops": flops["prefill"],
        "decode_flops": flops["decode"],
    }


def run_benchmark(settings: BenchmarkSettings) -> dict:
    """Measures the roof and every contender; writes `<device>-<date>.json`, `.md` and `.png` to the output dir."""
    unknown = [name for name in settings.contenders if name not in CONTENDERS]
    if unknown:
        raise ValueError(f"Unknown contender(s) {unknown}; choose among {list(CONTENDERS)}.")
    if settings.size not in SIZES:
        raise ValueError(f"Unknown benchmark size {settings.size!r}; choose one of {SIZES}.")
    for extra in settings.extra_cases:
        parse_extra_case(extra)
    for name in ("input_lengths", "batch_sizes"):
        if not getattr(settings, name) or min(getattr(settings, name)) < 1:
            raise ValueError(f"`{name}` must be positive numbers, got {getattr(settings, name)}.")
    for name in ("new_tokens", "repeats"):
        if getattr(settings, name) < 1:
            raise ValueError(f"`{name}` must be at least 1, got {getattr(settings, name)}.")
    device, dtype = torch.device(settings.device), getattr(torch, settings.dtype)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    threads = torch.get_num_threads()

    roof = {
        "gemm_flops_per_s": gemm_flops_per_second(device, dtype, size=8192 if device.type == "cuda" else 2048),
        "weight_streaming_bytes_per_s": weight_streaming_bytes_per_second(
            device, dtype, megabytes=2048 if device.type == "cuda" else 256
        ),
    }
    contenders = measure_contenders(settings)

    device_label = device_name(device, threads)
    results = {
        "device": device_label,
        "date": datetime.date.today().isoformat(),
        "settings": asdict(settings),
        "threads": threads,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "roof": roof,
        "contenders": contenders,
    }
    results["targets"] = summarize_targets(results)

    stem = Path(settings.output_dir) / f"{device_label}-{results['date']}"
    results["files"] = save_results(results, stem, write_markdown, write_plot)
    return results
