# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The machine's roof: the matmul throughput and the memory bandwidth that bound prefill and decoding."""

import statistics
import time

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.no_grad()
def gemm_flops_per_second(device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a square `size` matmul: the roof of compute-bound work such as the encoder's prefill."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    return 2 * size**3 / _median_seconds(lambda: torch.mm(a, b), device, repeats)


@torch.no_grad()
def weight_streaming_bytes_per_second(
    device: torch.device, dtype: torch.dtype, megabytes: int = 256, repeats: int = 5
) -> float:
    """Bytes/s of a matrix-vector product over a matrix far larger than the caches: the roof of a decoding step,
    which reads every weight once to produce one token."""
    columns = 4096
    rows = megabytes * 2**20 // (columns * torch.finfo(dtype).bits // 8)
    weight = torch.randn(rows, columns, device=device, dtype=dtype)
    vector = torch.randn(columns, device=device, dtype=dtype)
    nbytes = weight.numel() * weight.element_size()
    return nbytes / _median_seconds(lambda: torch.mv(weight, vector), device, repeats)
