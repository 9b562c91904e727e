# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""PyTorch Mu: the encoder-decoder small language model of "Return of the Encoder" (arXiv 2501.16273)."""

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import nn
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.generation import GenerationMixin
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutput,
    BaseModelOutputWithPast,
    BaseModelOutputWithPastAndCrossAttentions,
    BaseModelOutputWithPooling,
    CausalLMOutputWithPast,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, PreTrainedModel
from transformers.models.clip.modeling_clip import CLIPVisionModel
from transformers.models.llava_onevision.modeling_llava_onevision import (
    get_anyres_image_grid_shape,
    image_size_to_num_patches,
    unpad_image,
)
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs, can_return_tuple, logging, torch_compilable_check
from transformers.utils.deprecation import deprecate_kwarg
from transformers.utils.generic import ModelOutput, merge_with_config_defaults
from transformers.utils.output_capturing import OutputRecorder, capture_outputs, maybe_install_capturing_hooks

from .configuration_mu import MuConfig

logger = logging.get_logger(__name__)

# transformers 5.24 renamed the cache argument and output field from `past_key_values` to `cache`; Mu runs on both
# sides of the rename, and this is the one place that knows about it. The forwards take `cache` and still accept
# `past_key_values`: silently where it is the installed version's own name (`generate()` passes it every step), with
# transformers' deprecation warning after the rename. Outputs are built under the field name the version declares.
CACHE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"
accepts_past_key_values = deprecate_kwarg(
    "past_key_values",
    version="5.40.0" if CACHE_FIELD == "cache" else "5.0.0",
    new_name="cache",
    raise_if_both_names=True,
)


def check_cache_arguments(kwargs: dict) -> None:
    """Refuses a cache handed over under a name Mu does not read (e.g. by a `generate()` from a future rename):
    ignored, it would make every decoding step start from an empty cache and silently change the output."""
    for name, value in kwargs.items():
        if isinstance(value, Cache):
            raise ValueError(
                f"Mu received its cache as `{name}`, an argument it does not read; it reads `cache` (or "
                "`past_key_values`). This transformers version passes the cache under a name this Mu code predates: "
                "install a transformers version that Mu supports (see its README)."
            )


class MuRMSNorm(nn.Module):
    """Root-mean-square norm with a learnt scale and no bias, computed in float32."""

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, eps={self.variance_epsilon}"


class MuMLP(nn.Module):
    """Two linears around the activation (not gated), then dropout."""

    def __init__(self, config: MuConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size, bias=config.mlp_bias)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.mlp_bias)
        self.act_fn = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.act_fn(self.fc1(hidden_states))))


class MuRotaryEmbedding(nn.Module):
    """
    Rotary embedding with Mu's NTK scaling. The base frequencies are a buffer; beyond `max_position_embeddings` the
    base grows with each sample's own length (`sequence_lengths`), so a sample's result never depends on the padding
    around it. transformers' `dynamic` RoPE scales by the longest position of the batch and has no `v2` formula,
    hence the scaling lives here.
    """

    inv_freq: torch.Tensor

    def __init__(self, config: MuConfig, device: torch.device | None = None):
        super().__init__()
        self.config = config
        self.rope_type = "default"
        inv_freq, self.attention_scaling = self.compute_default_rope_parameters(config, device)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("original_inv_freq", inv_freq.clone(), persistent=False)

    @staticmethod
    def compute_default_rope_parameters(
        config: MuConfig, device: torch.device | None = None, seq_len: int | None = None
    ) -> tuple[torch.Tensor, float]:
        """The unscaled inverse frequencies `1 / theta^(2i/d)` and the (unused) attention scaling."""
        dim = config.head_dim
        inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, device=device, dtype=torch.float) / dim))
        return inv_freq, 1.0

    def _scaled_inv_freq(self, sequence_lengths: torch.Tensor) -> torch.Tensor:
        """Per-sample inverse frequencies `(batch, dim / 2)` with the base grown for samples longer than the
        training length."""
        config = self.config
        factor, max_length, dim = config.rope_scaling_factor, config.max_position_embeddings, config.head_dim
        effective_length = sequence_lengths.to(torch.float64).clamp(min=max_length)
        growth = factor * effective_length / max_length - (factor - 1)
        if config.rope_ntk_variant == "v1":
            growth = growth ** (dim / (dim - 2))
        base = (config.rope_theta * growth).to(torch.float32)[:, None]
        exponents = torch.arange(0, dim, 2, device=sequence_lengths.device, dtype=torch.float) / dim
        return 1.0 / (base**exponents)

    @torch.no_grad()
    def forward(
        self, x: torch.Tensor, position_ids: torch.Tensor, sequence_lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.rope_scaling_factor > 1.0 and sequence_lengths is not None:
            inv_freq = self._scaled_inv_freq(sequence_lengths)[:, None, :]
        else:
            inv_freq = self.inv_freq.to(device=x.device, dtype=torch.float)
        freqs = position_ids[..., None].float() * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos() * self.attention_scaling
        sin = emb.sin() * self.attention_scaling
        return cos.to(dtype=x.dtype), sin.to(dtype=x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Rotates half the hidden dims of the input."""
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, unsqueeze_dim: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Applies rotary position embeddings to queries and keys of shape `(batch, heads, seq, head_dim)`."""
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed, k_embed


def repeat_kv(hidden_states: torch.Tensor, n_rep: int) -> torch.Tensor:
    """`(batch, kv_heads, seq, head_dim)` -> `(batch, kv_heads * n_rep, seq, head_dim)`; query head h reads KV
    head `h // n_rep`."""
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Unpack[TransformersKwargs],
) -> tuple[torch.Tensor, torch.Tensor]:
    key_states = repeat_kv(key, module.num_key_value_groups)
    value_states = repeat_kv(value, module.num_key_value_groups)

    attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask

    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value_states)
    attn_output = attn_output.transpose(1, 2).contiguous()
    return attn_output, attn_weights


