# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Mu on CTranslate2: a model loader registered with CTranslate2's Transformers converter.

Importing this module registers [`MuLoader`] for `MuConfig`, so that CTranslate2's own `TransformersConverter` (and
its `ct2-transformers-converter` command, given `mu` is imported) converts a Mu folder; [`export_ctranslate2`] does
so with the tokenizer and generation config copied beside the model. Mu maps onto CTranslate2's pre-norm Transformer
spec: RMSNorm, rotary embeddings on the whole head (halves rotated, not interleaved), grouped-query attention with a
head size of its own, tanh-GELU, linear biases. The encoder's centred positions give the same attention as
CTranslate2's positions from 0, rotary scores depending on relative positions only.
"""

from pathlib import Path

import torch
from ctranslate2.converters import TransformersConverter
from ctranslate2.converters.transformers import ModelLoader, register_loader
from ctranslate2.specs import TransformerDecoderSpec, TransformerEncoderSpec, TransformerSpec, common_spec
from transformers import PreTrainedTokenizerBase

from ..configuration_mu import MuConfig
from ..modeling_mu import MuForConditionalGeneration

QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32")
# Files of a Mu folder that generation with the converted model reads.
COPIED_FILES = ("tokenizer.json", "tokenizer_config.json", "generation_config.json")


@register_loader(MuConfig.__name__)
class MuLoader(ModelLoader):
    """Builds CTranslate2's `TransformerSpec` from a text [`MuForConditionalGeneration`]."""

    @property
    def architecture_name(self) -> str:
        return "AutoModelForSeq2SeqLM"

    def get_model_spec(self, model: MuForConditionalGeneration) -> TransformerSpec:
        config = model.config
        if config.vision_config is not None:
            raise ValueError(
                "CTranslate2 has no image tower for Mu: a vision checkpoint cannot be converted (its text-only "
                "generation would drop the images)."
            )
        if config.rope_scaling_factor > 1.0:
            raise ValueError(
                f"rope_scaling_factor {config.rope_scaling_factor}: Mu's NTK scaling grows the rotary base with each "
                "input's length beyond max_position_embeddings, which CTranslate2 cannot express."
            )
        if config.hidden_act != "gelu_pytorch_tanh":
            raise ValueError(f"hidden_act {config.hidden_act!r}: the CTranslate2 spec maps tanh-GELU only.")
        layout = {
            "pre_norm": True,
            "activation": common_spec.Activation.GELUTanh,
            "rms_norm": True,
            "num_heads_kv": config.num_key_value_heads,
            "head_dim": config.head_dim,
            "rotary_dim": 0,  # the whole head
            "rotary_interleave": False,
            "rotary_base": config.rope_theta,
        }
        encoder = TransformerEncoderSpec(config.encoder_layers, config.num_attention_heads, **layout)
        decoder = TransformerDecoderSpec(config.decoder_layers, config.num_attention_heads, **layout)
        embeddings = model.get_input_embeddings()
        self.set_embeddings(encoder.embeddings[0], embeddings)
        self.set_embeddings(decoder.embeddings, embeddings)
        encoder.scale_embeddings = decoder.scale_embeddings = False
        for spec, layer in zip(encoder.layer, model.model.encoder.layers):
            self._set_self_attention(spec.self_attention, layer)
            self._set_feed_forward(spec.ffn, layer)
        for spec, layer in zip(decoder.layer, model.model.decoder.layers):
            self._set_self_attention(spec.self_attention, layer)
            self._set_norm(spec.attention.layer_norm, layer.pre_cross_attn_layernorm)
            cross_attention = layer.cross_attn
            self.set_linear(spec.attention.linear[0], cross_attention.q_proj)
            self._set_fused_linear(spec.attention.linear[1], cross_attention.k_proj, cross_attention.v_proj)
            self.set_linear(spec.attention.linear[2], cross_attention.o_proj)
            self._set_feed_forward(spec.ffn, layer)
        self._set_norm(encoder.layer_norm, model.model.encoder.norm)
        self._set_norm(decoder.layer_norm, model.model.decoder.norm)
        self.set_linear(decoder.projection, model.get_output_embeddings())
        return TransformerSpec(encoder, decoder)

    def set_config(self, config, model: MuForConditionalGeneration, tokenizer: PreTrainedTokenizerBase) -> None:
        config.layer_norm_epsilon = model.config.rms_norm_eps
        config.decoder_start_token = tokenizer.convert_ids_to_tokens(model.config.decoder_start_token_id)
        config.bos_token = tokenizer.bos_token
        config.eos_token = tokenizer.eos_token
        config.unk_token = tokenizer.unk_token

    def set_vocabulary(self, spec: TransformerSpec, tokens: list[str]) -> None:
        spec.register_source_vocabulary(tokens)
        spec.register_target_vocabulary(tokens)

    def _set_norm(self, spec, norm: torch.nn.Module) -> None:
        spec.gamma = norm.weight

    def _set_fused_linear(self, spec, *linears: torch.nn.Linear) -> None:
        """One linear whose output is the given linears' outputs, concatenated."""
        spec.weight = torch.cat([linear.weight for linear in linears])
        if linears[0].bias is not None:
            spec.bias = torch.cat([linear.bias for linear in linears])

    def _set_self_attention(self, spec, layer: torch.nn.Module) -> None:
        self._set_norm(spec.layer_norm, layer.pre_self_attn_layernorm)
        attention = layer.self_attn
        self._set_fused_linear(spec.linear[0], attention.q_proj, attention.k_proj, attention.v_proj)
        self.set_linear(spec.linear[1], attention.o_proj)

    def _set_feed_forward(self, spec, layer: torch.nn.Module) -> None:
        self._set_norm(spec.layer_norm, layer.pre_feedforward_layernorm)
        self.set_linear(spec.linear_0, layer.mlp.fc1)
        self.set_linear(spec.linear_1, layer.mlp.fc2)


def export_ctranslate2(model_dir: str | Path, output_dir: str | Path, quantization: str | None = None) -> Path:
    """Converts the Mu folder `model_dir` into a CTranslate2 model in `output_dir`, with its tokenizer and
    generation config beside it; `quantization` is one of `QUANTIZATIONS` (default: the weights as they are)."""
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization {quantization!r}: choose one of {', '.join(QUANTIZATIONS)}.")
    output = Path(output_dir)
    if output.is_dir() and any(output.iterdir()):  # CTranslate2 would delete what is there
        raise ValueError(f"{output} is not empty: give a new or empty folder.")
    copied = [name for name in COPIED_FILES if (Path(model_dir) / name).is_file()]
    converter = TransformersConverter(str(model_dir), copy_files=copied)
    return Path(converter.convert(str(output), quantization=quantization, force=True))
