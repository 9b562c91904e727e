# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""
ONNX export of a text Mu: two graphs with dynamic batch and sequence axes, made by `torch.onnx.export(dynamo=True)`.

- `encoder_model.onnx`: `input_ids`, `attention_mask` -> `cross_key_{i}`, `cross_value_{i}` of every decoder layer.
  The encoder and the cross-attention projections are all that depends on the input, so they run once per prompt.
- `decoder_model.onnx`: one decoding step. `input_ids` (the new token), `encoder_attention_mask`, and per layer
  `past_key_{i}` / `past_value_{i}` (the self-attention cache, length 0 on the first step) and the cross keys and
  values -> `logits` and `present_key_{i}` / `present_value_{i}` (the cache grown by the new tokens).

optimum's exporter and `ORTModelForSeq2SeqLM` would be the ecosystem's way, but optimum-onnx requires
transformers < 4.58 and has no Mu config; the wrappers below are the two `nn.Module`s it would have traced, built on
Mu's own encoder, decoder and cache classes (no hand-written graph).
"""

import copy
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from ..modeling_mu import MuForConditionalGeneration

ENCODER_FILE = "encoder_model.onnx"
DECODER_FILE = "decoder_model.onnx"
QUANTIZATIONS = ("int8",)


class EncoderWithCrossKeyValues(nn.Module):
    """The encoder, then each decoder layer's cross-attention keys and values of its output."""

    def __init__(self, model: MuForConditionalGeneration):
        super().__init__()
        self.encoder = model.get_encoder()
        self.cross_attentions = nn.ModuleList(layer.cross_attn for layer in model.get_decoder().layers)

    def forward(self, input_ids: torch.LongTensor, attention_mask: torch.LongTensor) -> tuple[torch.Tensor, ...]:
        hidden_states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        key_values = []
        for attention in self.cross_attentions:
            key_values += attention.key_value_states(hidden_states)
        return tuple(key_values)


class DecoderStepWithCache(nn.Module):
    """One decoder step on flat cache tensors: they are put into Mu's `EncoderDecoderCache`, the decoder and the LM
    head run as in `generate()`, and the grown self-attention cache comes out flat again."""

    def __init__(self, model: MuForConditionalGeneration):
        super().__init__()
        self.decoder = model.get_decoder()
        self.lm_head = model.get_output_embeddings()
        self.num_layers = len(self.decoder.layers)

    def forward(
        self, input_ids: torch.LongTensor, encoder_attention_mask: torch.LongTensor, caches: list[torch.Tensor]
    ) -> tuple[torch.Tensor, ...]:
        self_attention, cross_attention = DynamicCache(), DynamicCache()
        for layer in range(self.num_layers):
            past_key, past_value, cross_key, cross_value = caches[4 * layer : 4 * layer + 4]
            self_attention.update(past_key, past_value, layer)
            cross_attention.update(cross_key, cross_value, layer)
        cache = EncoderDecoderCache(self_attention, cross_attention)
        for layer in range(self.num_layers):
            cache.is_updated[layer] = True
        # the cross-attention reads the cached keys/values; the decoder takes the encoder output for its shape only
        hidden_size = self.decoder.config.hidden_size
        encoder_shape = encoder_attention_mask[..., None].to(caches[2].dtype).expand(-1, -1, hidden_size)
        hidden_states = self.decoder(
            input_ids=input_ids,
            encoder_hidden_states=encoder_shape,
            encoder_attention_mask=encoder_attention_mask,
            cache=cache,
            use_cache=True,
        ).last_hidden_state
        present = []
        for layer in self_attention.layers:
            present += [layer.keys, layer.values]
        return (self.lm_head(hidden_states), *present)


def _check_exportable(model: nn.Module) -> None:
    if not isinstance(model, MuForConditionalGeneration):
        raise ValueError(f"ONNX export takes a MuForConditionalGeneration, got {type(model).__name__}.")
    if model.config.vision_config is not None:
        raise ValueError(
            "ONNX export covers text Mu models only: this checkpoint has a vision tower (`vision_config`), whose "
            "CLIP tower and image packing are not exported yet. Export a text-only checkpoint."
        )