class MuAttention(nn.Module):
    """Grouped-query attention projections (attention width `attention_hidden_size`, which may differ from the
    hidden size) and the dispatch to the configured attention implementation."""

    def __init__(self, config: MuConfig, layer_idx: int, is_causal: bool):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.is_causal = is_causal
        self.head_dim = config.head_dim
        self.num_key_value_groups = config.num_attention_heads // config.num_key_value_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout

        kv_size = config.num_key_value_heads * self.head_dim
        self.q_proj = nn.Linear(config.hidden_size, config.attention_hidden_size, bias=config.attention_bias)
        self.k_proj = nn.Linear(config.hidden_size, kv_size, bias=config.attention_bias)
        self.v_proj = nn.Linear(config.hidden_size, kv_size, bias=config.attention_bias)
        self.o_proj = nn.Linear(config.attention_hidden_size, config.hidden_size, bias=config.attention_bias)

    def _project(self, projection: nn.Linear, hidden_states: torch.Tensor) -> torch.Tensor:
        """`(batch, seq, hidden)` -> `(batch, heads, seq, head_dim)`."""
        return projection(hidden_states).view(*hidden_states.shape[:-1], -1, self.head_dim).transpose(1, 2)

    def _attend(
        self,
        query_states: torch.Tensor,
        key_states: torch.Tensor,
        value_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query_states,
            key_states,
            value_states,
            attention_mask,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        attn_output = attn_output.reshape(*attn_output.shape[:2], -1).contiguous()
        return self.o_proj(attn_output), attn_weights


class MuSelfAttention(MuAttention):
    """Self-attention with RoPE: bidirectional in the encoder, causal and cached in the decoder."""

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None,
        cache: Cache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        query_states = self._project(self.q_proj, hidden_states)
        key_states = self._project(self.k_proj, hidden_states)
        value_states = self._project(self.v_proj, hidden_states)

        cos, sin = position_embeddings
        query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)

        if cache is not None:
            key_states, value_states = cache.update(key_states, value_states, self.layer_idx)
        return self._attend(query_states, key_states, value_states, attention_mask, **kwargs)


class MuCrossAttention(MuAttention):
    """Attention from the decoder over the encoder output, without RoPE. Its keys and values are projected once
    per sequence and kept in the cross-attention cache."""

    def __init__(self, config: MuConfig, layer_idx: int):
        super().__init__(config, layer_idx, is_causal=False)

    def key_value_states(self, encoder_hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The keys and values of the encoder output, as the cross-attention cache holds them."""
        return self._project(self.k_proj, encoder_hidden_states), self._project(self.v_proj, encoder_hidden_states)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        cache: EncoderDecoderCache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        query_states = self._project(self.q_proj, hidden_states)

        if cache is not None and cache.is_updated.get(self.layer_idx, False):
            cache_layer = cache.cross_attention_cache.layers[self.layer_idx]
            key_states, value_states = cache_layer.keys, cache_layer.values
        else:
            key_states, value_states = self.key_value_states(encoder_hidden_states)
            if cache is not None:
                key_states, value_states = cache.cross_attention_cache.update(key_states, value_states, self.layer_idx)
                cache.is_updated[self.layer_idx] = True
        return self._attend(query_states, key_states, value_states, attention_mask, **kwargs)


class MuEncoderLayer(GradientCheckpointingLayer):
    """Pre-norm encoder block: bidirectional self-attention with RoPE, then MLP."""

    is_causal = False

    def __init__(self, config: MuConfig, layer_idx: int):
        super().__init__()
        self.pre_self_attn_layernorm = MuRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.self_attn = MuSelfAttention(config, layer_idx, is_causal=self.is_causal)
        self.pre_feedforward_layernorm = MuRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.mlp = MuMLP(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None,
        cache: Cache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        residual = hidden_states
        hidden_states = self.pre_self_attn_layernorm(hidden_states)
        hidden_states, _ = self.self_attn(hidden_states, position_embeddings, attention_mask, cache=cache, **kwargs)
        hidden_states = residual + hidden_states

        residual = hidden_states
        hidden_states = self.mlp(self.pre_feedforward_layernorm(hidden_states))
        return residual + hidden_states


class MuDecoderOnlyLayer(MuEncoderLayer):
    """The decoder-only twin's block: the encoder block with causal, cached self-attention."""

    is_causal = True


class MuDecoderLayer(GradientCheckpointingLayer):
    """Pre-norm decoder block: causal self-attention with RoPE, cross-attention over the encoder output, MLP."""

    def __init__(self, config: MuConfig, layer_idx: int):
        super().__init__()
        self.pre_self_attn_layernorm = MuRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.self_attn = MuSelfAttention(config, layer_idx, is_causal=True)
        self.pre_cross_attn_layernorm = MuRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.cross_attn = MuCrossAttention(config, layer_idx)
        self.pre_feedforward_layernorm = MuRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.mlp = MuMLP(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None,
        cache: EncoderDecoderCache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        residual = hidden_states
        hidden_states = self.pre_self_attn_layernorm(hidden_states)
        hidden_states, _ = self.self_attn(
            hidden_states,
            position_embeddings,
            attention_mask,
            cache=cache.self_attention_cache if cache is not None else None,
            **kwargs,
        )
        hidden_states = residual + hidden_states

        residual = hidden_states
        hidden_states = self.pre_cross_attn_layernorm(hidden_states)
        hidden_states, _ = self.cross_attn(
            hidden_states, encoder_hidden_states, encoder_attention_mask, cache=cache, **kwargs
        )
        hidden_states = residual + hidden_states

        residual = hidden_states
        hidden_states = self.mlp(self.pre_feedforward_layernorm(hidden_states))
        return residual + hidden_states


class MuMultiModalProjector(nn.Module):
    """The reference's `mlp2x_gelu`: the tower's patch features to the text width, through two linears."""

    def __init__(self, config: MuConfig):
        super().__init__()
        bias = config.multimodal_projector_bias
        self.linear_1 = nn.Linear(config.vision_config.hidden_size, config.hidden_size, bias=bias)
        self.act = ACT2FN[config.projector_hidden_act]
        self.linear_2 = nn.Linear(config.hidden_size, config.hidden_size, bias=bias)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(image_features)))


