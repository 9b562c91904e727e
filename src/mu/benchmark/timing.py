# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Clocks for `generate()`: the time of each emitted token, peak memory, and a file-name-safe name of the machine."""

import os
import platform
import re
import resource
import sys
import threading
import time
from pathlib import Path

import torch
from transformers import PreTrainedModel
from transformers.generation.streamers import BaseStreamer

from .roofline import synchronize


class TokenClock(BaseStreamer):
    """Notes the time at which `generate()` emits each token (the first call carries the prompt)."""

    def __init__(self):
        self.times: list[float] = []

    def put(self, value: torch.Tensor) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


class PeakMemory:
    """Peak memory while the block runs: allocated CUDA memory on GPU, the process's resident set (sampled) on CPU."""

    def __init__(self, device: torch.device, interval_s: float = 0.002):
        self.device = device
        self.interval_s = interval_s
        self.peak_bytes = 0

    @staticmethod
    def _resident_bytes() -> int:
        """The resident set now (Linux); elsewhere the process's high-water mark, which `getrusage` keeps."""
        if os.path.exists("/proc/self/statm"):
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._resident_bytes())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._stop = threading.Event()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.device.type == "cuda":
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._sampler.join()
            self.peak_bytes = max(self.peak_bytes, self._resident_bytes())


def time_generation(
    model: PreTrainedModel, input_ids: torch.Tensor, new_tokens: int, **generate_kwargs
) -> dict[str, float]:
    """One timed greedy generation of exactly `new_tokens` tokens."""
    clock = TokenClock()
    with PeakMemory(input_ids.device) as memory:
        synchronize(input_ids.device)
        start = time.perf_counter()
        output = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=False,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            streamer=clock,
            **generate_kwargs,
        )
        synchronize(input_ids.device)
        end = time.perf_counter()
    generated = output.shape[1] - (0 if model.config.is_encoder_decoder else input_ids.shape[1])
    generated -= 1 if model.config.is_encoder_decoder else 0  # the decoder start token
    if generated != new_tokens:
        raise RuntimeError(f"generate() produced {generated} tokens instead of the {new_tokens} asked for.")
    first_token, last_token = clock.times[1], clock.times[-1]
    return {
        "first_token_s": first_token - start,
        "decode_tokens_per_s": (new_tokens - 1) * input_ids.shape[0] / (last_token - first_token)
        if new_tokens > 1
        else float("nan"),
        "end_to_end_s": end - start,
        "peak_memory_mb": memory.peak_bytes / 2**20,
    }


def device_name(device: torch.device, threads: int) -> str:
    """A file-name-safe name of the machine: the GPU's name, or the CPU model and the thread count."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        if Path("/proc/cpuinfo").exists():
            models = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
            name = models[0] if models else name
        name = f"cpu {name} {threads}t"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
