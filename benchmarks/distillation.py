# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Training speed of MuDistillationTrainer against the reference recipe's loop, re-created.

Distillation benchmark: training steps per second of [`MuDistillationTrainer`] against the reference recipe's
on-policy distillation loop (microsoft/encoder-decoder-slm), re-created with the same Hugging Face models.

Both methods train the same small Mu student against the same small Qwen3 teacher (random weights), with the same
tokenizer, synthetic QA prompts, batch size, completion length, sampling (temperature, top-k), loss mix and AdamW
optimizer, in float32 on the CPU.

- ours: `MuDistillationTrainer.train()`. The student samples the whole batch in one `generate()` call with a KV
  cache; the encoder runs once per prompt for both decoder passes; tensors are padded to the batch's longest.
- reference: the data loader's dataset samples each completion on its own (batch 1, no KV cache: every decoding
  step re-runs the decoder over the whole prefix) and pads prompts, samples and ground truths to fixed lengths; a
  step runs the student on the sample, the teacher, a KL over every position, the student again on the ground truth
  for the cross-entropy, then the backward pass and the optimizer.

Each repetition trains a fresh student with each method in turn (so that a machine that slows down shifts both
alike) and times the steps after a few warm-up steps; the medians over repetitions are reported, with the time spent
sampling completions and the number of decoding steps (`generate()` iterations) behind it.
"""

import datetime
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
import trl
from datasets import Dataset
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from transformers import (
    HfArgumentParser,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    Qwen3Config,
    Qwen3ForCausalLM,
    TrainerCallback,
    get_scheduler,
)

from mu.benchmark.report import save_results
from mu.benchmark.timing import device_name
from mu.configuration_mu import MuConfig
from mu.modeling_mu import MuForConditionalGeneration
from mu.synthetic_data.qa import make_synthetic_qa, prompt_completion_rows
from mu.synthetic_data.tokenizer import train_tokenizer
from mu.trainers import MuDistillationConfig, MuDistillationTrainer
from mu.trainers.distillation_config import CHECKPOINTING_OFF

TARGET_RATIO = 10.0
METHODS = {
    "ours": "MuDistillationTrainer: one batched generate() with a KV cache, dynamic padding, one encoder pass",
    "reference": "reference loop: per-sample generate() without cache in the dataset, fixed-length padding",
}

# Widths of the student (a Mu) and the teacher (a Qwen3) at each benchmark size. "tiny" is a toy; "small" keeps
# Mu-330M's proportions (narrow attention, 4x MLP, twice as many encoder as decoder layers) at a quarter of its width.
STUDENT_SIZES = {
    "tiny": dict(hidden_size=64, attention_hidden_size=64, intermediate_size=192, encoder_layers=2, decoder_layers=1,
                 num_attention_heads=4, num_key_value_heads=2),
    "small": dict(hidden_size=256, attention_hidden_size=96, intermediate_size=1024, encoder_layers=4,
                  decoder_layers=2, num_attention_heads=6, num_key_value_heads=3),
}  # fmt: skip
TEACHER_SIZES = {
    "tiny": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16),
    "small": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=6, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=64),
}  # fmt: skip


@dataclass
class DistillationBenchmarkSettings:
    size: str = field(default="tiny", metadata={"help": "student and teacher", "choices": list(STUDENT_SIZES)})
    steps: int = field(default=10, metadata={"help": "timed training steps per run"})
    warmup_steps: int = field(default=2, metadata={"help": "untimed steps first"})
    repeats: int = field(default=5, metadata={"help": "runs per method (median)"})
    batch_size: int = 8
    max_completion_length: int = 64
    encoder_length: int | None = field(
        default=None, metadata={"help": "the reference's fixed prompt length (None: the longest prompt of the data)"}
    )
    temperature: float = 0.9
    top_k: int = 128
    alpha: float = field(default=0.9, metadata={"help": "weight of the distillation term"})
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    vocab_size: int = field(default=512, metadata={"help": "of the trained tokenizer"})
    num_examples: int = field(default=256, metadata={"help": "synthetic QA rows"})
    threads: int = field(
        default=1,
        metadata={"help": "CPU threads (tiny models gain little from more; a spare core keeps the timings steady)"},
    )
    seed: int = 0
    output_dir: str = "benchmarks/results"

    def validate(self) -> None:
        if self.size not in STUDENT_SIZES:
            raise ValueError(f"Unknown benchmark size {self.size!r}; choose one of {list(STUDENT_SIZES)}.")
        for name in (
            "steps", "warmup_steps", "repeats", "batch_size", "max_completion_length", "num_examples", "threads"
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}.")
        if self.num_examples < self.batch_size:
            raise ValueError(
                f"`num_examples` ({self.num_examples}) must be at least `batch_size` ({self.batch_size})."
            )
        if self.encoder_length is not None and self.encoder_length < 1:
            raise ValueError(f"`encoder_length` must be at least 1, got {self.encoder_length}.")
        if self.temperature <= 0:
            raise ValueError(f"`temperature` must be positive, got {self.temperature}.")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"`alpha` must be in [0, 1], got {self.alpha}.")


def student_config(size: str, tokenizer: PreTrainedTokenizerBase) -> MuConfig:
    """The Mu student at `size`, without dropout, with the tokenizer's vocabulary and special tokens."""
    return MuConfig(
        **STUDENT_SIZES[size],
        vocab_size=len(tokenizer),
        max_position_embeddings=1024,
        dropout=0.0,
        attention_dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id,
    )