class MuGenerationMixin(GenerationMixin):
    """`GenerationMixin` that makes sure each decoding step gets back the cache the previous step returned."""

    def _update_model_kwargs_for_generation(self, outputs: ModelOutput, model_kwargs: dict, *args, **kwargs) -> dict:
        # The one private `generate()` hook Mu overrides: transformers has no public one after a step. A cache that
        # does not reach the next step (a renamed argument or output field, as in transformers 5.24) would make every
        # step start from an empty cache and decode wrong tokens without a word.
        model_kwargs = super()._update_model_kwargs_for_generation(outputs, model_kwargs, *args, **kwargs)
        returned = getattr(outputs, CACHE_FIELD, None)
        if returned is not None and not any(
            model_kwargs.get(name) is returned for name in ("cache", "past_key_values")
        ):
            raise RuntimeError(
                "generate() did not carry the cache Mu returned into the next decoding step, so the next tokens would "
                "be wrong: this transformers version stores the cache under a name this Mu code predates. Install a "
                "transformers version that Mu supports (see its README)."
            )
        return model_kwargs


class MuPreTrainedModel(PreTrainedModel):
    """What every Mu model shares: its config class, the attention backends it supports, weight initialisation, the
    shift of labels into decoder inputs, and loading that refuses checkpoints that do not fit."""

    config: MuConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["MuEncoderLayer", "MuDecoderLayer", "MuDecoderOnlyLayer", "CLIPEncoderLayer"]
    _skip_keys_device_placement = ["cache"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _can_compile_fullgraph = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, MuEncoder) and module.image_newline is not None:
            init.normal_(module.image_newline, std=1 / math.sqrt(self.config.hidden_size))

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Shifts `labels` one step right behind `decoder_start_token_id`; ignored positions (-100) become padding."""
        decoder_start_token_id = self.config.decoder_start_token_id
        pad_token_id = self.config.pad_token_id
        if decoder_start_token_id is None or pad_token_id is None:
            raise ValueError(
                "`config.decoder_start_token_id` and `config.pad_token_id` must be set to train on labels."
            )
        shifted = labels.new_full(labels.shape, pad_token_id)
        shifted[..., 1:] = labels[..., :-1]
        shifted[..., 0] = decoder_start_token_id
        return shifted.masked_fill(shifted == -100, pad_token_id)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """
        `PreTrainedModel.from_pretrained`: weights the checkpoint lacks are initialised and reported (logged, and in
        the `output_loading_info`), as in transformers, e.g. a head loaded over a base checkpoint. Two cases are
        refused with an error naming the tensors, where transformers would only log: weights of another shape
        (`ignore_mismatched_sizes=True` accepts them, as in transformers), and a checkpoint that holds weights but
        not most of this model's (more than half missing: the checkpoint of another model). A checkpoint without
        any weights initialises them all.
        """
        ignore_mismatched_sizes = kwargs.pop("ignore_mismatched_sizes", False)
        output_loading_info = kwargs.pop("output_loading_info", False)
        source = args[0] if args else kwargs.get("pretrained_model_name_or_path")
        try:
            model, loading_info = super().from_pretrained(
                *args, ignore_mismatched_sizes=True, output_loading_info=True, **kwargs
            )
        except SafetensorError as error:
            damaged = [str(path) for path in Path(str(source)).glob("*.safetensors") if not _opens(path)]
            raise OSError(
                f"Cannot read the weights of {source}: {', '.join(damaged) or 'a .safetensors file'} is damaged or "
                f"partly written ({error}). Save or download it again."
            ) from error
        missing, num_weights = sorted(loading_info["missing_keys"]), len(model.state_dict())
        holds_weights = len(missing) < num_weights or loading_info["unexpected_keys"]
        error = checkpoint_fit_error(
            f"The checkpoint at {source}",
            model,
            missing=missing if holds_weights and len(missing) > num_weights / 2 else (),
            mismatched=() if ignore_mismatched_sizes else loading_info["mismatched_keys"],
        )
        if error is not None:
            raise error
        return (model, loading_info) if output_loading_info else model


def checkpoint_fit_error(
    checkpoint: str,
    model: nn.Module,
    missing: Sequence[str] = (),
    unexpected: Sequence[str] = (),
    mismatched: Sequence[tuple[str, tuple, tuple]] = (),
) -> ValueError | None:
    """The error naming what of `checkpoint` does not fit `model`, built from its config (None if nothing): tensors
    `missing` from it, `unexpected` in it, and `mismatched` ones as `(name, checkpoint shape, model shape)`."""
    if len(missing) > 5:
        num_weights = len(model.state_dict())
        problems = [
            f"{len(missing)} of the model's {num_weights} weights are missing from it, e.g. {', '.join(missing[:5])}"
        ]
    else:
        problems = [f"missing: {name}" for name in missing]
    problems += [f"unexpected: {name}" for name in unexpected]
    problems += [
        f"shape mismatch for {name}: the model expects {tuple(expected)}, the checkpoint has {tuple(found)}"
        for name, found, expected in mismatched
    ]
    if not problems:
        return None
    return ValueError(
        f"{checkpoint} does not fit {type(model).__name__} built from its config:\n  " + "\n  ".join(problems)
    )


def _opens(safetensors_file: Path) -> bool:
    try:
        with safe_open(safetensors_file, "pt"):
            return True
    except (SafetensorError, OSError):
        return False


def _check_token_ids(input_ids: torch.Tensor, vocab_size: int, name: str) -> None:
    """Refuses empty inputs and ids outside the vocabulary with a message instead of an indexing error."""
    if input_ids.dim() != 2:
        raise ValueError(f"`{name}` must have shape (batch, sequence), got {tuple(input_ids.shape)}.")
    if input_ids.numel() == 0:
        raise ValueError(f"`{name}` is empty: give at least one sequence of at least one token.")
    if torch.compiler.is_compiling():
        return
    smallest, largest = int(input_ids.min()), int(input_ids.max())
    if smallest < 0 or largest >= vocab_size:
        bad = smallest if smallest < 0 else largest
        raise ValueError(f"`{name}` holds token id {bad}, outside the vocabulary [0, {vocab_size}).")


def _check_attention_mask(attention_mask: torch.Tensor, expected_shape: torch.Size, name: str) -> None:
    if torch.compiler.is_compiling():
        return
    if attention_mask.dim() not in (2, 4):
        raise ValueError(
            f"`{name}` must have shape (batch, sequence) (or a 4-D mask), got {tuple(attention_mask.shape)}."
        )
    if attention_mask.dim() == 2 and attention_mask.shape != expected_shape:
        raise ValueError(
            f"`{name}` has shape {tuple(attention_mask.shape)}, but the inputs have shape {tuple(expected_shape)}."
        )


def default_attention_mask(
    input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor, pad_token_id: int | None
) -> torch.Tensor:
    """The mask used when none is given: the non-padding positions of `input_ids`, or every position of
    `inputs_embeds`."""
    if input_ids is not None and pad_token_id is not None:
        return (input_ids != pad_token_id).long()
    return torch.ones(inputs_embeds.shape[:2], device=inputs_embeds.device, dtype=torch.long)


def centered_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Encoder positions `p - (L - 1) // 2` over each sample's real tokens (L = its unpadded length), wherever the
    padding is; padded slots get position 0."""
    attention_mask = attention_mask.long()
    lengths = attention_mask.sum(-1, keepdim=True)
    positions = attention_mask.cumsum(-1) - 1 - (lengths - 1) // 2
    return positions * attention_mask


