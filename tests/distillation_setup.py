"""Tiny students, teachers, tokenizer and prompt-completion data shared by the distillation tests."""

import torch
from datasets import Dataset
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    Qwen3Config,
    Qwen3ForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

from mu import MuForConditionalGeneration
from mu.synthetic_data.qa import make_synthetic_qa, prompt_completion_rows
from mu.synthetic_data.tokenizer import train_tokenizer
from mu.trainers import MuDistillationConfig, MuDistillationTrainer
from mu.trainers.distillation_config import CHECKPOINTING_OFF

from .conftest import tiny_config

SPECIAL_IDS = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)


def qa_rows(num_rows: int = 32, seed: int = 0) -> list[dict]:
    """Prompt-completion rows from the synthetic QA set; unanswerable questions have an empty completion."""
    return prompt_completion_rows(make_synthetic_qa(num_rows, seed=seed))


def qa_tokenizer():
    return train_tokenizer([row["prompt"] for row in qa_rows(200)], vocab_size=300)


def mu_student(vocab_size: int, seed: int = 0) -> MuForConditionalGeneration:
    torch.manual_seed(seed)
    config = tiny_config(
        vocab_size=vocab_size,
        attention_hidden_size=32,
        decoder_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return MuForConditionalGeneration(config)


def t5_student(vocab_size: int, seed: int = 0) -> T5ForConditionalGeneration:
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=1,
        num_heads=4,
        dropout_rate=0.0,
        decoder_start_token_id=0,
        **SPECIAL_IDS,
    )
    return T5ForConditionalGeneration(config)


def qwen3_teacher(vocab_size: int, seed: int = 1) -> Qwen3ForCausalLM:
    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        **SPECIAL_IDS,
    )
    return Qwen3ForCausalLM(config).eval()


def gpt2_teacher(vocab_size: int, seed: int = 1) -> GPT2LMHeadModel:
    """A teacher with learned absolute positions: its logits change if left padding shifts the positions."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_positions=512, n_embd=32, n_layer=2, n_head=4, **SPECIAL_IDS)
    config.resid_pdrop = config.embd_pdrop = config.attn_pdrop = 0.0
    return GPT2LMHeadModel(config).eval()


def distillation_config(output_dir, **overrides) -> MuDistillationConfig:
    settings = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        max_completion_length=8,
        max_steps=2,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        bf16=False,
        use_cpu=True,
        **CHECKPOINTING_OFF,
        dataloader_num_workers=0,
        learning_rate=1e-3,
        # The paper's on-policy objective, which the tests were written for (the defaults train on the ground truth
        # and the teacher's samples, without the cross-entropy).
        alpha=0.9,
        temperature=0.9,
        lmbda=1.0,
    )
    return MuDistillationConfig(**{**settings, **overrides})


def qa_dataset(num_rows: int = 32, seed: int = 0) -> Dataset:
    return Dataset.from_list(qa_rows(num_rows, seed))


def tiny_trainer(tokenizer, args: MuDistillationConfig, num_rows: int = 4, **trainer_kwargs) -> MuDistillationTrainer:
    """A tiny Mu student and Qwen3 teacher on `tokenizer`, trained on `num_rows` QA rows; `trainer_kwargs` replace
    any of these (`model`, `teacher_model`, `train_dataset`) or add others (`eval_dataset`)."""
    return MuDistillationTrainer(
        **{
            "model": mu_student(len(tokenizer)),
            "teacher_model": qwen3_teacher(len(tokenizer)),
            "train_dataset": qa_dataset(num_rows),
            **trainer_kwargs,
        },
        args=args,
        processing_class=tokenizer,
    )
