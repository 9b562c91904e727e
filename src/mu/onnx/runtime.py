# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Generation with ONNX Runtime from a folder written by `export_onnx`.

The encoder graph once, then the decoder graph once per new token with its growing self-attention cache."""

import copy
from pathlib import Path

import numpy as np
import torch
from transformers import GenerationConfig, LogitsProcessorList
from transformers.generation import (
    MinNewTokensLengthLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)
from transformers.generation.streamers import BaseStreamer

from ..configuration_mu import MuConfig
from .export import DECODER_FILE, ENCODER_FILE

# Generation options this generator does not implement, with their neutral values.
UNSUPPORTED_OPTIONS = {
    "num_beams": 1,
    "num_return_sequences": 1,
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "typical_p": 1.0,
    "min_p": None,
    "bad_words_ids": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "sequence_bias": None,
}


def _session(path: Path, threads: int | None, providers: list[str] | None):
    import onnxruntime
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf, NoSuchFile

    if not path.is_file():
        raise ValueError(
            f"{path} is missing: an ONNX folder from `mu export-onnx` holds {ENCODER_FILE} and {DECODER_FILE}."
        )
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
    except (Fail, InvalidGraph, InvalidProtobuf, NoSuchFile) as error:
        raise ValueError(f"{path} is not a valid ONNX model (corrupt or truncated file?): {error}") from error


class MuOnnxGenerator:
    """
    Greedy or sampled generation, batched, with the two ONNX graphs of a Mu export. Its `generate` mirrors
    `GenerationMixin.generate` for the options it has: the output starts with the decoder start token, and a row
    that ended (EOS) is padded with the pad token until the others end.

    ```python
    >>> generator = MuOnnxGenerator("mu-onnx")  # a folder written by `mu export-onnx`
    >>> output_ids = generator.generate(input_ids, attention_mask, max_new_tokens=32)
    ```
    """

    def __init__(self, folder: str | Path, threads: int | None = None, providers: list[str] | None = None):
        folder = Path(folder)
        self.config = MuConfig.from_pretrained(folder)
        self.generation_config = GenerationConfig.from_pretrained(folder)
        self.encoder = _session(folder / ENCODER_FILE, threads, providers)
        self.decoder = _session(folder / DECODER_FILE, threads, providers)
        expected = 2 + 4 * self.config.decoder_layers
        if len(self.decoder.get_inputs()) != expected:
            raise ValueError(
                f"{folder / DECODER_FILE} takes {len(self.decoder.get_inputs())} inputs, but the config's "
                f"{self.config.decoder_layers} decoder layers need {expected}: the graph and config.json differ."
            )

    def _generation_config(self, generation_kwargs: dict) -> GenerationConfig:
        """The folder's generation config updated with the call's options and transformers' defaults; options this
        generator does not implement are refused rather than ignored."""
        config = copy.deepcopy(self.generation_config)
        unknown = config.update(**generation_kwargs)
        if unknown:
            raise TypeError(f"Unknown generation options: {sorted(unknown)}.")
        for name, value in GenerationConfig._get_default_generation_params().items():
            if getattr(config, name, None) is None:
                setattr(config, name, value)
        unsupported = {
            name: getattr(config, name)
            for name, neutral in UNSUPPORTED_OPTIONS.items()
            if getattr(config, name, neutral) not in (None, neutral)
        }
        if unsupported:
            raise ValueError(f"MuOnnxGenerator does not support {unsupported}: greedy or sampling decoding only.")
        if config.max_new_tokens is None:
            config.max_new_tokens = config.max_length - 1  # the decoder start token counts in `max_length`
        if config.max_new_tokens < 1:
            raise ValueError(f"`max_new_tokens` must be at least 1, got {config.max_new_tokens}.")
        return config

    @staticmethod
    def _logits_processors(config: GenerationConfig, eos_ids: list[int]) -> LogitsProcessorList:
        """transformers' own logits processors and warpers, in `generate()`'s order."""
        processors = LogitsProcessorList()
        min_new_tokens = max(config.min_new_tokens or 0, config.min_length - 1)
        if min_new_tokens > 0 and eos_ids:
            processors.append(MinNewTokensLengthLogitsProcessor(1, min_new_tokens, eos_ids))
        if config.do_sample:
            if config.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(config.temperature))
            if config.top_k:
                processors.append(TopKLogitsWarper(config.top_k))
            if config.top_p < 1.0:
                processors.append(TopPLogitsWarper(config.top_p))
        return processors

    def _check_inputs(self, input_ids, attention_mask) -> tuple[np.ndarray, np.ndarray]:
        input_ids, attention_mask = (
            None if array is None else np.asarray(array.cpu() if isinstance(array, torch.Tensor) else array)
            for array in (input_ids, attention_mask)
        )
        if input_ids.ndim != 2 or 0 in input_ids.shape or not np.issubdtype(input_ids.dtype, np.integer):
            raise ValueError(
                f"`input_ids` must be a non-empty (batch, length) array of integers, got {input_ids.dtype} of shape "
                f"{input_ids.shape}."
            )
        if input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size:
            raise ValueError(f"`input_ids` hold ids outside the vocabulary [0, {self.config.vocab_size}).")
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        if attention_mask.shape != input_ids.shape:
            raise ValueError(f"`attention_mask` has shape {attention_mask.shape}, `input_ids` {input_ids.shape}.")
        empty = np.flatnonzero(attention_mask.sum(-1) == 0).tolist()
        if empty:
            raise ValueError(f"Input sequence(s) {empty} have no tokens: the attention mask masks every position.")
        return input_ids.astype(np.int64), attention_mask.astype(np.int64)

    def generate(
        self,
        input_ids: torch.Tensor | np.ndarray,
        attention_mask: torch.Tensor | np.ndarray | None = None,
        streamer: BaseStreamer | None = None,
        **generation_kwargs,
    ) -> torch.LongTensor:
        """
        Generates like `GenerationMixin.generate` with the folder's `generation_config.json`, for the options it
        has: `max_new_tokens` (or `max_length`), `min_new_tokens`, `do_sample` with `temperature`, `top_k` (50 unless
        set) and `top_p` on `torch`'s global generator, `eos_token_id` (one or several), `pad_token_id`,
        `decoder_start_token_id`. Beam search and the other processors are refused.
        """
        input_ids, attention_mask = self._check_inputs(input_ids, attention_mask)
        config = self._generation_config(generation_kwargs)
        eos = config.eos_token_id
        eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        eos_tensor = torch.tensor(eos_ids, dtype=torch.long)
        pad = config.pad_token_id if config.pad_token_id is not None else (eos_ids or [None])[0]
        if pad is None:
            raise ValueError("Set `pad_token_id` (or `eos_token_id`): finished rows are padded with it.")
        start = config.decoder_start_token_id
        start = self.config.decoder_start_token_id if start is None else start
        processors = self._logits_processors(config, eos_ids)

        batch, layers = input_ids.shape[0], self.config.decoder_layers
        cross = self.encoder.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})
        empty = np.zeros((batch, self.config.num_key_value_heads, 0, self.config.head_dim), dtype=np.float32)
        past = [empty] * (2 * layers)
        output = torch.full((batch, 1), start, dtype=torch.long)
        finished = torch.zeros(batch, dtype=torch.bool)
        if streamer is not None:
            streamer.put(output)
        for _ in range(config.max_new_tokens):
            feeds = {"input_ids": output[:, -1:].numpy(), "encoder_attention_mask": attention_mask}
            for layer in range(layers):
                feeds[f"past_key_{layer}"], feeds[f"past_value_{layer}"] = past[2 * layer], past[2 * layer + 1]
                feeds[f"cross_key_{layer}"], feeds[f"cross_value_{layer}"] = cross[2 * layer], cross[2 * layer + 1]
            logits, *past = self.decoder.run(None, feeds)
            scores = processors(output, torch.from_numpy(logits[:, -1]))
            if config.do_sample:
                next_tokens = torch.multinomial(scores.softmax(-1), num_samples=1)[:, 0]
            else:
                next_tokens = scores.argmax(-1)
            next_tokens = next_tokens.masked_fill(finished, pad)
            finished |= torch.isin(next_tokens, eos_tensor)
            output = torch.cat([output, next_tokens[:, None]], dim=-1)
            if streamer is not None:
                streamer.put(next_tokens)
            if finished.all():
                break
        if streamer is not None:
            streamer.end()
        return output