def embed_causal_inputs(
    embed_tokens: nn.Embedding,
    input_ids: torch.LongTensor | None,
    inputs_embeds: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    position_ids: torch.LongTensor | None,
    past_seen_tokens: int,
    name_prefix: str = "",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The embeddings and positions of the new tokens of a causal stack (default positions `0, 1, ...` continue
    after the cached tokens). Ids are checked on the first step only: ids the model generated itself need no check,
    and a compiled step is never the first one. The mask must cover the cached and the new tokens."""
    if inputs_embeds is None:
        if not torch.compiler.is_compiling() and past_seen_tokens == 0:
            _check_token_ids(input_ids, embed_tokens.num_embeddings, f"{name_prefix}input_ids")
        inputs_embeds = embed_tokens(input_ids)
    if attention_mask is not None:
        expected_shape = (inputs_embeds.shape[0], past_seen_tokens + inputs_embeds.shape[1])
        _check_attention_mask(attention_mask, expected_shape, f"{name_prefix}attention_mask")
    if position_ids is None:
        position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device) + past_seen_tokens
        position_ids = position_ids.unsqueeze(0)
    return inputs_embeds, position_ids


def causal_sequence_lengths(
    config: MuConfig, inputs_embeds: torch.Tensor, past_seen_tokens: int
) -> torch.Tensor | None:
    """The lengths NTK scaling sees in a causal stack (the cached tokens plus the new ones); `None` without
    scaling."""
    if config.rope_scaling_factor == 1.0:
        return None
    length = past_seen_tokens + inputs_embeds.shape[1]
    return torch.full((inputs_embeds.shape[0],), length, device=inputs_embeds.device)


class MuEncoder(MuPreTrainedModel):
    """The bidirectional stack. With a `vision_config` it also holds the image tower, the projector and the
    `image_newline` vector, and encodes images at the `<image>` placeholders of its input."""

    input_modalities = ("image", "text")
    _can_record_outputs = {"attentions": MuSelfAttention, "hidden_states": MuEncoderLayer}

    def __init__(self, config: MuConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList([MuEncoderLayer(config, layer_idx) for layer_idx in range(config.encoder_layers)])
        self.norm = MuRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = MuRotaryEmbedding(config)
        if config.vision_config is not None:
            self.vision_tower = CLIPVisionModel(config.vision_config)
            self.multi_modal_projector = MuMultiModalProjector(config)
            self.image_newline = nn.Parameter(torch.empty(config.hidden_size))
        else:
            self.vision_tower = self.multi_modal_projector = self.image_newline = None
        self.gradient_checkpointing = False
        self.post_init()

    @can_return_tuple
    # Adapted from transformers.models.llava_onevision.modeling_llava_onevision.LlavaOnevisionModel.get_image_features:
    # Mu's config has no `vision_feature_select_strategy` (the CLS state is always dropped), the tiles are cast to the
    # tower's dtype, and the encoder's output-capturing hooks are installed before the tower runs.
    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        image_sizes: torch.Tensor,
        batch_num_images: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple | BaseModelOutputWithPooling:
        """
        Encodes images as the processor prepared them. Returns the tower's output with `pooler_output` set to the
        packed features, one `(num_features, hidden_size)` tensor per image. The tower's hidden states are always
        returned (the projector reads one of them); `output_attentions` and `return_dict` work as in transformers.

        Args:
            pixel_values (`torch.Tensor` of shape `(num_images, max_num_tiles, channels, height, width)`):
                Each image's tiles, the whole image resized first; zero tiles pad the shorter images.
            image_sizes (`torch.Tensor` of shape `(num_images, 2)`): Each image's original (height, width).
            batch_num_images (`torch.Tensor`, *optional*): The image processor's count of images per prompt that
                has images; an image counted with others is encoded as a single tile, not tiled.
        """
        if self.vision_tower is None:
            raise ValueError(
                "This Mu model is text-only (`config.vision_config` is None): it cannot encode `pixel_values`."
            )
        if pixel_values.dim() != 5:
            raise ValueError(
                "`pixel_values` must have shape (num_images, num_tiles, channels, height, width), got "
                f"{tuple(pixel_values.shape)}."
            )
        if image_sizes is None or len(image_sizes) != pixel_values.shape[0]:
            raise ValueError("`image_sizes` must give the original (height, width) of every image in `pixel_values`.")
        tiled_images = [True] * len(image_sizes)
        if batch_num_images is not None:
            tiled_images = [int(count) == 1 for count in batch_num_images for _ in range(int(count))]
        num_tiles = [
            image_size_to_num_patches(size, self.config.image_grid_pinpoints, self.config.vision_config.image_size)
            if tiled
            else 1
            for size, tiled in zip(image_sizes, tiled_images)
        ]
        tiles = torch.cat([image[:count] for image, count in zip(pixel_values, num_tiles)])
        # The encoder's output-capturing hooks cover the tower; installed after the tower's own, they would record
        # each tower layer twice and shift `hidden_states`.
        maybe_install_capturing_hooks(self)
        kwargs["output_hidden_states"] = True
        tower_outputs = self.vision_tower(tiles.to(self.vision_tower.dtype), return_dict=True, **kwargs)
        patch_features = tower_outputs.hidden_states[self.config.vision_feature_layer][:, 1:]
        features = self.multi_modal_projector(patch_features).split(num_tiles)
        tower_outputs.pooler_output = [
            self.pack_image_features(feature, size) for feature, size in zip(features, image_sizes)
        ]
        return tower_outputs

    # Adapted from transformers.models.llava_onevision.modeling_llava_onevision.LlavaOnevisionModel
    # .pack_image_features: there a whole batch is packed on a LLaVA-OneVision model; here one image at a time,
    # untiled images included.
    def pack_image_features(self, tile_features: torch.Tensor, image_size: torch.Tensor) -> torch.Tensor:
        """
        LLaVA-OneVision's `anyres_max_N` packing of one image: the whole-image tile's features, then the other
        tiles' features laid out on the image's patch grid, with the padding added by the tiling cut off,
        downsampled (bilinear) when larger than N tiles, and `image_newline` closing each row. An image encoded as
        one tile gets its features and one `image_newline`.
        """
        base_features = tile_features[0]
        if tile_features.shape[0] == 1:
            return torch.cat([base_features, self.image_newline[None].to(base_features)])
        side = self.config.vision_config.image_size // self.config.vision_config.patch_size
        grid_height, grid_width = get_anyres_image_grid_shape(
            image_size, self.config.image_grid_pinpoints, self.config.vision_config.image_size
        )
        grid = tile_features[1:].view(grid_height, grid_width, side, side, -1)
        grid = grid.permute(4, 0, 2, 1, 3).flatten(1, 2).flatten(2, 3)  # (channels, rows, columns)
        grid = unpad_image(grid, image_size)
        _, rows, columns = grid.shape
        ratio = math.sqrt(rows * columns / (self.config.max_num_image_tiles * side**2))
        if ratio > 1.1:
            size = [int(rows // ratio), int(columns // ratio)]
            grid = nn.functional.interpolate(grid[None], size, mode="bilinear")[0]
        newlines = self.image_newline[:, None, None].expand(-1, grid.shape[1], 1).to(grid)
        grid = torch.cat([grid, newlines], dim=-1).flatten(1, 2).transpose(0, 1)
        return torch.cat([base_features, grid])

    def merge_image_features(
        self,
        input_ids: torch.LongTensor | None,
        inputs_embeds: torch.Tensor,
        image_features: list[torch.Tensor],
    ) -> torch.Tensor:
        """Writes the image features, in order, over the `<image>` placeholders of the embedded input."""
        image_features = torch.cat(image_features).to(inputs_embeds.device, inputs_embeds.dtype)
        if input_ids is not None:
            placeholders = input_ids == self.config.image_token_id
        else:
            image_token_embedding = self.embed_tokens.weight[self.config.image_token_id].to(inputs_embeds)
            placeholders = (inputs_embeds == image_token_embedding).all(-1)
        torch_compilable_check(
            placeholders.sum() == image_features.shape[0],
            lambda: (
                f"The input has {int(placeholders.sum())} `<image>` placeholder tokens but the images give "
                f"{image_features.shape[0]} features: build the input with the model's processor, which expands "
                "each `<image>` to its image's feature count."
            ),
        )
        return inputs_embeds.masked_scatter(placeholders[..., None], image_features)

    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_sizes: torch.Tensor | None = None,
        batch_num_images: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutput:
        r"""
        attention_mask (`torch.Tensor` of shape `(batch_size, sequence_length)`, *optional*):
            1 for real tokens, 0 for padding. Defaults to the non-`pad_token_id` positions of `input_ids`.
        position_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            RoPE positions; defaults to positions centered on each sample's unpadded length.
        inputs_embeds (`torch.Tensor` of shape `(batch_size, sequence_length, hidden_size)`, *optional*):
            Embeddings to encode instead of `input_ids`.
        pixel_values, image_sizes, batch_num_images:
            Images from [`MuProcessor`] (see [`~MuEncoder.get_image_features`]); their features replace the
            `<image>` placeholders of the input.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        kwargs.pop("cache", None)
        kwargs.pop("past_key_values", None)

        if inputs_embeds is None:
            _check_token_ids(input_ids, self.config.vocab_size, "input_ids")
            inputs_embeds = self.embed_tokens(input_ids)
        elif inputs_embeds.shape[1] == 0:
            raise ValueError("`inputs_embeds` is empty: give at least one position per sequence.")

        if pixel_values is not None:
            image_features = self.get_image_features(
                pixel_values, image_sizes, batch_num_images, return_dict=True
            ).pooler_output
            inputs_embeds = self.merge_image_features(input_ids, inputs_embeds, image_features)
        elif (
            self.vision_tower is not None
            and input_ids is not None
            and not torch.compiler.is_compiling()
            and bool((input_ids == self.config.image_token_id).any())
        ):
            raise ValueError("The input holds `<image>` placeholder tokens but no `pixel_values` were given.")

        if attention_mask is None:
            attention_mask = default_attention_mask(input_ids, inputs_embeds, self.config.pad_token_id)
        _check_attention_mask(attention_mask, inputs_embeds.shape[:2], "attention_mask")
        sequence_lengths = attention_mask.sum(-1)
        if not torch.compiler.is_compiling() and bool((sequence_lengths == 0).any()):
            empty = (sequence_lengths == 0).nonzero().flatten().tolist()
            raise ValueError(f"Input sequence(s) {empty} have no tokens: the attention mask masks every position.")

        if position_ids is None:
            position_ids = centered_position_ids(attention_mask)

        self_attn_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=inputs_embeds, attention_mask=attention_mask
        )
        position_embeddings = self.rotary_emb(inputs_embeds, position_ids, sequence_lengths)

        hidden_states = inputs_embeds
        for encoder_layer in self.layers:
            hidden_states = encoder_layer(hidden_states, position_embeddings, self_attn_mask, **kwargs)
        hidden_states = self.norm(hidden_states)
        return BaseModelOutput(last_hidden_state=hidden_states)