def teacher_config(size: str, tokenizer: PreTrainedTokenizerBase) -> Qwen3Config:
    """The Qwen3 teacher at `size`, with the student's vocabulary and special tokens."""
    return Qwen3Config(
        **TEACHER_SIZES[size],
        vocab_size=len(tokenizer),
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


class StepClock(TrainerCallback):
    """Notes the time at the end of every optimizer step and the sampling time spent so far."""

    def __init__(self):
        self.step_ends: list[float] = []
        self.generation_totals: list[float] = []
        self.generation_s = 0.0

    def tick(self) -> None:
        self.step_ends.append(time.perf_counter())
        self.generation_totals.append(self.generation_s)

    def on_step_end(self, args, state, control, **kwargs):
        self.tick()


class _TimedDistillationTrainer(MuDistillationTrainer):
    """[`MuDistillationTrainer`] that adds the time of each batched `generate()` call to its clock."""

    def __init__(self, *args, clock: StepClock, **kwargs):
        self.clock = clock
        super().__init__(*args, callbacks=[clock], **kwargs)

    def _generate_single_turn(self, *args, **kwargs):
        start = time.perf_counter()
        completions = super()._generate_single_turn(*args, **kwargs)
        self.clock.generation_s += time.perf_counter() - start
        return completions


def _timed_steps(clock: StepClock, warmup_steps: int, completion_lengths: list[float], decoding_steps: float) -> dict:
    """Steps per second, seconds per step (sampling, the rest) after the warm-up steps, the mean length of the
    completions sampled in those steps and the number of `generate()` decoding steps each training step ran."""
    steps = len(clock.step_ends) - warmup_steps
    elapsed = clock.step_ends[-1] - clock.step_ends[warmup_steps - 1]
    generation = clock.generation_totals[-1] - clock.generation_totals[warmup_steps - 1]
    return {
        "steps_per_s": steps / elapsed,
        "seconds_per_step": elapsed / steps,
        "generation_s_per_step": generation / steps,
        "training_s_per_step": (elapsed - generation) / steps,
        "mean_completion_length": statistics.fmean(completion_lengths),
        "decoding_steps_per_step": decoding_steps,
        "ms_per_decoding_step": generation / steps / decoding_steps * 1e3,
    }


def run_ours(
    settings: DistillationBenchmarkSettings,
    student: PreTrainedModel,
    teacher: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict[str, str]],
) -> dict[str, float]:
    """Trains `student` with [`MuDistillationTrainer`] for the warm-up and timed steps."""
    clock = StepClock()
    with tempfile.TemporaryDirectory() as output_dir:
        args = MuDistillationConfig(
            output_dir=output_dir,
            max_steps=settings.warmup_steps + settings.steps,
            per_device_train_batch_size=settings.batch_size,
            max_completion_length=settings.max_completion_length,
            temperature=settings.temperature,
            top_k=settings.top_k,
            alpha=settings.alpha,
            learning_rate=settings.learning_rate,
            weight_decay=settings.weight_decay,
            max_grad_norm=settings.max_grad_norm,
            lr_scheduler_type="linear",
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            use_cpu=True,
            bf16=False,
            **CHECKPOINTING_OFF,
            dataloader_num_workers=0,
            seed=settings.seed,
        )
        trainer = _TimedDistillationTrainer(
            student,
            teacher,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            teacher_processing_class=tokenizer,
            clock=clock,
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    # One batched generate() per step, decoding until its longest completion ends.
    logs = [entry for entry in trainer.state.log_history if entry["step"] > settings.warmup_steps and "loss" in entry]
    return _timed_steps(
        clock,
        settings.warmup_steps,
        [entry["completions/mean_length"] for entry in logs],
        statistics.fmean(entry["completions/max_length"] for entry in logs),
    )


class OnPolicySampleDataset(TorchDataset):
    """The reference recipe's data path: every item samples its own completion from the current student (batch 1,
    `use_cache=False`), then pads the prompt, the sample and the ground truth to fixed lengths.

    Items hold the ground-truth batch (`input_ids` right-padded to `encoder_length`, `decoder_input_ids`, `labels`),
    the student's decoder input for the sample, and the teacher's `[prompt left-padded ; sample right-padded]`."""

    def __init__(
        self,
        rows: list[dict[str, str]],
        student: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        encoder_length: int,
        decoder_length: int,
        temperature: float,
        top_k: int,
    ):
        self.rows = rows
        self.student = student
        self.tokenizer = tokenizer
        self.encoder_length = encoder_length
        self.decoder_length = decoder_length
        self.temperature = temperature
        self.top_k = top_k
        self.generation_s = 0.0
        self.completion_lengths: list[int] = []

    def __len__(self) -> int:
        return len(self.rows)

    def _padded(self, ids: list[int], length: int, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        ids = ids[:length]
        padding = [self.tokenizer.pad_token_id] * (length - len(ids))
        mask = [0] * len(padding)
        if left:
            return torch.tensor(padding + ids), torch.tensor(mask + [1] * len(ids))
        return torch.tensor(ids + padding), torch.tensor([1] * len(ids) + mask)

    def _decoder_input(self, targets: torch.Tensor) -> torch.Tensor:
        start = torch.tensor([self.student.config.decoder_start_token_id])
        return torch.cat([start, targets[:-1]])

    def _sample(self, prompt_ids: list[int]) -> list[int]:
        input_ids = torch.tensor([prompt_ids])
        start = time.perf_counter()
        sequence = self.student.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=True,
            temperature=self.temperature,
            top_k=self.top_k,
            max_new_tokens=self.decoder_length,
            use_cache=False,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        self.generation_s += time.perf_counter() - start
        sample = sequence[0, 1:].tolist()  # without the decoder start token
        self.completion_lengths.append(len(sample))
        return sample

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = self.rows[index]
        prompt_ids = self.tokenizer(row["prompt"], add_special_tokens=False)["input_ids"][: self.encoder_length]
        answer_ids = self.tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        input_ids, attention_mask = self._padded(prompt_ids, self.encoder_length)
        targets, target_mask = self._padded(answer_ids + [self.tokenizer.eos_token_id], self.decoder_length)

        sample, sample_mask = self._padded(self._sample(prompt_ids), self.decoder_length)
        teacher_prompt, teacher_prompt_mask = self._padded(prompt_ids, self.encoder_length, left=True)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "decoder_input_ids": self._decoder_input(targets),
            "labels": targets.masked_fill(target_mask == 0, -100),
            "sample_decoder_input_ids": self._decoder_input(sample),
            "teacher_input_ids": torch.cat([teacher_prompt, sample]),
            "teacher_attention_mask": torch.cat([teacher_prompt_mask, sample_mask]),
        }


def _reference_loss(
    student: PreTrainedModel,
    teacher: PreTrainedModel,
    batch: dict[str, torch.Tensor],
    encoder_length: int,
    alpha: float,
) -> torch.Tensor:
    """The reference's loss: a KL(teacher || student) averaged over every decoder position of the fixed-length
    sample, padding included, plus the cross-entropy of a second student pass on the ground truth."""

    def decoder_logits(decoder_input_ids: torch.Tensor) -> torch.Tensor:  # the encoder runs again on each pass
        return student(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=(decoder_input_ids != student.config.pad_token_id).long(),
            use_cache=False,
        ).logits

    sample_inputs = batch["sample_decoder_input_ids"]
    student_logits = decoder_logits(sample_inputs)
    with torch.no_grad():
        teacher_logits = teacher(
            input_ids=batch["teacher_input_ids"], attention_mask=batch["teacher_attention_mask"], use_cache=False
        ).logits
    teacher_logits = teacher_logits[:, encoder_length - 1 : encoder_length - 1 + sample_inputs.size(1)]
    vocab = min(student_logits.size(-1), teacher_logits.size(-1))
    kd_loss = F.kl_div(
        F.log_softmax(student_logits[..., :vocab].flatten(0, 1), dim=-1),
        F.log_softmax(teacher_logits[..., :vocab].flatten(0, 1), dim=-1),
        reduction="batchmean",
        log_target=True,
    )
    gold_logits = decoder_logits(batch["decoder_input_ids"])
    ce_loss = F.cross_entropy(gold_logits.flatten(0, 1), batch["labels"].flatten())
    return alpha * kd_loss + (1 - alpha) * ce_loss


def _endless(loader: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    while True:
        yield from loader


def run_reference(
    settings: DistillationBenchmarkSettings,
    student: PreTrainedModel,
    teacher: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict[str, str]],
    encoder_length: int,
) -> dict[str, float]:
    """Trains `student` with the reference loop for the warm-up and timed steps."""
    total_steps = settings.warmup_steps + settings.steps
    torch.manual_seed(settings.seed)
    dataset = OnPolicySampleDataset(
        rows, student, tokenizer, encoder_length, settings.max_completion_length, settings.temperature, settings.top_k
    )
    loader = DataLoader(dataset, batch_size=settings.batch_size, shuffle=True, drop_last=True, num_workers=0)
    optimizer = torch.optim.AdamW(student.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=total_steps)
    student.train()
    teacher.eval()
    clock = StepClock()
    batches = _endless(loader)
    for _ in range(total_steps):
        batch = next(batches)
        loss = _reference_loss(student, teacher, batch, encoder_length, settings.alpha)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), settings.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        clock.generation_s = dataset.generation_s
        clock.tick()
    # One generate() per sample, decoding until the sample ends.
    lengths = dataset.completion_lengths[settings.warmup_steps * settings.batch_size :]
    return _timed_steps(clock, settings.warmup_steps, lengths, sum(lengths) / settings.steps)


