import json
from pathlib import Path

from benchmarks.onnx_runtime import BACKENDS, OnnxBenchmarkSettings, run_onnx_benchmark


def test_onnx_benchmark_runs_end_to_end_on_a_tiny_model(tmp_path):
    settings = OnnxBenchmarkSettings(
        size="tiny",
        input_lengths=[8, 24],
        new_tokens=4,
        repeats=1,
        parity_prompts=4,
        parity_new_tokens=6,
        output_dir=str(tmp_path),
    )
    results = run_onnx_benchmark(settings)
    identical, prompts = results["parity"]["onnxruntime_fp32_identical_to_pytorch"].split("/")
    assert identical == prompts and int(prompts) >= 3
    assert [(row["backend"], row["input_length"]) for row in results["rows"]] == [
        (backend, length) for length in (8, 24) for backend in BACKENDS
    ]
    assert all(row["first_token_s"] > 0 and row["decode_tokens_per_s"] > 0 for row in results["rows"])
    assert len(results["ratios"]) == 4
    assert results["megabytes"]["onnxruntime-int8"] < results["megabytes"]["onnxruntime-fp32"]
    json_file, markdown, plot = (Path(name) for name in results["files"])
    assert json.loads(json_file.read_text())["parity"] == results["parity"]
    assert "onnxruntime-int8" in markdown.read_text() and plot.stat().st_size > 10_000