class MuDecoder(MuPreTrainedModel):
    """The causal stack: each block attends to the tokens so far (cached) and to the encoder's output."""

    _can_record_outputs = {
        "attentions": OutputRecorder(MuSelfAttention, index=1),
        "cross_attentions": OutputRecorder(MuCrossAttention, index=1),
        "hidden_states": MuDecoderLayer,
    }

    def __init__(self, config: MuConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList([MuDecoderLayer(config, layer_idx) for layer_idx in range(config.decoder_layers)])
        self.norm = MuRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = MuRotaryEmbedding(config)
        self.gradient_checkpointing = False
        self.post_init()

    @accepts_past_key_values
    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPastAndCrossAttentions:
        r"""
        position_ids (`torch.LongTensor` of shape `(batch_size, target_sequence_length)`, *optional*):
            RoPE positions; default to `0, 1, ...` from the decoder start token, continuing after the cached tokens.
        encoder_hidden_states (`torch.Tensor` of shape `(batch_size, source_sequence_length, hidden_size)`):
            Output of the encoder, attended to by cross-attention.
        encoder_attention_mask (`torch.Tensor` of shape `(batch_size, source_sequence_length)`, *optional*):
            Padding mask of the encoder input.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of decoder_input_ids or decoder_inputs_embeds")
        if encoder_hidden_states is None:
            raise ValueError("The decoder needs `encoder_hidden_states`: run the encoder first.")

        check_cache_arguments(kwargs)
        if use_cache and cache is None and not self.training:
            cache = EncoderDecoderCache(DynamicCache(config=self.config), DynamicCache())
        past_seen_tokens = cache.get_seq_length() if cache is not None else 0
        inputs_embeds, position_ids = embed_causal_inputs(
            self.embed_tokens, input_ids, inputs_embeds, attention_mask, position_ids, past_seen_tokens, "decoder_"
        )
        if encoder_attention_mask is not None:
            _check_attention_mask(encoder_attention_mask, encoder_hidden_states.shape[:2], "attention_mask")

        self_attn_mask = create_causal_mask(
            self.config,
            inputs_embeds,
            attention_mask,
            cache.self_attention_cache if cache is not None else None,  # positional: named by `CACHE_FIELD`
            position_ids=position_ids,
        )
        cross_attn_mask = create_bidirectional_mask(
            config=self.config,
            inputs_embeds=inputs_embeds,
            attention_mask=encoder_attention_mask,
            encoder_hidden_states=encoder_hidden_states,
        )
        position_embeddings = self.rotary_emb(
            inputs_embeds, position_ids, causal_sequence_lengths(self.config, inputs_embeds, past_seen_tokens)
        )

        hidden_states = inputs_embeds
        for decoder_layer in self.layers:
            hidden_states = decoder_layer(
                hidden_states,
                position_embeddings,
                self_attn_mask,
                encoder_hidden_states,
                cross_attn_mask,
                cache=cache,
                **kwargs,
            )
        hidden_states = self.norm(hidden_states)
        return BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=hidden_states, **{CACHE_FIELD: cache if use_cache else None}
        )


class MuModel(MuPreTrainedModel):
    """The encoder and the decoder around one shared embedding, without a head: the decoder's last hidden states."""

    input_modalities = ("image", "text")
    _tied_weights_keys = {
        "encoder.embed_tokens.weight": "shared.weight",
        "decoder.embed_tokens.weight": "shared.weight",
    }

    def __init__(self, config: MuConfig):
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.hidden_size)
        self.encoder = MuEncoder(config)
        self.decoder = MuDecoder(config)
        self.post_init()

    def get_expanded_tied_weights_keys(self, all_submodels: bool = False) -> dict:
        # The encoder and decoder always share one embedding; `tie_word_embeddings` only governs the LM head.
        if all_submodels:
            return super().get_expanded_tied_weights_keys(all_submodels=True)
        return dict(self._tied_weights_keys)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.shared

    def set_input_embeddings(self, new_embeddings: nn.Embedding) -> None:
        self.shared = new_embeddings
        self.encoder.embed_tokens = new_embeddings
        self.decoder.embed_tokens = new_embeddings

    def get_encoder(self, modality: str | None = None) -> MuEncoder:
        # One encoder reads text and images alike, whatever the modality asked for.
        return self.encoder

    @accepts_past_key_values
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        decoder_position_ids: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        image_sizes: torch.Tensor | None = None,
        batch_num_images: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> Seq2SeqModelOutput:
        r"""
        decoder_position_ids (`torch.LongTensor` of shape `(batch_size, target_sequence_length)`, *optional*):
            RoPE positions of the decoder inputs; default to `0, 1, ...` continuing after the cached tokens.
        pixel_values, image_sizes, batch_num_images:
            Images from [`MuProcessor`], encoded at the `<image>` placeholders of `input_ids`.
        """
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                inputs_embeds=inputs_embeds,
                pixel_values=pixel_values,
                image_sizes=image_sizes,
                batch_num_images=batch_num_images,
                **kwargs,
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(*encoder_outputs)
        encoder_hidden_states = encoder_outputs.last_hidden_state

        if attention_mask is None and input_ids is not None:  # the encoder masked padding; cross-attention must too
            attention_mask = default_attention_mask(input_ids, encoder_hidden_states, self.config.pad_token_id)

        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            position_ids=decoder_position_ids,
            inputs_embeds=decoder_inputs_embeds,
            cache=cache,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=attention_mask,
            use_cache=use_cache,
            **kwargs,
        )

        return Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            **{CACHE_FIELD: getattr(decoder_outputs, CACHE_FIELD)},
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
        )