def _model_summary(model: PreTrainedModel) -> dict:
    config = model.config
    layers = (
        {"encoder_layers": config.encoder_layers, "decoder_layers": config.decoder_layers}
        if config.is_encoder_decoder
        else {"layers": config.num_hidden_layers}
    )
    return {
        "class": type(model).__name__,
        "parameters": model.num_parameters(),
        "hidden_size": config.hidden_size,
        "vocab_size": config.vocab_size,
        **layers,
    }


def _summarize_method(name: str, runs: list[dict[str, float]]) -> dict:
    return {
        "name": name,
        "description": METHODS[name],
        **{key: statistics.median(run[key] for run in runs) for key in runs[0]},
        "runs": runs,
    }


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Runs the block with `threads` intra-op CPU threads, then restores the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def measure_methods(settings: DistillationBenchmarkSettings) -> dict:
    """Builds the data, the tokenizer and the teacher, then trains a fresh student with each method in turn
    `repeats` times; returns the data and models described, each method's runs and their medians, and the ratio."""
    rows = prompt_completion_rows(make_synthetic_qa(settings.num_examples, seed=settings.seed))
    tokenizer = train_tokenizer([text for row in rows for text in row.values()], vocab_size=settings.vocab_size)
    prompts = tokenizer([row["prompt"] for row in rows], add_special_tokens=False)["input_ids"]
    prompt_lengths = [len(ids) for ids in prompts]
    encoder_length = settings.encoder_length or max(prompt_lengths)
    torch.manual_seed(settings.seed + 1)
    teacher = Qwen3ForCausalLM(teacher_config(settings.size, tokenizer)).eval().requires_grad_(False)

    def fresh_student() -> MuForConditionalGeneration:
        torch.manual_seed(settings.seed)
        return MuForConditionalGeneration(student_config(settings.size, tokenizer))

    runs = {name: [] for name in METHODS}
    for _ in range(settings.repeats):
        runs["ours"].append(run_ours(settings, fresh_student(), teacher, tokenizer, rows))
        runs["reference"].append(run_reference(settings, fresh_student(), teacher, tokenizer, rows, encoder_length))
    methods = [_summarize_method(name, method_runs) for name, method_runs in runs.items()]
    return {
        "data": {
            "examples": len(rows),
            "vocab_size": len(tokenizer),
            "prompt_tokens": {
                "min": min(prompt_lengths),
                "mean": statistics.fmean(prompt_lengths),
                "max": max(prompt_lengths),
            },
            "reference_encoder_length": encoder_length,
        },
        "models": {"student": _model_summary(fresh_student()), "teacher": _model_summary(teacher)},
        "methods": methods,
        "ratio": methods[0]["steps_per_s"] / methods[1]["steps_per_s"],
    }


