import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "distillation_quality.py"


def test_quality_benchmark_writes_per_seed_scores_and_their_summary(tmp_path):
    arguments = ["--seeds", "0", "1", "--teacher-steps", "2", "--student-steps", "2", "--eval-every", "1"]
    arguments += ["--recipes", "labels", "paper", "gold-kd", "mixed", "default", "cross-tokenizer"]
    arguments += ["--labeled-examples", "32"]
    arguments += ["--train-examples", "64", "--eval-examples", "10", "--threads", "1", "--output-dir", str(tmp_path)]
    result = subprocess.run([sys.executable, SCRIPT, *arguments], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    stem = tmp_path / "distillation-quality-t2-s2-labeled32"
    results = json.loads(stem.with_suffix(".json").read_text())
    assert results["seeds"] == [0, 1]
    assert results["recipes"] == ["labels", "paper", "gold-kd", "mixed", "default", "cross-tokenizer"]
    for run in results["runs"]:
        for recipe in results["recipes"]:
            assert [step for step, _ in run[recipe]["curve"]] == [1, 2]
            assert run[recipe]["exact_match"] == run[recipe]["curve"][-1][1]
            # Distillation reads the other prompts too, without their answers.
            assert run[recipe]["labeled_rows"] == 32
            assert run[recipe]["prompt_only_rows"] == (0 if recipe == "labels" else 32)
    for recipe in ("paper", "gold-kd", "mixed", "default", "cross-tokenizer"):
        gains = [run[recipe]["exact_match"] - run["labels"]["exact_match"] for run in results["runs"]]
        assert results["summary"][recipe]["gain_over_labels"] == {"mean": sum(gains) / 2, "min": min(gains)}
    # the cross-tokenizer student learns from a teacher of its own tokenizer, whose score is reported too
    rates = results["summary"]["cross-tokenizer"]["alignment_rate"]["seeds"]
    assert rates == [run["cross-tokenizer"]["alignment_rate"] for run in results["runs"]]
    assert all(0.0 < rate <= 1.0 for rate in rates)
    assert "cross-tokenizer teacher" in results["summary"]
    markdown = stem.with_suffix(".md").read_text()
    assert "cross-tokenizer: the teacher has a byte-level BPE of 500 tokens" in markdown
    assert "| gold-kd | alpha 0.5, beta 0.0, lmbda 0.0 |" in markdown
    assert "The students have the answers of 32 of the 64 training questions" in markdown
    assert "| default | alpha 1.0, beta 0.0, lmbda 0.0, temperature 1.0 |" in markdown
    assert stem.with_suffix(".png").stat().st_size > 10_000

    # Seeds run in separate processes and merged give the summary of one run over both.
    for index, seed in enumerate(results["seeds"]):
        part = {**results, "seeds": [seed], "runs": [results["runs"][index]], "summary": None}
        (tmp_path / f"seed{seed}.json").write_text(json.dumps(part))
    merged_dir = tmp_path / "merged"
    arguments = [
        "--merge",
        str(tmp_path / "seed0.json"),
        str(tmp_path / "seed1.json"),
        "--output-dir",
        str(merged_dir),
    ]
    result = subprocess.run([sys.executable, SCRIPT, *arguments], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    merged = json.loads((merged_dir / stem.name).with_suffix(".json").read_text())
    assert merged["seeds"] == [0, 1] and merged["summary"] == results["summary"]
    assert (merged_dir / stem.name).with_suffix(".md").read_text() == markdown
