# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Configuration of [`MuDistillationTrainer`]."""

from dataclasses import dataclass, field

from transformers import TrainingArguments
from transformers.utils import is_torch_bf16_gpu_available, is_torch_xla_available
from trl import DistillationConfig

# transformers 5.23 renamed `TrainingArguments.gradient_checkpointing` to `activation_checkpointing` (the old name is
# a deprecated alias there) and TRL turns it on by default: the keyword that turns it off, named as the installed
# version names it.
CHECKPOINTING_OFF = {
    "activation_checkpointing"
    if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
    else "gradient_checkpointing": False
}


# The recipe of "Return of the Encoder": what `MuDistillationConfig.paper_recipe()` and `mu distill --recipe paper`
# set (the learning rate is the paper's for its 330M student).
PAPER_RECIPE = {"alpha": 0.9, "beta": 0.0, "lmbda": 1.0, "temperature": 0.9, "top_k": 128, "learning_rate": 1e-4}


@dataclass
class MuDistillationConfig(DistillationConfig):
    r"""
    [`~trl.DistillationConfig`] for an encoder-decoder student and a decoder-only teacher. The objective's defaults are
    the best of the recipes measured on `mu demo` over three seeds (`benchmarks/distillation_quality.py`): forward KL
    alone (`alpha=1.0`, `beta=0.0`) at temperature 1.0 on the ground truth, and on the teacher's samples (top-k 128)
    for prompts without one (`lmbda=0.0`); learning rate 1e-4, weight decay 0.01, completions of up to 256 tokens.
    [`MuDistillationConfig.paper_recipe`] gives the paper's on-policy recipe ("Return of the Encoder": `lmbda=1.0`,
    `alpha=0.9`, temperature 0.9). Unless `bf16` or `fp16` is set, training is in bf16 on an accelerator that supports
    it and in float32 otherwise, on a CPU (TRL turns bf16 on everywhere, which stops a run on a CPU).

    Parameters:
        alpha (`float`, *optional*, defaults to `1.0`):
            Weight of the distillation term; the cross-entropy on the dataset's ground-truth `completion` gets
            `1 - alpha`. `1.0` is pure distillation, `0.0` plain supervised training.
        lmbda (`float`, *optional*, defaults to `0.0`):
            Fraction of generation batches trained on completions sampled by the student (on-policy); the others are
            trained on the dataset's ground-truth completions, the divergence then being the teacher's soft labels on
            the ground truth (GKD's `lmbda`), and on the teacher's own samples for prompt-only rows (sequence-level
            distillation).
        divergence_temperature (`float`, *optional*):
            Softmax temperature of both distributions in the divergence, which is then multiplied by its square
            (Hinton et al. 2015) so that its gradients keep their scale against the cross-entropy's. Defaults to
            `temperature`, unscaled (TRL's definition).
        cross_tokenizer (`bool`, *optional*):
            Distil across tokenizers: the student's completions are decoded to text and re-tokenized for the teacher,
            and the two are aligned by characters (see `mu.trainers.cross_tokenizer`). Defaults to on when the
            teacher's tokenizer has another vocabulary than the student's.
        teacher_adapter_name_or_path (`str`, *optional*):
            A PEFT (e.g. LoRA) adapter folder or Hub id; it is loaded onto the teacher and merged into its weights.
        temperature (`float`, *optional*, defaults to `1.0`):
            Sampling temperature of the student's completions, and the softmax temperature of both distributions in
            the divergence unless `divergence_temperature` is set (as in TRL).
    """

    alpha: float = field(
        default=1.0,
        metadata={"help": "Weight of the distillation term; the ground-truth cross-entropy gets 1 - alpha."},
    )
    lmbda: float = field(
        default=0.0,
        metadata={
            "help": "Fraction of generation batches whose completions the student samples (on-policy, the paper: "
            "1.0); the others use the dataset's ground-truth completions, or the teacher's samples for prompt-only "
            "rows (GKD's lmbda)."
        },
    )
    divergence_temperature: float | None = field(
        default=None,
        metadata={
            "help": "Softmax temperature of the divergence, which is then scaled by its square; defaults to "
            "`temperature`, unscaled."
        },
    )
    cross_tokenizer: bool | None = field(
        default=None,
        metadata={
            "help": "Distil across tokenizers (completions re-tokenized for the teacher, aligned by characters); "
            "defaults to on when the teacher's tokenizer has another vocabulary than the student's."
        },
    )
    teacher_adapter_name_or_path: str | None = field(
        default=None,
        metadata={"help": "PEFT adapter folder or Hub id, loaded onto the teacher and merged into its weights."},
    )
    # Overriding TRL's defaults
    beta: float = field(
        default=0.0,
        metadata={"help": "Generalized JSD interpolation: 0.0 = forward KL (the paper), 0.5 = JSD, 1.0 = reverse KL."},
    )
    temperature: float = field(
        default=1.0,
        metadata={"help": "Temperature for sampling the student's completions and for the divergence's softmax."},
    )
    top_k: int = field(
        default=128,
        metadata={"help": "Top-k sampling of the student's completions; 0 disables top-k filtering."},
    )
    max_completion_length: int = field(
        default=256,
        metadata={"help": "Maximum number of tokens of a sampled completion (and of a ground-truth one)."},
    )
    learning_rate: float = field(default=1e-4, metadata={"help": "The initial learning rate for AdamW."})
    weight_decay: float = field(default=0.01, metadata={"help": "Weight decay for AdamW."})
    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "Whether to use bf16 (mixed) precision instead of 32-bit. If neither bf16 nor fp16 is set: bf16 "
            "on an accelerator that supports it, float32 otherwise (on a CPU)."
        },
    )

    @classmethod
    def paper_recipe(cls, **kwargs) -> "MuDistillationConfig":
        """The paper's recipe (`PAPER_RECIPE`: on-policy, 0.9 x forward KL + 0.1 x cross-entropy, sampling and
        divergence at temperature 0.9), with `kwargs` for the other fields or to change some of it."""
        return cls(**{**PAPER_RECIPE, **kwargs})

    def __post_init__(self):
        if self.bf16 is None and not self.fp16:
            # bf16 where `TrainingArguments` accepts it without `use_cpu`: a bf16-capable accelerator or an XLA device.
            self.bf16 = not self.use_cpu and (is_torch_bf16_gpu_available() or is_torch_xla_available())
        super().__post_init__()
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0.0, 1.0], got {self.alpha}.")
        if not 0.0 <= self.lmbda <= 1.0:
            raise ValueError(f"lmbda must be in [0.0, 1.0], got {self.lmbda}.")
        for name in ("temperature", "divergence_temperature"):
            if getattr(self, name) is not None and getattr(self, name) <= 0.0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.max_completion_length is None or self.max_completion_length < 1:
            raise ValueError(f"max_completion_length must be a positive length, got {self.max_completion_length}.")
        if self.use_vllm:
            raise ValueError("use_vllm is not supported: vLLM does not serve encoder-decoder students.")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be at least 1 (or -1 to train num_train_epochs), got {self.max_steps}.")
        for name in ("save_steps", "eval_steps", "logging_steps"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(
                    f"{name} must be positive (a count, or a fraction of the run), got {getattr(self, name)}."
                )