def run_benchmark(settings: DistillationBenchmarkSettings) -> dict:
    """Times both methods; writes `distillation-<size>-<lengths>-<device>-<date>.json`, `.md` and `.png` to the
    output dir; `<lengths>` is the reference's prompt length (`fit`: the data's longest) `x` the completion length."""
    settings.validate()
    with _torch_threads(settings.threads):
        measured = measure_methods(settings)

    device_label = device_name(torch.device("cpu"), settings.threads)
    results = {
        "benchmark": "distillation",
        "device": device_label,
        "date": datetime.date.today().isoformat(),
        "settings": asdict(settings),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        **measured,
    }
    ratio = results["ratio"]
    results["target"] = {
        "target": "steps/s ours / reference",
        "value": ratio,
        "threshold": f">= {TARGET_RATIO}",
        "met": ratio >= TARGET_RATIO,
    }

    # Runs at other sizes or lengths on the same machine and day get their own files.
    lengths = f"{settings.encoder_length or 'fit'}x{settings.max_completion_length}"
    stem = Path(settings.output_dir) / f"distillation-{settings.size}-{lengths}-{device_label}-{results['date']}"
    results["files"] = save_results(results, stem, write_markdown, write_plot)
    return results


def _describe(results: dict) -> str:
    """One paragraph: the machine, the models, the data and the sampling settings."""
    settings, data = results["settings"], results["data"]
    student, teacher = results["models"]["student"], results["models"]["teacher"]
    return (
        f"float32 CPU, {settings['threads']} thread(s). Student {student['class']} "
        f"({student['parameters'] / 1e6:.2f}M, {student['encoder_layers']} + {student['decoder_layers']} layers), "
        f"teacher {teacher['class']} ({teacher['parameters'] / 1e6:.2f}M, {teacher['layers']} layers), "
        f"vocabulary {data['vocab_size']}. Batch {settings['batch_size']}, up to {settings['max_completion_length']} "
        f"sampled tokens (temperature {settings['temperature']}, top-k {settings['top_k']}), "
        f"alpha {settings['alpha']}; prompts of {data['prompt_tokens']['min']} to {data['prompt_tokens']['max']} "
        f"tokens, padded to {data['reference_encoder_length']} by the reference. Medians of {settings['repeats']} "
        f"runs of {settings['steps']} steps after {settings['warmup_steps']} warm-up steps."
    )


