# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Distillation of a decoder-only teacher into an encoder-decoder student ("Return of the Encoder").

Each prompt gets a completion: sampled by the student's decoder from the encoded prompt (on-policy, a fraction
`lmbda` of the batches), or else the dataset's ground truth, or the teacher's sample for a prompt without one. The
teacher reads `[prompt ; completion]`, and its logit at the position before each completion token is the target for
the student's decoder logit that predicts the same token. The loss is `alpha * D(teacher || student)` over the
completion tokens, `D` being TRL's generalized Jensen-Shannon divergence, plus `(1 - alpha) * CE` on the dataset's
ground truth.
"""

import copy
import inspect
import os
import random
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate.utils import is_peft_model
from datasets import Dataset, IterableDataset
from torch.utils.data import Sampler
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TrainerCallback,
)
from transformers.utils import logging
from trl import DistillationTrainer
from trl.extras.profiling import profiling_context
from trl.models import prepare_deepspeed
from trl.models.utils import unwrap_model_for_generation
from trl.trainer.utils import RepeatSampler, create_model_from_path, entropy_from_logits, get_config_model_id, pad

from ..model_card import build_model_card
from ..modeling_mu import MuPreTrainedModel
from ..processing_mu import MuProcessor
from .cross_tokenizer import check_round_trip, cross_tokenizer_divergence, retokenize_completion, vocabulary_map
from .data import check_prompt_completion_dataset
from .distillation_config import MuDistillationConfig
from .losses import generalized_jsd_divergence
from .vocabulary import shared_vocabulary_size

logger = logging.get_logger(__name__)

# How many training prompts and completions the tokenizer check splits with both tokenizers.
_TOKENIZER_CHECK_ROWS = 32


def load_teacher(teacher: str | PreTrainedModel, adapter: str | None = None, **init_kwargs) -> PreTrainedModel:
    """The frozen teacher: loaded with `AutoModelForCausalLM` when given a path, with a PEFT adapter (`adapter`, or
    one already attached) merged into its weights; a `PeftModel` passed in is merged in place."""
    if isinstance(teacher, str):
        teacher = create_model_from_path(teacher, architecture=AutoModelForCausalLM, **init_kwargs)
    if adapter is not None:
        from peft import PeftModel

        teacher = PeftModel.from_pretrained(teacher, adapter)
    if is_peft_model(teacher):
        teacher = teacher.merge_and_unload()
    if teacher.config.is_encoder_decoder:
        raise ValueError(f"The teacher must be a decoder-only causal LM; got {type(teacher).__name__}.")
    return teacher.eval().requires_grad_(False)


class EpochSeededSampler(Sampler[int]):
    """Wraps TRL's `RepeatSampler` so that the order of epoch `e` depends on `seed + e` alone: an uninterrupted run
    gets a new permutation each epoch, and a run resumed in epoch `e` gets the same one. The trainer calls `set_epoch`
    before each epoch through the data loader, and [`MuDistillationTrainer`] also at `on_epoch_begin`: with several
    processes accelerate does not pass it on to the loader that skips the batches a resumed epoch has consumed.

    Works around an upstream TRL issue: `RepeatSampler` seeds its generator once, when it is built, and draws each
    epoch's permutation from it in turn, so a process resumed in epoch `e > 0` replays epoch 0's order.
    """

    def __init__(self, sampler: RepeatSampler):
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if self.sampler.shuffle:
            self.sampler.generator.manual_seed(self.sampler.seed + self.epoch)
        return iter(self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class _EpochToSampler(TrainerCallback):
    """Hands the epoch the trainer starts (`state.epoch`, whole at an epoch's start, fractional when resuming midway)
    to the trainer's [`EpochSeededSampler`]."""

    def __init__(self, trainer: "MuDistillationTrainer"):
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        sampler = getattr(self.trainer, "_train_sampler", None)
        if sampler is not None:
            sampler.set_epoch(int(state.epoch or 0))


class MuDistillationTrainer(DistillationTrainer):
    """
    TRL's [`~trl.DistillationTrainer`] for an encoder-decoder student (Mu, T5, any `AutoModelForSeq2SeqLM`) and a
    decoder-only teacher (any `AutoModelForCausalLM`, optionally with a merged LoRA adapter) that share a tokenizer.

    What differs from the parent: on-policy completions are sampled by the student's decoder from the encoded prompt,
    the others (`1 - lmbda` of the batches) are the ground truth or, for prompt-only rows, the teacher's samples; the
    student is teacher-forced on them through its decoder while the teacher scores `[prompt ; completion]`; the
    divergence is taken over the vocabulary both models share and is mixed with a cross-entropy on the dataset's
    `completion` column (`args.alpha`). Logged: `loss`, `kd_loss`, `ce_loss` and TRL's completion statistics.

    Args:
        model: the student, or a path/Hub id loaded with `AutoModelForSeq2SeqLM` and `args.model_init_kwargs`.
        teacher_model: the teacher, or a path/Hub id loaded with `AutoModelForCausalLM` and
            `args.teacher_model_init_kwargs`; defaults to `args.teacher_model_name_or_path`.
        args: a [`MuDistillationConfig`].
        train_dataset, eval_dataset: datasets with text `prompt` and `completion` columns; a `None` completion (or
            no `completion` column) marks a prompt-only row, learnt from the teacher alone.
        processing_class: the student's tokenizer (loaded from the student's path when omitted).
        teacher_processing_class: the teacher's tokenizer, compared with the student's before training (loaded
            from the teacher's path when omitted; the student's is assumed when the teacher has none).
    """

    _tag_names = ["trl", "distillation", "mu"]
    _name = "Mu Distillation"

    def __init__(
        self,
        model: str | PreTrainedModel,
        teacher_model: str | PreTrainedModel | None = None,
        args: MuDistillationConfig | None = None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        teacher_processing_class: PreTrainedTokenizerBase | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple = (None, None),
        peft_config=None,
    ):
        if args is None:
            model_name = model if isinstance(model, str) else get_config_model_id(model.config)
            args = MuDistillationConfig(f"{model_name.split('/')[-1]}-Distillation")
        # The models are loaded here rather than by the parent (which loads causal LMs and compares vocabulary
        # sizes); the trainer keeps a copy of the config without the loading arguments it has used.
        student_init_kwargs, teacher_init_kwargs = _init_kwargs(args)
        args = copy.copy(args)
        args.model_init_kwargs = args.teacher_model_init_kwargs = None
        if isinstance(model, str):
            model = create_model_from_path(model, architecture=AutoModelForSeq2SeqLM, **student_init_kwargs)
        if not model.config.is_encoder_decoder:
            raise ValueError(
                f"The student must be an encoder-decoder model (AutoModelForSeq2SeqLM); got {type(model).__name__}. "
                "Distil into a decoder-only student with trl.DistillationTrainer."
            )

        teacher_model = teacher_model if teacher_model is not None else args.teacher_model_name_or_path
        if teacher_model is None:
            raise ValueError("No teacher: pass `teacher_model` or set `teacher_model_name_or_path`.")
        self.teacher_name = teacher_model if isinstance(teacher_model, str) else teacher_model.config.name_or_path
        if teacher_processing_class is None:
            teacher_processing_class = _find_tokenizer(teacher_model, args.trust_remote_code)
        if teacher_processing_class is None:
            logger.warning(
                "The teacher has no tokenizer of its own; checking the vocabulary against the student's tokenizer "
                "only. Pass `teacher_processing_class` to compare the two."
            )
        teacher_model = load_teacher(teacher_model, adapter=args.teacher_adapter_name_or_path, **teacher_init_kwargs)

        for name, dataset in _named_datasets(train_dataset, eval_dataset):
            check_prompt_completion_dataset(dataset, name, prompt_only_rows=True)
        if train_dataset is not None:
            _check_prompt_only_rows(train_dataset, args.alpha)

        # The teacher is prepared below, after the vocabulary check that replaces the parent's equal-size check.
        super().__init__(
            model=self._prepared_student(model),
            teacher_model=None,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            peft_config=peft_config,
        )
        self.alpha = args.alpha
        self.lmbda = args.lmbda
        # TRL's divergence at the sampling temperature, or Hinton's: at its own temperature, times its square.
        if args.divergence_temperature is None:
            self.divergence_temperature, self.divergence_scale = args.temperature, 1.0
        else:
            self.divergence_temperature = args.divergence_temperature
            self.divergence_scale = args.divergence_temperature**2
        self.add_callback(_EpochToSampler(self))
        # Set per generation batch by `_generate_and_score_completions`, read by `_generate_single_turn`.
        self._on_policy, self._ground_truth, self._prompts = True, [], []
        if self._tokenizer.eos_token_id is None:
            raise ValueError("The student's tokenizer has no EOS token: completions could not end.")
        student_generation_config = self.model.generation_config
        # The teacher completes the prompt-only rows of ground-truth batches, sampling as the student does.
        self.teacher_generation_config = copy.deepcopy(self.generation_config)
        cross_tokenizer = args.cross_tokenizer
        if cross_tokenizer is None:
            cross_tokenizer = teacher_processing_class is not None and (
                teacher_processing_class.get_vocab() != self._tokenizer.get_vocab()
            )
        self.teacher_tokenizer = teacher_processing_class if cross_tokenizer else self._tokenizer
        self.cross_vocabulary = None
        if cross_tokenizer:
            self._set_up_cross_tokenizer(teacher_processing_class, train_dataset)
        else:
            self._set_up_shared_vocabulary(teacher_processing_class, teacher_model, train_dataset)
        self._teacher_pad_token_id = self.teacher_generation_config.pad_token_id
        self._teacher_eos_token_ids = set(self.eos_token_ids)
        if cross_tokenizer:
            self._teacher_eos_token_ids = {self.teacher_tokenizer.eos_token_id}
        self._warned_alignment = False
        self.generation_config.decoder_start_token_id = student_generation_config.decoder_start_token_id
        teacher_arguments = inspect.signature(teacher_model.forward).parameters
        self._teacher_takes_position_ids = "position_ids" in teacher_arguments
        self._teacher_takes_logits_to_keep = "logits_to_keep" in teacher_arguments
        if self.is_deepspeed_enabled:
            self.teacher_model = prepare_deepspeed(teacher_model, self.accelerator)
        else:
            self.teacher_model = self.accelerator.prepare_model(teacher_model, evaluation_mode=True)

    def _set_up_shared_vocabulary(self, teacher_tokenizer, teacher_model: PreTrainedModel, train_dataset) -> None:
        """One tokenizer: the teacher scores the student's ids over the vocabulary both models have."""
        student_vocab_size = self.model.config.get_text_config().vocab_size
        teacher_vocab_size = teacher_model.config.get_text_config().vocab_size
        self.shared_vocab_size = shared_vocabulary_size(
            self._tokenizer,
            teacher_tokenizer or self._tokenizer,
            student_vocab_size,
            teacher_vocab_size,
            sample_texts=_sample_texts(train_dataset),
        )
        # Neither model may sample ids that the other cannot score.
        if student_vocab_size > self.shared_vocab_size:
            self.generation_config.suppress_tokens = list(range(self.shared_vocab_size, student_vocab_size))
        self.teacher_generation_config.suppress_tokens = (
            list(range(self.shared_vocab_size, teacher_vocab_size)) or None
        )

    def _set_up_cross_tokenizer(self, teacher_tokenizer: PreTrainedTokenizerBase | None, train_dataset) -> None:
        """Two tokenizers: completions are re-tokenized for the teacher and aligned by characters."""
        if teacher_tokenizer is None:
            raise ValueError(
                "Cross-tokenizer distillation needs the teacher's tokenizer, and the teacher has none of its own: "
                "pass `teacher_processing_class` (`mu distill --teacher-tokenizer DIR`)."
            )
        if teacher_tokenizer.eos_token_id is None:
            raise ValueError("The teacher's tokenizer has no EOS token: its samples could not end.")
        self.shared_vocab_size = None
        self.cross_vocabulary = vocabulary_map(self._tokenizer, teacher_tokenizer)
        # A teacher tokenizer that loses text is refused before training, on the dataset's texts and the student's
        # tokens, rather than on a sample midway.
        check_round_trip(self._tokenizer, teacher_tokenizer, _sample_texts(train_dataset))
        teacher_pad = teacher_tokenizer.pad_token_id
        self.teacher_generation_config.pad_token_id = (
            teacher_pad if teacher_pad is not None else teacher_tokenizer.eos_token_id
        )
        self.teacher_generation_config.eos_token_id = teacher_tokenizer.eos_token_id
        self.teacher_generation_config.bos_token_id = teacher_tokenizer.bos_token_id

    @staticmethod
    def _prepared_student(model: PreTrainedModel) -> PreTrainedModel:
        """Sampling starts the decoder from the generation config's start token and the loss from the config's:
        both must be set and equal."""
        from_config = getattr(model.config, "decoder_start_token_id", None)
        from_generation = model.generation_config.decoder_start_token_id
        if from_config is not None and from_generation is not None and from_config != from_generation:
            raise ValueError(
                f"The student's config starts the decoder with id {from_config} but its generation config with "
                f"{from_generation}; make them agree."
            )
        start = from_config if from_config is not None else from_generation
        if start is None:
            raise ValueError("The student has no `decoder_start_token_id` in its config or generation config.")
        model.config.decoder_start_token_id = model.generation_config.decoder_start_token_id = start
        return model

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        # A Mu folder also carries a `MuProcessor`, so that `pipeline("image-text-to-text", model=folder)` serves it.
        student = self.accelerator.unwrap_model(self.model)
        if isinstance(student, MuPreTrainedModel) and isinstance(self.processing_class, PreTrainedTokenizerBase):
            processor = MuProcessor.from_model_config(student.config, self.processing_class)
            processor.save_pretrained(output_dir if output_dir is not None else self.args.output_dir)

    def create_model_card(
        self, model_name: str | None = None, dataset_name: str | None = None, tags: str | list[str] | None = None
    ):
        """Writes the Mu model card (see `mu.model_card`) to the output folder, which `push_to_hub` publishes with
        the safetensors weights and the model code: the teacher (as `base_model` when it is a Hub id) and the
        distillation settings."""
        if not self.is_world_process_zero():
            return
        args = self.args
        teacher = self.teacher_name or "a decoder-only teacher"
        if args.teacher_adapter_name_or_path:
            teacher += f" + adapter {args.teacher_adapter_name_or_path} (merged)"
        divergence = f"generalized JSD (beta {args.beta}, temperature {self.divergence_temperature})"
        if self.cross_vocabulary is not None:
            divergence += " on tokens aligned across the two tokenizers, on merged groups' likelihoods elsewhere"
        if self.divergence_scale != 1.0:
            divergence = f"{self.divergence_scale:.3g} x {divergence}"
        if args.lmbda == 1.0:
            method = "on-policy distillation"
        elif args.lmbda == 0.0:
            method = "distillation on the ground truth and the teacher's samples"
        else:
            method = f"distillation, on-policy in {args.lmbda:.0%} of the batches"
        training = {
            "method": f"{method} (MuDistillationTrainer)",
            "teacher": teacher,
            "loss": f"{args.alpha} x {divergence}"
            + (f" + {1 - args.alpha:.2g} x cross-entropy on the ground truth" if args.alpha < 1 else ""),
            "sampling": f"temperature {args.temperature}, top-k {args.top_k}, "
            f"up to {args.max_completion_length} tokens, in {args.lmbda:.0%} of the batches (lmbda; the ground truth "
            "in the others, the teacher's samples for prompts without one)",
            "data": dataset_name or "a prompt-completion dataset",
            "steps": str(self.state.global_step),
            "optimizer": f"AdamW, learning rate {args.learning_rate}, weight decay {args.weight_decay}",
        }
        name = model_name or Path(args.output_dir).name
        card = build_model_card(
            self.model,
            title=f"{name} (distilled)",
            summary=f"An encoder-decoder student distilled from the decoder-only teacher `{teacher}`.",
            training=training,
            tags=("distillation",),
            # A Hub id only: the Hub resolves `base_model`, a local folder means nothing there (as in TRL).
            base_model=self.teacher_name if self.teacher_name and not os.path.isdir(self.teacher_name) else None,
        )
        card.save(Path(args.output_dir) / "README.md")

    def _get_train_sampler(self, dataset: Dataset | None = None) -> Sampler:
        sampler = super()._get_train_sampler(dataset)
        # The sampler yields whole generation batches only: a smaller dataset would train no step, silently.
        if len(sampler.data_source) < sampler.batch_size:
            raise ValueError(
                f"The training dataset has {len(sampler.data_source)} rows, fewer than one batch of "
                f"{sampler.batch_size} (per_device_train_batch_size x processes x gradient_accumulation_steps): "
                "training would take no step. Add rows or lower per_device_train_batch_size."
            )
        self._train_sampler = EpochSeededSampler(sampler)
        return self._train_sampler

    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            self._signature_columns = ["prompt", "completion"]

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, has_tool_images=False):
        """The student's samples (see `_sample_completions`). In an off-policy batch (see `lmbda`) the completions are
        the batch's ground truth instead, and those of prompt-only rows, which have none, are the teacher's
        (sequence-level distillation, Kim & Rush 2016)."""
        if self._on_policy:
            return self._sample_completions(self.model_wrapped, prompt_ids)
        completions = list(self._ground_truth)
        prompt_only = [i for i, ids in enumerate(completions) if ids is None]
        if prompt_only:
            samples = self._teacher_samples([prompt_ids[i] for i in prompt_only], prompt_only)
            for i, sample in zip(prompt_only, samples):
                completions[i] = sample
        return completions

    def _teacher_samples(self, prompt_ids: list[list[int]], rows: list[int]) -> list[list[int]]:
        """The teacher's samples for the prompts of the generation batch's `rows`, in the student's tokens: across
        tokenizers, the teacher reads the prompt text in its own tokens and its text is re-tokenized for the
        student."""
        if self.cross_vocabulary is None:
            return self._sample_completions(self.teacher_model, prompt_ids)
        prompts = [self._prompts[row] for row in rows]
        samples = self._sample_completions(self.teacher_model, self.teacher_tokenizer(prompts)["input_ids"])
        student_samples = []
        for ids in samples:
            ended = bool(ids) and ids[-1] in self._teacher_eos_token_ids
            text = self.teacher_tokenizer.decode(ids[:-1] if ended else ids, clean_up_tokenization_spaces=False)
            student_ids = self._tokenizer.encode(text, add_special_tokens=False)
            student_samples.append(
                (student_ids + [self._tokenizer.eos_token_id] * ended)[: self.max_completion_length]
            )
        return student_samples

    # Adapted from trl.DistillationTrainer._generate_single_turn (its transformers path): the parent samples with the
    # student only and cuts the prompt off the front of each sequence, which only a decoder-only student returns.
    def _sample_completions(self, model, prompt_ids: list[list[int]]) -> list[list[int]]:
        """Samples one completion per prompt with `model`, the student (its encoder reads the prompt once, its decoder
        uses its KV cache) or the teacher (continuing the left-padded prompt), with the trainer's generation config
        and ids the other model cannot score suppressed; each is returned cut after its first EOS."""
        prompts = [torch.tensor(ids) for ids in prompt_ids]
        is_teacher = model is self.teacher_model
        pad_token_id = self._teacher_pad_token_id if is_teacher else self._tokenizer.pad_token_id
        inputs = {
            "input_ids": pad(prompts, pad_token_id, "left", self.pad_to_multiple_of),
            "attention_mask": pad([torch.ones_like(p) for p in prompts], 0, "left", self.pad_to_multiple_of),
        }
        inputs = {key: value.to(self.accelerator.device) for key, value in inputs.items()}
        with (
            profiling_context(self, "transformers.generate"),
            unwrap_model_for_generation(
                model,
                self.accelerator,
                gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                generation_kwargs=self.generation_kwargs,
                gradient_checkpointing_kwargs=None if is_teacher else self.args.gradient_checkpointing_kwargs,
            ) as unwrapped_model,
            torch.no_grad(),
            self._dist.summon_full_params(model, recurse=False),
        ):
            generation_config = self.teacher_generation_config if is_teacher else self.generation_config
            sequences = unwrapped_model.generate(**inputs, generation_config=generation_config)
        # The student's sequences start with the decoder start token, the teacher's with the prompt.
        start = inputs["input_ids"].size(1) if is_teacher else 1
        eos_token_ids = self._teacher_eos_token_ids if is_teacher else self.eos_token_ids
        completions = []
        for ids in sequences[:, start:].tolist():
            end = next((i + 1 for i, token_id in enumerate(ids) if token_id in eos_token_ids), len(ids))
            completions.append(ids[:end])
        return completions

    def _generate_and_score_completions(self, inputs: list[dict]) -> dict:
        """The parent's batch (left-padded prompts, right-padded completions and their masks) plus the ground-truth
        `labels`: the `completion` column tokenized, EOS-terminated, right-padded with -100. The completions are
        sampled by the student with probability `lmbda` (drawn per generation batch from the seed and the step, so a
        resumed run draws the same), else they are the ground truth (GKD's mixture of on- and off-policy data);
        evaluation samples always. A prompt-only row (no `completion`) has no labels: its completion is sampled by the
        student, or by the teacher in a ground-truth batch."""
        eos_token_id = self._tokenizer.eos_token_id
        completions = [x.get("completion") for x in inputs]
        labeled = [text for text in completions if text is not None]
        tokenized = iter(self._tokenizer(labeled, add_special_tokens=False)["input_ids"] if labeled else [])
        self._ground_truth = [
            None if text is None else (next(tokenized) + [eos_token_id])[: self.max_completion_length]
            for text in completions
        ]
        draw = random.Random(f"{self.args.seed}:{self.state.global_step}").random()
        self._on_policy = not self.model.training or draw < self.lmbda
        self._prompts = [x["prompt"] for x in inputs]
        output = super()._generate_and_score_completions(inputs)
        labels = [torch.tensor(ids if ids is not None else [-100]) for ids in self._ground_truth]
        output["labels"] = pad(labels, -100, "right", self.pad_to_multiple_of).to(self.accelerator.device)
        output["num_labels_in_batch"] = self.accelerator.gather((output["labels"] != -100).sum()).sum()
        if self.cross_vocabulary is not None:
            output.update(self._teacher_tokens(self._prompts, output["completion_ids"], output["completion_mask"]))
        return output

    def _teacher_tokens(self, prompts: list[str], completion_ids: torch.Tensor, completion_mask: torch.Tensor) -> dict:
        """Across tokenizers: the teacher's tokens for each prompt (left-padded) and for the text of each completion
        (right-padded, its final EOS the teacher's), and the groups that align each completion's two tokenizations."""
        tokenizer = self.teacher_tokenizer
        prompt_ids = [torch.tensor(ids) for ids in tokenizer(prompts)["input_ids"]]
        completions, groups = [], []
        for ids, length in zip(completion_ids.tolist(), completion_mask.sum(-1).tolist()):
            teacher_ids, row_groups = retokenize_completion(self._tokenizer, tokenizer, ids[:length])
            completions.append(torch.tensor(teacher_ids, dtype=torch.long))
            groups.append(row_groups)
        pad_id, device = self._teacher_pad_token_id, self.accelerator.device
        return {
            "teacher_prompt_ids": pad(prompt_ids, pad_id, "left", self.pad_to_multiple_of).to(device),
            "teacher_prompt_mask": pad(
                [torch.ones_like(p) for p in prompt_ids], 0, "left", self.pad_to_multiple_of
            ).to(device),
            "teacher_completion_ids": pad(completions, pad_id, "right", self.pad_to_multiple_of).to(device),
            "teacher_completion_mask": pad(
                [torch.ones_like(c) for c in completions], 0, "right", self.pad_to_multiple_of
            ).to(device),
            "alignment_groups": groups,
        }

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # Token counts over the whole generation batch (all processes, all accumulation steps), recounted after
        # generation, make the sum over micro-batches a per-token mean; divided by the process count to undo DDP's
        # gradient averaging. In evaluation each batch is its own mean.
        if self.model.training:
            processes = self.accelerator.num_processes
            normalizers = (
                inputs["num_items_in_batch"].clamp(min=1.0) / processes,
                inputs["num_labels_in_batch"].clamp(min=1.0) / processes,
            )
        else:
            normalizers = (None, None)
        unwrapped_student = self.accelerator.unwrap_model(model)
        loss, terms = self._forward_redirection(
            model, unwrapped_student, self._compute_loss, unwrapped_student, inputs, *normalizers
        )
        mode = "train" if self.model.training else "eval"
        kd_sum, kd_count, ce_sum, ce_count, entropy_sum, aligned = (
            self.accelerator.gather(terms.unsqueeze(0)).sum(0).tolist()
        )
        # the student's mean per-token entropy (nats) over the completions it is trained on, as the parent logs it
        self._metrics[mode]["entropy"].append(entropy_sum / max(kd_count if self.alpha > 0 else ce_count, 1.0))
        if self.alpha > 0:
            self._metrics[mode]["kd_loss"].append(kd_sum / max(kd_count, 1.0))
        if self.alpha > 0 and self.cross_vocabulary is not None:
            alignment_rate = aligned / max(kd_count, 1.0)
            self._metrics[mode]["alignment_rate"].append(alignment_rate)
            if alignment_rate < 0.5 and not self._warned_alignment:
                self._warned_alignment = True
                logger.warning(
                    f"Only {alignment_rate:.0%} of the student's completion tokens align one to one with a teacher "
                    "token of the same text; the others learn only the probability of their group's text, a weaker "
                    "signal. "
                    "A teacher whose tokenizer splits text more like the student's aligns more."
                )
        if self.alpha < 1:
            self._metrics[mode]["ce_loss"].append(ce_sum / max(ce_count, 1.0))
        return (loss, None) if return_outputs else loss

    def _compute_loss(self, student, inputs, kd_normalizer=None, ce_normalizer=None):
        """`alpha * divergence + (1 - alpha) * cross-entropy`, and the detached `[kd_sum, kd_tokens, ce_sum,
        ce_tokens, entropy_sum]` for logging (the student's entropy over the divergence's tokens, or the
        cross-entropy's when `alpha` is 0). The encoder runs once for both decoder passes."""
        encoder_outputs = student.get_encoder()(input_ids=inputs["prompt_ids"], attention_mask=inputs["prompt_mask"])
        completion_mask = inputs["completion_mask"]
        loss = 0.0
        kd_sum = ce_sum = aligned = torch.zeros((), device=completion_mask.device)
        labels = inputs["labels"]
        gold_logits = None
        if self.alpha < 1:
            gold_logits = self._student_logits(student, encoder_outputs, inputs["prompt_mask"], labels)
        if self.alpha > 0:
            completion_labels = inputs["completion_ids"].masked_fill(completion_mask == 0, -100)
            if gold_logits is not None and torch.equal(completion_labels, labels):  # an off-policy batch
                student_logits = gold_logits
            else:
                student_logits = self._student_logits(
                    student, encoder_outputs, inputs["prompt_mask"], completion_labels
                )
            prefix = "" if self.cross_vocabulary is None else "teacher_"
            with torch.no_grad():
                teacher_logits = self._teacher_completion_logits(
                    *(
                        inputs[prefix + key]
                        for key in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask")
                    )
                )
            if self.cross_vocabulary is None:
                vocab = self.shared_vocab_size
                divergence = generalized_jsd_divergence(
                    student_logits[..., :vocab], teacher_logits[..., :vocab], self.beta, self.divergence_temperature
                )
                aligned = completion_mask.sum().float()
            else:
                divergence, aligned = self._cross_tokenizer_divergence(student_logits, teacher_logits, inputs)
            kd_sum = self.divergence_scale * (divergence * completion_mask).sum()
            kd_normalizer = kd_normalizer if kd_normalizer is not None else completion_mask.sum().clamp(min=1)
            loss = loss + self.alpha * kd_sum / kd_normalizer
        if self.alpha < 1:
            ce_sum = F.cross_entropy(gold_logits.flatten(0, 1).float(), labels.flatten(), reduction="sum")
            ce_normalizer = ce_normalizer if ce_normalizer is not None else (labels != -100).sum().clamp(min=1)
            loss = loss + (1 - self.alpha) * ce_sum / ce_normalizer
        with torch.no_grad():
            logits, mask = (student_logits, completion_mask) if self.alpha > 0 else (gold_logits, labels != -100)
            entropy_sum = (entropy_from_logits(logits.float()) * mask).sum()
        terms = torch.stack(
            [
                kd_sum.detach(),
                completion_mask.sum().float(),
                ce_sum.detach(),
                (labels != -100).sum().float(),
                entropy_sum,
                aligned,
            ]
        )
        return loss, terms

    def _cross_tokenizer_divergence(self, student_logits, teacher_logits, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Across tokenizers: the loss per student completion token (see `mu.trainers.cross_tokenizer`), and how many
        tokens were aligned one to one."""
        lengths = inputs["completion_mask"].sum(-1).tolist()
        teacher_lengths = inputs["teacher_completion_mask"].sum(-1).tolist()
        per_token, aligned = [], 0
        for row, groups in enumerate(inputs["alignment_groups"]):
            result = cross_tokenizer_divergence(
                student_logits[row],
                teacher_logits[row],
                inputs["completion_ids"][row, : lengths[row]].tolist(),
                inputs["teacher_completion_ids"][row, : teacher_lengths[row]].tolist(),
                groups,
                self.cross_vocabulary,
                self.beta,
                self.divergence_temperature,
            )
            per_token.append(result.per_token)
            aligned += result.aligned_tokens
        return torch.stack(per_token), torch.tensor(float(aligned), device=student_logits.device)

    @staticmethod
    def _student_logits(student, encoder_outputs, attention_mask, labels) -> torch.Tensor:
        """Decoder logits teacher-forced on `labels` (-100 = padding): position `i` predicts `labels[:, i]`."""
        return student(
            encoder_outputs=encoder_outputs,
            attention_mask=attention_mask,
            decoder_input_ids=student.prepare_decoder_input_ids_from_labels(labels=labels),
            use_cache=False,
        ).logits

    def _teacher_completion_logits(self, prompt_ids, prompt_mask, completion_ids, completion_mask) -> torch.Tensor:
        """The teacher's logits for `[prompt ; completion]` at the positions that predict each completion token: with
        prompts left-padded to width `P`, position `P - 1 + i` predicts completion token `i`. Positions count real
        tokens only, so left padding does not shift them."""
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
        completion_length = completion_ids.size(1)
        kwargs = {}
        if self._teacher_takes_position_ids:
            kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        if self._teacher_takes_logits_to_keep:
            kwargs["logits_to_keep"] = completion_length + 1
        self.teacher_model.eval()
        # Through the teacher's wrapper, as the parent does, so that FSDP / DeepSpeed ZeRO-3 gather its shards.
        unwrapped_teacher = self.accelerator.unwrap_model(self.teacher_model)
        outputs = self._forward_redirection(
            self.teacher_model,
            unwrapped_teacher,
            unwrapped_teacher,
            input_ids=input_ids,
            attention_mask=attention_mask,
            use_cache=False,
            **kwargs,
        )
        return outputs.logits[:, -completion_length - 1 : -1]


# Adapted from trl.DistillationTrainer.__init__, which completes these inline: Mu loads the teacher itself (the
# parent's own loading refuses a teacher whose vocabulary size differs from the student's).
def _init_kwargs(args: MuDistillationConfig) -> tuple[dict, dict]:
    """`from_pretrained` arguments of the student and the teacher, completed as the parent trainer does: no device
    map under multi-GPU/DeepSpeed training (a dispatched model cannot be wrapped), the teacher's revision, the
    checkpoint's dtype for the teacher unless one is given, `trust_remote_code` for both."""
    student = dict(args.model_init_kwargs or {})
    teacher = {"dtype": None, **(args.teacher_model_init_kwargs or {})}
    if isinstance(teacher["dtype"], str) and teacher["dtype"] != "auto":
        teacher["dtype"] = getattr(torch, teacher["dtype"])
    if args.teacher_model_revision is not None:
        teacher.setdefault("revision", args.teacher_model_revision)
    for kwargs in (student, teacher):
        kwargs.setdefault("trust_remote_code", args.trust_remote_code)
        if args.distributed_state.distributed_type in ("MULTI_GPU", "DEEPSPEED"):
            kwargs["device_map"] = None
    return student, teacher


def _named_datasets(train_dataset, eval_dataset):
    for dataset in (train_dataset, *(eval_dataset.values() if isinstance(eval_dataset, dict) else [eval_dataset])):
        if isinstance(dataset, IterableDataset):
            raise ValueError("Streaming (iterable) datasets are not supported yet; load the dataset as a Dataset.")
    if train_dataset is not None:
        yield "training dataset", train_dataset
    if isinstance(eval_dataset, dict):
        yield from ((f"evaluation dataset {key!r}", dataset) for key, dataset in eval_dataset.items())
    elif eval_dataset is not None:
        yield "evaluation dataset", eval_dataset


def _check_prompt_only_rows(dataset: Dataset, alpha: float) -> None:
    """Prompt-only rows (no `completion`) are learnt from the teacher alone; the count is logged, and a dataset of
    them only is refused when the loss has a cross-entropy term."""
    completions = dataset["completion"] if "completion" in dataset.column_names else [None] * len(dataset)
    prompt_only = sum(completion is None for completion in completions)
    if prompt_only == len(dataset) and alpha < 1.0:
        raise ValueError(
            f"The training dataset has no completions, but alpha {alpha} gives the ground-truth cross-entropy a "
            f"weight of {1 - alpha:.2g}: set alpha to 1.0 or add a `completion` column."
        )
    if prompt_only:
        logger.info(
            f"{prompt_only} of the {len(dataset)} training rows are prompt-only: the student learns them from the "
            "teacher on its own samples, without a cross-entropy term."
        )


def _sample_texts(dataset: Dataset | None) -> list[str]:
    if dataset is None:
        return []
    rows = dataset.select(range(min(len(dataset), _TOKENIZER_CHECK_ROWS)))
    return [text for row in rows for text in (row["prompt"], row.get("completion")) if text]


def _find_tokenizer(teacher: str | PreTrainedModel, trust_remote_code: bool) -> PreTrainedTokenizerBase | None:
    """The teacher's own tokenizer, from its path (or the folder it was loaded from), if it has one."""
    path = teacher if isinstance(teacher, str) else teacher.config.name_or_path
    if not path:
        return None
    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        return None
