# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Generation with ONNX Runtime from a folder written by `export_onnx`: the encoder graph once, then the decoder
graph once per new token with its growing self-attention cache."""

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

    def _processors(
        self, min_new_tokens: int, eos_ids: list[int], do_sample: bool, temperature: float, top_k, top_p
    ) -> LogitsProcessorList:
        """transformers' own logits processors, in `generate()`'s order."""
        processors = LogitsProcessorList()
        if min_new_tokens and eos_ids:
            processors.append(MinNewTokensLengthLogitsProcessor(1, min_new_tokens, eos_ids))
        if do_sample:
            if temperature != 1.0:
                processors.append(TemperatureLogitsWarper(temperature))
            if top_k:
                processors.append(TopKLogitsWarper(top_k))
            if top_p is not None and top_p < 1.0:
                processors.append(TopPLogitsWarper(top_p))
        return processors

    def generate(
        self,
        input_ids: torch.Tensor | np.ndarray,
        attention_mask: torch.Tensor | np.ndarray | None = None,
        max_new_tokens: int = 32,
        min_new_tokens: int = 0,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        streamer: BaseStreamer | None = None,
    ) -> torch.LongTensor:
        """Generates up to `max_new_tokens` tokens per row (at least `min_new_tokens` before an EOS): greedy, or
        sampled with `torch`'s global generator after temperature/top-k/top-p, as `generate(do_sample=True)` does."""
        if max_new_tokens < 1:
            raise ValueError(f"`max_new_tokens` must be at least 1, got {max_new_tokens}.")
        input_ids = np.asarray(input_ids, dtype=np.int64)
        if input_ids.ndim != 2 or input_ids.shape[1] == 0:
            raise ValueError(f"`input_ids` must be a non-empty (batch, length) array, got shape {input_ids.shape}.")
        if input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size:
            raise ValueError(f"`input_ids` hold ids outside the vocabulary [0, {self.config.vocab_size}).")
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).astype(np.int64)
        attention_mask = np.asarray(attention_mask, dtype=np.int64)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(f"`attention_mask` has shape {attention_mask.shape}, `input_ids` {input_ids.shape}.")

        config, generation_config = self.config, self.generation_config
        eos = generation_config.eos_token_id
        eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        pad = generation_config.pad_token_id if generation_config.pad_token_id is not None else config.pad_token_id
        start = generation_config.decoder_start_token_id
        start = config.decoder_start_token_id if start is None else start
        processors = self._processors(min_new_tokens, eos_ids, do_sample, temperature, top_k, top_p)

        batch = input_ids.shape[0]
        cross = self.encoder.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})
        empty = np.zeros((batch, config.num_key_value_heads, 0, config.head_dim), dtype=np.float32)
        past = [empty] * (2 * config.decoder_layers)
        tokens = np.full((batch, 1), start, dtype=np.int64)
        output, finished = [tokens], np.zeros(batch, dtype=bool)
        if streamer is not None:
            streamer.put(torch.from_numpy(tokens[:, 0]))
        for _ in range(max_new_tokens):
            feeds = {"input_ids": tokens, "encoder_attention_mask": attention_mask}
            for layer in range(config.decoder_layers):
                feeds[f"past_key_{layer}"], feeds[f"past_value_{layer}"] = past[2 * layer], past[2 * layer + 1]
                feeds[f"cross_key_{layer}"], feeds[f"cross_value_{layer}"] = cross[2 * layer], cross[2 * layer + 1]
            logits, *past = self.decoder.run(None, feeds)
            scores = torch.from_numpy(logits[:, -1])
            if processors:
                scores = processors(torch.from_numpy(np.concatenate(output, axis=1)), scores)
            if do_sample:
                next_tokens = torch.multinomial(scores.softmax(-1), num_samples=1)[:, 0].numpy()
            else:
                next_tokens = scores.argmax(-1).numpy()
            next_tokens = np.where(finished, pad, next_tokens)
            finished |= np.isin(next_tokens, eos_ids)
            tokens = next_tokens[:, None]
            output.append(tokens)
            if streamer is not None:
                streamer.put(torch.from_numpy(next_tokens))
            if finished.all():
                break
        if streamer is not None:
            streamer.end()
        return torch.from_numpy(np.concatenate(output, axis=1))