def write_markdown(results: dict, path: Path) -> None:
    lines = [
        f"### Distillation benchmark: {results['device']}, {results['date']}",
        "",
        _describe(results),
        "",
        "| method | steps/s | s/step | sampling s/step | rest s/step | mean sampled tokens "
        "| decoding steps/step | ms/decoding step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in results["methods"]:
        lines.append(
            f"| {method['name']} | {method['steps_per_s']:.3f} | {method['seconds_per_step']:.3f} "
            f"| {method['generation_s_per_step']:.3f} | {method['training_s_per_step']:.3f} "
            f"| {method['mean_completion_length']:.1f} | {method['decoding_steps_per_step']:.0f} "
            f"| {method['ms_per_decoding_step']:.2f} |"
        )
    target = results["target"]
    met = "yes" if target["met"] else "**no**"
    lines += [
        "",
        "| target | value | threshold | met |",
        "|---|---:|---|---|",
        f"| {target['target']} | {target['value']:.1f} | {target['threshold']} | {met} |",
    ]
    path.write_text("\n".join(lines) + "\n")


def write_plot(results: dict, path: Path) -> None:
    """Steps per second of both methods, and where each step's time goes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = results["methods"]
    names = [method["name"] for method in methods]
    figure, (speed, breakdown) = plt.subplots(1, 2, figsize=(10, 4.5))
    bars = speed.bar(names, [method["steps_per_s"] for method in methods], color=["tab:blue", "tab:gray"])
    speed.bar_label(bars, fmt="%.2f")
    speed.set_ylabel("training steps/s")
    speed.set_title(f"ours / reference = {results['ratio']:.1f}x")
    generation = [method["generation_s_per_step"] for method in methods]
    rest = [method["training_s_per_step"] for method in methods]
    breakdown.bar(names, generation, label="sampling completions", color="tab:orange")
    bars = breakdown.bar(names, rest, bottom=generation, label="forward, backward, optimizer, rest", color="tab:green")
    breakdown.bar_label(bars, labels=[f"{method['seconds_per_step']:.3f} s" for method in methods])
    breakdown.set_ylabel("seconds per step")
    breakdown.set_title("time per step")
    breakdown.legend(fontsize=8, loc="upper left")
    settings = results["settings"]
    figure.suptitle(
        f"On-policy distillation, batch {settings['batch_size']}, {settings['max_completion_length']} new tokens: "
        f"{results['device']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """`python benchmarks/distillation.py ...`: times both methods and writes the results."""
    parser = HfArgumentParser(
        DistillationBenchmarkSettings, description="Training steps/s of MuDistillationTrainer vs the reference loop."
    )
    (settings,) = parser.parse_args_into_dataclasses(argv if argv is not None else sys.argv[1:])
    results = run_benchmark(settings)
    for method in results["methods"]:
        print(f"{method['name']}: {method['steps_per_s']:.3f} steps/s")
    print(f"ratio ours / reference: {results['ratio']:.1f}x")
    print("\n".join(results["files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
