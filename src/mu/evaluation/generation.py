# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Batched greedy generation for evaluation, and the left padding it and the judge batch with."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@contextmanager
def left_padding(tokenizer: PreTrainedTokenizerBase) -> Iterator[PreTrainedTokenizerBase]:
    """`tokenizer` pads on the left, with EOS standing in for a missing pad token, until the block ends."""
    padding_side, pad_token = tokenizer.padding_side, tokenizer.pad_token
    tokenizer.padding_side = "left"
    if pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        yield tokenizer
    finally:
        tokenizer.padding_side, tokenizer.pad_token = padding_side, pad_token


@torch.no_grad()
def generate_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    batch_size: int = 16,
    max_new_tokens: int = 64,
    desc: str = "generating",
) -> list[str]:
    """Greedy completions of `prompts`, batched with left padding, stripped of special tokens and surrounding
    whitespace. Works for encoder-decoder models (whose `generate()` returns only the answer) and decoder-only ones
    (whose prompt tokens are cut off)."""
    model.eval()
    answers = []
    with left_padding(tokenizer):
        for start in tqdm(range(0, len(prompts), batch_size), desc=desc, leave=False):
            inputs = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True).to(model.device)
            output_ids = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
            if not model.config.is_encoder_decoder:
                output_ids = output_ids[:, inputs["input_ids"].shape[1] :]
            answers += [text.strip() for text in tokenizer.batch_decode(output_ids, skip_special_tokens=True)]
    return answers