class MuForConditionalGeneration(MuPreTrainedModel, MuGenerationMixin):
    """Mu with its language-model head: what `AutoModelForSeq2SeqLM` (and, with a vision tower,
    `AutoModelForImageTextToText`) loads, trains on `labels` and runs with `generate()`."""

    input_modalities = ("image", "text")
    _tied_weights_keys = {"lm_head.weight": "model.shared.weight"}

    def __init__(self, config: MuConfig):
        super().__init__(config)
        self.model = MuModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=config.lm_head_bias)
        # labels are already aligned with the decoder inputs: no second shift in the loss
        self.loss_type = "ForMaskedLM"
        self.post_init()

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        # `register_for_auto_class` records one Auto class; the same class also serves `AutoModelForImageTextToText`
        # (the image-text-to-text pipeline), so its remote-code entry is added next to the recorded one.
        if self._auto_class is not None:
            module = type(self).__module__.rsplit(".", 1)[-1]
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map["AutoModelForImageTextToText"] = f"{module}.{type(self).__name__}"
            self.config.auto_map = auto_map
        super().save_pretrained(save_directory, *args, **kwargs)

    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        image_sizes: torch.Tensor,
        batch_num_images: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple | BaseModelOutputWithPooling:
        """The tower's output, with `pooler_output` the packed features of each image as the encoder places them
        at its `<image>` placeholders (see [`MuEncoder.get_image_features`])."""
        return self.get_encoder().get_image_features(pixel_values, image_sizes, batch_num_images, **kwargs)

    @accepts_past_key_values
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        decoder_position_ids: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        pixel_values: torch.Tensor | None = None,
        image_sizes: torch.Tensor | None = None,
        batch_num_images: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> Seq2SeqLMOutput:
        r"""
        pixel_values (`torch.Tensor` of shape `(num_images, max_num_tiles, channels, height, width)`, *optional*):
            Image tiles from [`MuProcessor`]; their features replace the `<image>` placeholders of `input_ids` in
            the encoder input. The encoder runs once per `generate()` call, images included.
        image_sizes (`torch.Tensor` of shape `(num_images, 2)`, *optional*): Original (height, width) of each image.
        batch_num_images (`torch.Tensor`, *optional*): The image processor's count of images per prompt that has
            images (several images in one prompt are encoded as single tiles).
        labels (`torch.LongTensor` of shape `(batch_size, target_sequence_length)`, *optional*):
            Target token ids; -100 marks positions left out of the loss. Without `decoder_input_ids`, the decoder
            is fed `labels` shifted right behind `decoder_start_token_id`.
        logits_to_keep (`int` or `torch.Tensor`, *optional*):
            Compute logits for the last `logits_to_keep` positions only (0 = all), or for the given indices.
        """
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)

        outputs: Seq2SeqModelOutput = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            decoder_position_ids=decoder_position_ids,
            encoder_outputs=encoder_outputs,
            cache=cache,
            inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds,
            pixel_values=pixel_values,
            image_sizes=image_sizes,
            batch_num_images=batch_num_images,
            use_cache=use_cache,
            **kwargs,
        )

        hidden_states = outputs.last_hidden_state
        slice_indices = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, slice_indices, :])

        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)

        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{CACHE_FIELD: getattr(outputs, CACHE_FIELD)},
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
        )


