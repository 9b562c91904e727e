"""A tiny vision Mu (CLIP at the reference's 336-px tiles and 14-px patches, 16 wide), its tokenizer and processor."""

import numpy as np
import PIL.Image
import torch

from mu import MuConfig, MuForConditionalGeneration, MuProcessor
from mu.synthetic_data.tokenizer import train_tokenizer

from .conftest import TINY

TINY_CLIP = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, projection_dim=16)
TEXTS = ["what is the colour of the sky", "how many cats are on the mat", "answer the following question"]


def vision_tokenizer(with_image_token: bool = True):
    tokenizer = train_tokenizer(TEXTS * 10, vocab_size=120)
    if with_image_token:
        tokenizer.add_tokens(["<image>"], special_tokens=True)
    return tokenizer


def vision_config(tokenizer, **overrides) -> MuConfig:
    fields = {
        **TINY,
        "vocab_size": len(tokenizer),
        "vision_config": TINY_CLIP,
        "image_token_id": tokenizer.convert_tokens_to_ids("<image>"),
        **overrides,
    }
    return MuConfig(**fields)


def vision_model(tokenizer, seed: int = 0, **overrides) -> MuForConditionalGeneration:
    """Eval mode, wide initialisation and an untied head, for varied greedy outputs (as `tiny_model`)."""
    torch.manual_seed(seed)
    overrides.setdefault("initializer_range", 0.3)
    overrides.setdefault("tie_word_embeddings", False)
    return MuForConditionalGeneration(vision_config(tokenizer, **overrides)).eval()


def vision_processor(tokenizer, config: MuConfig) -> MuProcessor:
    return MuProcessor.from_model_config(config, tokenizer)


def noise_image(height: int, width: int, seed: int = 0, mode: str = "RGB") -> PIL.Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return PIL.Image.fromarray(pixels).convert(mode)


def vqa_prompt(question: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
