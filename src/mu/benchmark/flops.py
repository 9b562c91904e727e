# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Analytic matmul FLOPs of generation for encoder-decoder and decoder-only transformers.

Counts what `torch.utils.flop_counter` counts: 2 FLOPs per multiply-add of every linear layer and of the two
attention products (scores and weighted values, over every key the query sees, masked or not). Norms, activations,
softmax and RoPE are elementwise and left out, as the counter does.
"""

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput


@dataclass(frozen=True)
class TransformerShape:
    """The sizes generation FLOPs depend on. A decoder-only model has `encoder_layers == 0`."""

    encoder_layers: int
    decoder_layers: int
    hidden_size: int
    query_width: int  # heads * head_dim of the queries
    key_value_width: int  # kv heads * head_dim
    mlp_weights: int  # weights of one MLP (2 matrices, 3 when gated)
    vocab_size: int

    @property
    def is_encoder_decoder(self) -> bool:
        return self.encoder_layers > 0

    @property
    def self_attention_weights(self) -> int:
        return 2 * self.hidden_size * self.query_width + 2 * self.hidden_size * self.key_value_width

    @property
    def cross_attention_step_weights(self) -> int:
        """Cross-attention weights read for each decoder token: queries and output (keys and values are projected
        from the encoder output, once per sequence when cached)."""
        return 2 * self.hidden_size * self.query_width if self.is_encoder_decoder else 0

    @property
    def decoder_step_weights(self) -> int:
        """Weights one cached decoding step reads: the decoder layers and the LM head."""
        per_layer = self.self_attention_weights + self.cross_attention_step_weights + self.mlp_weights
        return self.decoder_layers * per_layer + self.hidden_size * self.vocab_size

    @classmethod
    def from_config(cls, config: PreTrainedConfig) -> "TransformerShape":
        """Reads the shape of a Mu (encoder-decoder or decoder-only twin), T5 or Llama/Qwen-style config."""
        if config.model_type == "mu":
            mlp = 2 * config.hidden_size * config.intermediate_size
            if config.is_encoder_decoder:
                layers = (config.encoder_layers, config.decoder_layers)
            else:
                layers = (0, config.num_hidden_layers)
            kv_width = config.num_key_value_heads * config.head_dim
            return cls(*layers, config.hidden_size, config.attention_hidden_size, kv_width, mlp, config.vocab_size)
        if config.model_type == "t5":
            width = config.num_heads * config.d_kv
            mlp = (3 if config.is_gated_act else 2) * config.d_model * config.d_ff
            return cls(
                config.num_layers, config.num_decoder_layers, config.d_model, width, width, mlp, config.vocab_size
            )
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        return cls(
            0,
            config.num_hidden_layers,
            config.hidden_size,
            config.num_attention_heads * head_dim,
            config.num_key_value_heads * head_dim,
            3 * config.hidden_size * config.intermediate_size,
            config.vocab_size,
        )


def _attention(queries: int, keys: int, width: int) -> int:
    return 4 * queries * keys * width


def _stack(shape: TransformerShape, layers: int, tokens: int, keys: int, cross_keys: int = 0) -> int:
    """FLOPs of `tokens` new tokens through `layers` blocks whose self-attention sees `keys` keys (and whose
    cross-attention, if any, sees `cross_keys` cached encoder keys)."""
    weights = shape.self_attention_weights + shape.mlp_weights
    per_layer = 2 * tokens * weights + _attention(tokens, keys, shape.query_width)
    if cross_keys:
        per_layer += 2 * tokens * shape.cross_attention_step_weights + _attention(
            tokens, cross_keys, shape.query_width
        )
    return layers * per_layer


def _cross_key_values(shape: TransformerShape, source_length: int) -> int:
    """Projecting the encoder output to cross-attention keys and values in every decoder layer."""
    return shape.decoder_layers * 2 * source_length * 2 * shape.hidden_size * shape.key_value_width


def prefill_flops(shape: TransformerShape, input_length: int, batch_size: int = 1) -> int:
    """FLOPs up to the first generated token: the prompt through the encoder and one decoder step (encoder-decoder),
    or the prompt through the stack (decoder-only); logits for the last position only, as `generate()` asks."""
    head = 2 * shape.hidden_size * shape.vocab_size
    if shape.is_encoder_decoder:
        encoder = _stack(shape, shape.encoder_layers, input_length, input_length)
        decoder = _stack(shape, shape.decoder_layers, 1, 1, cross_keys=input_length)
        return batch_size * (encoder + _cross_key_values(shape, input_length) + decoder + head)
    return batch_size * (_stack(shape, shape.decoder_layers, input_length, input_length) + head)


def decode_step_flops(
    shape: TransformerShape, input_length: int, generated: int, batch_size: int = 1, use_cache: bool = True
) -> int:
    """FLOPs of the step that produces token `generated + 1`, `generated` tokens after the first one.

    With the cache, one token goes through the decoder. Without it (`use_cache=False`), the decoder re-runs over
    every output token so far and, in an encoder-decoder, re-projects the encoder output for cross-attention.
    """
    head = 2 * shape.hidden_size * shape.vocab_size
    if shape.is_encoder_decoder:
        # the decoder input is the start token plus `generated + 1` generated tokens minus the newest one
        length = generated + 1
        if use_cache:
            decoder = _stack(shape, shape.decoder_layers, 1, length + 1, cross_keys=input_length)
        else:
            decoder = _stack(shape, shape.decoder_layers, length + 1, length + 1, cross_keys=input_length)
            decoder += _cross_key_values(shape, input_length)
        return batch_size * (decoder + head)
    length = input_length + generated + 1
    tokens = 1 if use_cache else length
    return batch_size * (_stack(shape, shape.decoder_layers, tokens, length) + head)


def generation_flops(
    shape: TransformerShape, input_length: int, new_tokens: int, batch_size: int = 1, use_cache: bool = True
) -> dict[str, int]:
    """Prefill, decode and total FLOPs of generating `new_tokens` tokens after an `input_length`-token prompt."""
    prefill = prefill_flops(shape, input_length, batch_size)
    decode = sum(
        decode_step_flops(shape, input_length, generated, batch_size, use_cache) for generated in range(new_tokens - 1)
    )
    return {"prefill": prefill, "decode": decode, "total": prefill + decode}


@torch.no_grad()
def counted_flops(model: PreTrainedModel, input_ids: torch.Tensor) -> dict[str, int]:
    """`torch.utils.flop_counter`'s count of the prefill forward and of the first cached decoding step, to check the
    analytic count against. Attention runs eagerly meanwhile: the counter has no formula for the CPU SDPA kernel."""
    attn_implementation = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        if model.config.is_encoder_decoder:
            start = torch.full((input_ids.shape[0], 1), model.config.decoder_start_token_id, device=input_ids.device)
            with FlopCounterMode(display=False) as prefill:
                outputs = model(input_ids=input_ids, decoder_input_ids=start, use_cache=True)
            encoder_outputs = BaseModelOutput(last_hidden_state=outputs.encoder_last_hidden_state)
            with FlopCounterMode(display=False) as step:
                model(
                    encoder_outputs=encoder_outputs,
                    decoder_input_ids=start,
                    past_key_values=outputs.past_key_values,
                    use_cache=True,
                )
        else:
            with FlopCounterMode(display=False) as prefill:
                outputs = model(input_ids=input_ids, use_cache=True, logits_to_keep=1)
            with FlopCounterMode(display=False) as step:
                model(input_ids=input_ids[:, :1], past_key_values=outputs.past_key_values, logits_to_keep=1)
    finally:
        model.set_attn_implementation(attn_implementation)
    return {"prefill": prefill.get_total_flops(), "decode_step": step.get_total_flops()}
