import json
from pathlib import Path

import pytest
import torch
from benchmarks.serving_engines import ServingBenchmarkSettings, run_serving_benchmark

from mu import MuConfig, MuForConditionalGeneration
from mu.synthetic_data.qa import make_synthetic_qa, prompt_completion_rows
from mu.synthetic_data.tokenizer import train_tokenizer

from .conftest import TINY

ENGINES = ["mu-pytorch-fp32", "mu-ctranslate2-fp32", "mu-ctranslate2-int8", "t5-ctranslate2-int8"]


@pytest.fixture(scope="module")
def demo_like_folder(tmp_path_factory) -> Path:
    """A tiny untrained Mu with a tokenizer trained on the demo's questions, where `--demo-model` expects one."""
    folder = tmp_path_factory.mktemp("demo") / "distilled-student"
    rows = prompt_completion_rows(make_synthetic_qa(64, seed=3))
    tokenizer = train_tokenizer([row["prompt"] + row["completion"] for row in rows], vocab_size=300)
    torch.manual_seed(0)
    config = MuConfig(
        **{**TINY, "vocab_size": len(tokenizer), "max_position_embeddings": 512, "initializer_range": 0.3}
    )
    MuForConditionalGeneration(config).save_pretrained(folder)  # the tokenizer's special ids are TINY's
    tokenizer.save_pretrained(folder)
    return folder


def test_serving_benchmark_compares_engines_and_checks_their_answers(tmp_path, demo_like_folder):
    settings = ServingBenchmarkSettings(
        size="tiny",
        input_lengths=[8, 1024],
        new_tokens=4,
        batch_size=3,
        batch_input_length=8,
        batch_new_tokens=3,
        engines=ENGINES,
        repeats=2,
        parity_prompts=4,
        parity_new_tokens=6,
        demo_model=str(demo_like_folder),
        output_dir=str(tmp_path),
    )
    results = run_serving_benchmark(settings)

    cases = ["batch 1, 8 in", "batched", "batch 1, 1024 in"]  # smallest first: batch 3 x 8 before 1 x 1024
    assert [(row["case"], row["engine"]) for row in results["rows"]] == [(c, e) for c in cases for e in ENGINES]
    for row in results["rows"]:
        assert row["repeats"] == 2 and row["tokens_per_s"] > 0 and row["peak_memory_mb"] > 50
        if row["batch_size"] == 1:
            assert 0 < row["first_token_s"] < row["end_to_end_s"] and row["decode_tokens_per_s"] > 0
    # the two targets between engines that ran (the ONNX Runtime one is left out), at 1024 tokens and batched
    assert [(r["baseline"], r["measure"], r["case"]) for r in results["ratios"]] == [
        ("t5-ctranslate2-int8", "decode_tokens_per_s", "batch 1, 1024 in"),
        ("t5-ctranslate2-int8", "first_token_s", "batch 1, 1024 in"),
        ("t5-ctranslate2-int8", "tokens_per_s", "batched"),
    ]
    rows = {(row["engine"], row["case"]): row for row in results["rows"]}
    assert all(len(row["runs"]) == 2 for row in results["rows"])
    decode = results["ratios"][0]
    expected = (
        rows["mu-ctranslate2-int8", "batch 1, 1024 in"]["decode_tokens_per_s"]
        / rows["t5-ctranslate2-int8", "batch 1, 1024 in"]["decode_tokens_per_s"]
    )
    assert decode["ratio_of_medians"] == pytest.approx(expected)
    assert results["parity"]["mu-ctranslate2-fp32 identical to mu-pytorch-fp32"] == "4/4"
    quality = results["quality"]
    assert quality["questions"] == 200 and set(quality["scores"]) == {
        "mu-pytorch-fp32", "mu-onnxruntime-fp32", "mu-onnxruntime-int8", "mu-ctranslate2-fp32", "mu-ctranslate2-int8"
    }  # fmt: skip
    # float32 engines answer the padded batches of real prompts exactly as PyTorch does
    assert quality["answers_identical_to_pytorch"]["mu-onnxruntime-fp32"] == 1.0
    assert quality["answers_identical_to_pytorch"]["mu-ctranslate2-fp32"] == 1.0
    assert results["megabytes"]["mu-ctranslate2-int8"] < 0.5 * results["megabytes"]["mu-ctranslate2-fp32"]
    json_file, markdown, plot = (Path(name) for name in results["files"])
    assert json.loads(json_file.read_text())["parity"] == results["parity"]
    assert "| mu-ctranslate2-int8 | t5-ctranslate2-int8 | decode_tokens_per_s |" in markdown.read_text()
    assert plot.stat().st_size > 10_000


def test_serving_benchmark_refuses_unknown_engines_before_building(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown engine\(s\) \['mu-vllm-fp8'\]"):
        run_serving_benchmark(ServingBenchmarkSettings(size="tiny", engines=["mu-vllm-fp8"], output_dir=str(tmp_path)))
    assert not any(tmp_path.iterdir())
