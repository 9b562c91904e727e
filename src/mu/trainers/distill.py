# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The job behind `mu distill`.

Its arguments beside [`MuDistillationConfig`], the student and its tokenizer loaded from a folder or a config, the
data files, the newest complete checkpoint, and the run."""

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from datasets import concatenate_datasets
from safetensors import SafetensorError, safe_open
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    set_seed,
)
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import logging

from ..arguments import check_input_file, check_model_path, check_output_folder
from ..plotting import LossCurvesCallback
from .data import load_prompt_completion_dataset
from .distillation_config import MuDistillationConfig
from .distillation_trainer import MuDistillationTrainer

logger = logging.get_logger(__name__)


@dataclass
class DistillArguments:
    student: str = field(
        metadata={
            "help": "The student: a model folder or Hub id, or a config (a config.json file, or a folder with a "
            "config and no weights) to train from scratch."
        }
    )
    teacher: str = field(metadata={"help": "The decoder-only teacher: a model folder or Hub id."})
    train_file: str = field(metadata={"help": "Training data: a .jsonl or .parquet file with prompt and completion."})
    prompts_file: str | None = field(
        default=None,
        metadata={
            "help": "Prompts without answers (a .jsonl or .parquet file with a prompt column), added to the training "
            "data as prompt-only rows: the student learns them from the teacher alone."
        },
    )
    eval_file: str | None = field(default=None, metadata={"help": "Evaluation data, in the same format."})
    teacher_adapter: str | None = field(
        default=None, metadata={"help": "A PEFT (LoRA) adapter folder for the teacher, merged before training."}
    )
    tokenizer: str | None = field(
        default=None,
        metadata={"help": "The student's tokenizer; defaults to the student's folder, else the teacher's."},
    )
    teacher_tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "The teacher's tokenizer; defaults to the teacher's folder. One with another vocabulary than the "
            "student's turns on cross-tokenizer distillation."
        },
    )
    recipe: str = field(
        default="default",
        metadata={
            "help": "Defaults of the objective: `default` (MuDistillationConfig's) or `paper` (the paper's: alpha "
            "0.9, temperature 0.9, learning rate 1e-4); flags given explicitly override them.",
            "choices": ["default", "paper"],
        },
    )


def _has_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def load_student(name_or_path: str, seed: int) -> PreTrainedModel | str:
    """A freshly initialised student when `name_or_path` is a config, else `name_or_path` for the trainer to load."""
    path = Path(name_or_path)
    if path.is_file():
        config_dict = json.loads(path.read_text())
        if "model_type" not in config_dict:
            raise ValueError(f"{path} is not a model config: it has no `model_type`.")
        config = AutoConfig.for_model(**config_dict)
    elif path.is_dir() and (path / "config.json").is_file() and not _has_weights(path):
        config = AutoConfig.from_pretrained(path)
    else:
        return name_or_path
    set_seed(seed)
    return AutoModelForSeq2SeqLM.from_config(config)


def load_student_tokenizer(arguments: DistillArguments) -> PreTrainedTokenizerBase:
    candidates = [arguments.tokenizer] if arguments.tokenizer else [arguments.student, arguments.teacher]
    for candidate in candidates:
        if Path(candidate).is_file():
            continue
        try:
            return AutoTokenizer.from_pretrained(candidate)
        except (OSError, ValueError):
            continue
    raise ValueError(f"No tokenizer found in {' or '.join(candidates)}; pass --tokenizer.")


def last_checkpoint(output_dir: str | Path) -> str:
    """The newest complete `checkpoint-N` folder. A run killed while saving leaves a newer one torn, which is
    skipped with a warning: without `trainer_state.json` (written last) or with it cut short, or with weights or a
    `torch.save` file (optimizer, scheduler, RNG states) cut short. The checks read headers only."""

    def torn_file(checkpoint: Path) -> str | None:
        state = checkpoint / TRAINER_STATE_NAME
        if not state.is_file():
            return f"it has no {TRAINER_STATE_NAME}"
        try:
            json.loads(state.read_text())
        except ValueError:
            return f"its {TRAINER_STATE_NAME} does not parse"
        for weights in sorted(checkpoint.glob("*.safetensors")):
            try:  # safetensors checks that the file covers every tensor its header lists
                with safe_open(weights, framework="pt"):
                    pass
            except SafetensorError as error:
                return f"its {weights.name} is unreadable ({error})"
        for archive in sorted([*checkpoint.glob("*.pt"), *checkpoint.glob("*.pth")]):
            try:  # a `torch.save` file is a zip archive, whose central directory is written last
                with zipfile.ZipFile(archive):
                    pass
            except zipfile.BadZipFile:
                return f"its {archive.name} is cut short"
        return None

    checkpoints = sorted(
        (path for path in Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*") if path.name.split("-")[-1].isdigit()),
        key=lambda path: int(path.name.split("-")[-1]),
        reverse=True,
    )
    for checkpoint in checkpoints:
        problem = torn_file(checkpoint)
        if problem is None:
            return str(checkpoint)
        logger.warning(f"Skipping {checkpoint}: {problem} (its run stopped while saving it).")
    raise ValueError(f"No complete checkpoint to resume from in {output_dir}.")


def run_distill(arguments: DistillArguments, config: MuDistillationConfig) -> MuDistillationTrainer:
    """Trains, saves the final student (safetensors, tokenizer, model card) in `config.output_dir`, and draws the
    loss curves there."""
    train_dataset = load_prompt_completion_dataset(arguments.train_file)
    if arguments.prompts_file is not None:
        prompts = load_prompt_completion_dataset(arguments.prompts_file, prompt_only=True)
        train_dataset = concatenate_datasets([train_dataset.select_columns(list(prompts.column_names)), prompts])
    eval_dataset = load_prompt_completion_dataset(arguments.eval_file) if arguments.eval_file else None
    if arguments.teacher_adapter is not None:
        config.teacher_adapter_name_or_path = arguments.teacher_adapter
    trainer = MuDistillationTrainer(
        model=load_student(arguments.student, config.seed),
        teacher_model=arguments.teacher,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=load_student_tokenizer(arguments),
        teacher_processing_class=AutoTokenizer.from_pretrained(arguments.teacher_tokenizer)
        if arguments.teacher_tokenizer is not None
        else None,
        callbacks=[LossCurvesCallback(("loss", "kd_loss", "ce_loss", "eval_loss"), title="Mu distillation")],
    )
    resume = config.resume_from_checkpoint
    if isinstance(resume, str) and resume.lower() in ("true", "last"):
        resume = last_checkpoint(config.output_dir)
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(config.output_dir)
    trainer.create_model_card(dataset_name=Path(arguments.train_file).name)
    return trainer


def check_arguments(arguments: DistillArguments, config: MuDistillationConfig) -> None:
    """Missing local models and files, and an output folder that cannot be written, are named before anything is
    loaded."""
    check_output_folder(config.output_dir, "--output-dir")
    for flag in ("student", "teacher", "tokenizer", "teacher_tokenizer", "teacher_adapter"):
        if getattr(arguments, flag) is not None:
            setattr(arguments, flag, check_model_path(getattr(arguments, flag), f"--{flag.replace('_', '-')}"))
    for flag in ("train_file", "prompts_file", "eval_file"):
        if getattr(arguments, flag) is not None:
            check_input_file(getattr(arguments, flag), f"--{flag.replace('_', '-')}")