def export_onnx(
    model: MuForConditionalGeneration, output_dir: str | Path, quantize: str | None = None
) -> dict[str, Path]:
    """
    Writes `encoder_model.onnx` and `decoder_model.onnx` (float32; `quantize="int8"`: their linears dynamically
    quantized to int8 by `onnxruntime.quantization`) with the model's config and generation config to `output_dir`.
    Returns the paths of the two graphs. The model is put in eval mode (a float32 CPU copy is exported when it is
    not float32 on the CPU). The
    graphs keep their weights inside (protobuf's 2 GB limit: up to about 500M parameters). The tokenizer files are
    the caller's to add (`mu export-onnx` copies them).
    """
    _check_exportable(model)
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantization {quantize!r}; choose one of {QUANTIZATIONS}.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if model.dtype != torch.float32 or model.device.type != "cpu":
        model = copy.deepcopy(model).to("cpu", torch.float32)
    model.eval()
    config = model.config
    layers = range(config.decoder_layers)

    batch, source, past = (
        torch.export.Dim(name, min=minimum) for name, minimum in (("batch", 1), ("source", 1), ("past", 0))
    )
    input_ids = torch.arange(3, 13).remainder(config.vocab_size).view(2, 5)
    attention_mask = torch.ones_like(input_ids)
    cross_names = [f"cross_{kind}_{layer}" for layer in layers for kind in ("key", "value")]
    cache_names = [
        f"{kind}_{layer}" for layer in layers for kind in ("past_key", "past_value", "cross_key", "cross_value")
    ]
    present_names = [f"present_{kind}_{layer}" for layer in layers for kind in ("key", "value")]

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        encoder = EncoderWithCrossKeyValues(model).eval()
        torch.onnx.export(
            encoder,
            (input_ids, attention_mask),
            scratch / ENCODER_FILE,
            dynamo=True,
            input_names=["input_ids", "attention_mask"],
            output_names=cross_names,
            dynamic_shapes=({0: batch, 1: source}, {0: batch, 1: source}),
            external_data=False,
            verbose=False,
        )
        with torch.no_grad():
            cross = encoder(input_ids, attention_mask)
        caches, cache_axes = [], []
        for layer in layers:
            # distinct tensors: the exporter would merge inputs given as one tensor object into one graph input
            past_key = torch.randn(2, config.num_key_value_heads, 3, config.head_dim)
            past_value = torch.randn(2, config.num_key_value_heads, 3, config.head_dim)
            caches += [past_key, past_value, cross[2 * layer], cross[2 * layer + 1]]
            cache_axes += [{0: batch, 2: past}, {0: batch, 2: past}, {0: batch, 2: source}, {0: batch, 2: source}]
        torch.onnx.export(
            DecoderStepWithCache(model).eval(),
            (input_ids[:, :1], attention_mask, caches),
            scratch / DECODER_FILE,
            dynamo=True,
            input_names=["input_ids", "encoder_attention_mask", *cache_names],
            output_names=["logits", *present_names],
            dynamic_shapes=({0: batch}, {0: batch, 1: source}, cache_axes),
            external_data=False,
            verbose=False,
        )
        config.save_pretrained(scratch)
        model.generation_config.save_pretrained(scratch)
        if quantize == "int8":
            return quantize_int8(scratch, output_dir)
        for path in scratch.iterdir():
            shutil.copyfile(path, output_dir / path.name)
    return {name: output_dir / name for name in (ENCODER_FILE, DECODER_FILE)}


def quantize_int8(source_dir: str | Path, output_dir: str | Path) -> dict[str, Path]:
    """Copies an ONNX export with its graphs' linears dynamically quantized to 8 bits by `onnxruntime.quantization`
    (weights per output channel, activations quantized on the fly); returns the paths of the two graphs.

    The weights are unsigned (U8U8 products): with signed weights (U8S8), ONNX Runtime's AVX2 kernels without VNNI
    saturate their 16-bit sums, which changed a tiny model's first greedy token on 42% of 24 prompts (12% with
    U8U8)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source_dir, output_dir = Path(source_dir), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for path in source_dir.iterdir():
        if path.name in (ENCODER_FILE, DECODER_FILE):
            paths[path.name] = output_dir / path.name
            quantize_dynamic(
                path, paths[path.name], weight_type=QuantType.QUInt8, per_channel=True, op_types_to_quantize=["MatMul"]
            )
        elif path.is_file():
            shutil.copyfile(path, output_dir / path.name)
    return paths
