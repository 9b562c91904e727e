import json

import pytest

from mu.benchmark.run import BenchmarkSettings, parse_extra_case, run_benchmark
from mu.cli import main


def test_benchmark_runs_end_to_end_on_tiny_models(tmp_path):
    main(
        [
            "benchmark",
            "--size", "tiny",
            "--input-lengths", "16", "32",
            "--new-tokens", "4",
            "--extra-cases", "mu:16:12", "mu-no-cache:16:12",
            "--repeats", "2",
            "--device", "cpu",
            "--output-dir", str(tmp_path),
        ]
    )  # fmt: skip
    (json_path,) = tmp_path.glob("*.json")
    results = json.loads(json_path.read_text())
    assert json_path.with_suffix(".png").stat().st_size > 10_000
    table = json_path.with_suffix(".md").read_text()
    assert {entry["name"] for entry in results["contenders"]} == {
        "mu",
        "mu-no-cache",
        "mu-decoder-only",
        "t5",
        "qwen3",
    }
    assert results["roof"]["gemm_flops_per_s"] > 1e8 and results["roof"]["weight_streaming_bytes_per_s"] > 1e7

    for entry in results["contenders"]:
        cases = {(row["input_length"], row["new_tokens"]) for row in entry["rows"]}
        expected = {(16, 4), (32, 4)} | ({(16, 12)} if entry["name"] in ("mu", "mu-no-cache") else set())
        assert cases == expected, entry["name"]
        for row in entry["rows"]:
            assert 0 < row["first_token_s"] < row["end_to_end_s"]
            assert row["decode_tokens_per_s"] > 0 and row["peak_memory_mb"] > 50
            assert row["repeats"] == 2
            assert f"| {entry['name']} |" in table
        check = entry["flop_check"]
        assert check["counted_prefill"] == pytest.approx(check["analytic_prefill"], rel=0.02)
        assert check["counted_decode_step"] == pytest.approx(check["analytic_decode_step"], rel=0.02)

    mu = next(entry for entry in results["contenders"] if entry["name"] == "mu")
    no_cache = next(entry for entry in results["contenders"] if entry["name"] == "mu-no-cache")
    long_mu = next(row for row in mu["rows"] if row["new_tokens"] == 12)
    long_no_cache = next(row for row in no_cache["rows"] if row["new_tokens"] == 12)
    assert long_no_cache["decode_flops"] > long_mu["decode_flops"]
    names = [target["target"] for target in results["targets"]]
    assert "decode tokens/s / decoder-only twin" in names and "decode step / weight-streaming time" in names
    assert "end-to-end speed-up over use_cache=False, 16/12" in names


def test_benchmark_refuses_unknown_contenders_and_malformed_cases(tmp_path):
    with pytest.raises(ValueError, match="Unknown contender"):
        run_benchmark(BenchmarkSettings(size="tiny", contenders=["gpt2"], output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="CONTENDER:INPUT_LENGTH:NEW_TOKENS"):
        parse_extra_case("mu:1024")
    with pytest.raises(ValueError, match="Unknown benchmark size"):
        run_benchmark(BenchmarkSettings(size="7b", output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="`repeats` must be at least 1, got 0"):
        run_benchmark(BenchmarkSettings(size="tiny", repeats=0, output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="`input_lengths` must be positive numbers"):
        run_benchmark(BenchmarkSettings(size="tiny", input_lengths=[0, 16], output_dir=str(tmp_path)))
