# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The models the generation benchmark compares, each at the paper's ~330M size (or tiny, for tests)."""

from collections.abc import Callable
from dataclasses import dataclass, field

from transformers import (
    PreTrainedConfig,
    PreTrainedModel,
    Qwen3Config,
    Qwen3ForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

from ..configuration_mu import MuConfig
from ..modeling_mu import MuForCausalLM, MuForConditionalGeneration

SIZES = ("330m", "tiny")


def mu_config(size: str) -> MuConfig:
    """The paper's Mu-330M (332.0M parameters), or a tiny Mu with the same proportions."""
    if size == "tiny":
        return MuConfig(
            vocab_size=512,
            hidden_size=64,
            attention_hidden_size=48,
            intermediate_size=192,
            encoder_layers=4,
            decoder_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            eos_token_id=2,
        )
    return MuConfig()


def t5_config(size: str) -> T5Config:
    """A T5 v1.1-style model (gated GELU) with 10 + 10 layers: 331.8M parameters with Mu's vocabulary."""
    if size == "tiny":
        return T5Config(
            vocab_size=512, d_model=64, d_kv=16, d_ff=160, num_layers=3, num_decoder_layers=3, num_heads=4,
            feed_forward_proj="gated-gelu", tie_word_embeddings=True, decoder_start_token_id=0,
        )  # fmt: skip
    return T5Config(
        vocab_size=32128, d_model=1024, d_kv=64, d_ff=2816, num_layers=10, num_decoder_layers=10, num_heads=16,
        feed_forward_proj="gated-gelu", tie_word_embeddings=True, decoder_start_token_id=0,
    )  # fmt: skip


def qwen3_config(size: str) -> Qwen3Config:
    """A Qwen3-shaped decoder-only model (GQA 16/8, gated MLP) with 24 layers: 334.9M parameters with Mu's
    vocabulary."""
    if size == "tiny":
        return Qwen3Config(
            vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=5, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=8192, tie_word_embeddings=True,
        )  # fmt: skip
    return Qwen3Config(
        vocab_size=32128, hidden_size=1024, intermediate_size=3072, num_hidden_layers=24, num_attention_heads=16,
        num_key_value_heads=8, head_dim=64, max_position_embeddings=8192, tie_word_embeddings=True,
    )  # fmt: skip


@dataclass(frozen=True)
class Contender:
    """A model of the comparison: its class, its config at a given size, and how `generate()` is called."""

    name: str
    description: str
    model_class: type[PreTrainedModel]
    config: Callable[[str], PreTrainedConfig]
    generate_kwargs: dict = field(default_factory=dict)

    def build(self, size: str) -> PreTrainedModel:
        if size not in SIZES:
            raise ValueError(f"Unknown benchmark size {size!r}; choose one of {SIZES}.")
        return self.model_class(self.config(size))


CONTENDERS = {
    contender.name: contender
    for contender in (
        Contender("mu", "Mu (encoder-decoder, KV cache)", MuForConditionalGeneration, mu_config),
        Contender(
            "mu-no-cache",
            "Mu without cache (the reference's decoding)",
            MuForConditionalGeneration,
            mu_config,
            {"use_cache": False},
        ),
        Contender("mu-decoder-only", "Mu's decoder-only twin (30 layers, KV cache)", MuForCausalLM, mu_config),
        Contender("t5", "transformers T5 (10 + 10 layers, KV cache)", T5ForConditionalGeneration, t5_config),
        Contender("qwen3", "transformers Qwen3 shape (24 layers, KV cache)", Qwen3ForCausalLM, qwen3_config),
    )
}