class MuDecoderOnlyModel(MuPreTrainedModel):
    """The stack of the decoder-only twin: causal blocks of self-attention and MLP with Mu's widths, norms and RoPE,
    as many as the encoder and the decoder of `config` together (see [`MuConfig.decoder_only`])."""

    _can_record_outputs = {
        "attentions": OutputRecorder(MuSelfAttention, index=1),
        "hidden_states": MuDecoderOnlyLayer,
    }

    def __init__(self, config: MuConfig):
        config = config.decoder_only()
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            [MuDecoderOnlyLayer(config, layer_idx) for layer_idx in range(config.num_hidden_layers)]
        )
        self.norm = MuRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = MuRotaryEmbedding(config)
        self.gradient_checkpointing = False
        self.post_init()

    @accepts_past_key_values
    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPast:
        r"""
        position_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            RoPE positions; default to `0, 1, ...` continuing after the cached tokens.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")

        check_cache_arguments(kwargs)
        if use_cache and cache is None and not self.training:
            cache = DynamicCache(config=self.config)
        past_seen_tokens = cache.get_seq_length() if cache is not None else 0
        inputs_embeds, position_ids = embed_causal_inputs(
            self.embed_tokens, input_ids, inputs_embeds, attention_mask, position_ids, past_seen_tokens
        )

        causal_mask = create_causal_mask(
            self.config,
            inputs_embeds,
            attention_mask,
            cache,  # positional: named by `CACHE_FIELD`
            position_ids=position_ids,
        )
        position_embeddings = self.rotary_emb(
            inputs_embeds, position_ids, causal_sequence_lengths(self.config, inputs_embeds, past_seen_tokens)
        )

        hidden_states = inputs_embeds
        for layer in self.layers:
            hidden_states = layer(hidden_states, position_embeddings, causal_mask, cache=cache, **kwargs)
        hidden_states = self.norm(hidden_states)
        return BaseModelOutputWithPast(last_hidden_state=hidden_states, **{CACHE_FIELD: cache if use_cache else None})


class MuForCausalLM(MuPreTrainedModel, MuGenerationMixin):
    """
    The decoder-only twin of Mu (the paper's "decoder-only counterpart"): the same blocks and widths, with all
    `encoder_layers + decoder_layers` layers in one causal stack (30 for the 330M config) and the LM head on top.
    Accepts an encoder-decoder [`MuConfig`] and keeps its decoder-only version, as `BartForCausalLM` does.
    """

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: MuConfig):
        config = config.decoder_only()
        super().__init__(config)
        self.model = MuDecoderOnlyModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=config.lm_head_bias)
        self.post_init()

    @accepts_past_key_values
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Unpack[TransformersKwargs],
    ) -> CausalLMOutputWithPast:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            Next-token targets, aligned with `input_ids` (the loss shifts them); -100 marks ignored positions.
        logits_to_keep (`int` or `torch.Tensor`, *optional*):
            Compute logits for the last `logits_to_keep` positions only (0 = all), or for the given indices.
        """
        outputs: BaseModelOutputWithPast = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )

        hidden_states = outputs.last_hidden_state
        slice_indices = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, slice_indices, :])

        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)

        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            **{CACHE_FIELD: getattr(outputs, CACHE_FIELD)},
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


__all__ = [
    "MuPreTrainedModel",
    "MuEncoder",
    "MuDecoder",
    "MuModel",
    "MuForConditionalGeneration",
    "MuDecoderOnlyModel",
    "MuForCausalLM",
]
