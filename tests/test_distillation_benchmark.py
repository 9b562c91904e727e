import json

import pytest
import torch
from benchmarks.distillation import (
    DistillationBenchmarkSettings,
    OnPolicySampleDataset,
    main,
    run_benchmark,
    student_config,
)

from mu import MuForConditionalGeneration
from mu.synthetic_data.qa import make_synthetic_qa, prompt_completion_rows
from mu.synthetic_data.tokenizer import train_tokenizer


def test_distillation_benchmark_runs_end_to_end(tmp_path):
    threads = torch.get_num_threads()
    main(
        [
            "--steps", "2",
            "--warmup-steps", "1",
            "--repeats", "1",
            "--max-completion-length", "4",
            "--num-examples", "16",
            "--output-dir", str(tmp_path),
        ]
    )  # fmt: skip
    assert torch.get_num_threads() == threads  # the benchmark's thread count does not leak
    (json_path,) = tmp_path.glob("distillation-*.json")
    assert (
        json_path.name.startswith("distillation-tiny-fitx4-cpu-") and "-1t-" in json_path.name
    )  # one thread by default
    results = json.loads(json_path.read_text())
    assert json_path.with_suffix(".png").stat().st_size > 10_000
    table = json_path.with_suffix(".md").read_text()

    methods = {method["name"]: method for method in results["methods"]}
    assert set(methods) == {"ours", "reference"}
    for name, method in methods.items():
        assert method["steps_per_s"] > 0, name
        assert method["seconds_per_step"] == pytest.approx(1 / method["steps_per_s"])
        assert 0 < method["generation_s_per_step"] < method["seconds_per_step"]
        assert method["generation_s_per_step"] + method["training_s_per_step"] == pytest.approx(
            method["seconds_per_step"]
        )
        assert 1 <= method["mean_completion_length"] <= 4
        assert len(method["runs"]) == 1
        assert f"| {name} |" in table
    # ours decodes the batch together until its longest completion ends; the reference decodes every sample alone
    ours, reference = methods["ours"], methods["reference"]
    assert ours["mean_completion_length"] <= ours["decoding_steps_per_step"] <= 4
    assert reference["decoding_steps_per_step"] == pytest.approx(8 * reference["mean_completion_length"])
    assert results["ratio"] == pytest.approx(methods["ours"]["steps_per_s"] / methods["reference"]["steps_per_s"])
    assert results["target"]["met"] == (results["ratio"] >= 10)
    assert results["settings"]["steps"] == 2 and results["settings"]["max_completion_length"] == 4
    assert results["data"]["reference_encoder_length"] == results["data"]["prompt_tokens"]["max"]
    assert results["models"]["student"]["vocab_size"] == results["models"]["teacher"]["vocab_size"]


def test_reference_items_are_padded_to_fixed_lengths_like_the_reference():
    rows = prompt_completion_rows(make_synthetic_qa(4, seed=0))
    tokenizer = train_tokenizer([text for row in rows for text in row.values()], vocab_size=300)
    torch.manual_seed(0)
    student = MuForConditionalGeneration(student_config("tiny", tokenizer))
    prompt_ids = tokenizer(rows[0]["prompt"], add_special_tokens=False)["input_ids"]
    encoder_length, decoder_length, padding = len(prompt_ids) + 5, 6, 5
    dataset = OnPolicySampleDataset(rows, student, tokenizer, encoder_length, decoder_length, 0.9, top_k=128)
    item = dataset[0]
    start, pad = student.config.decoder_start_token_id, tokenizer.pad_token_id

    # ground truth: the prompt right-padded for the encoder, the EOS-terminated answer as labels
    assert item["input_ids"].tolist() == prompt_ids + [pad] * padding
    assert item["attention_mask"].tolist() == [1] * len(prompt_ids) + [0] * padding
    answer = tokenizer(rows[0]["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert item["labels"].tolist() == answer + [-100] * (decoder_length - len(answer))
    assert item["decoder_input_ids"].tolist()[:2] == [start, answer[0]]

    # the sample: one completion of at most 6 tokens, after the start token for the student, after the left-padded
    # prompt for the teacher
    (length,) = dataset.completion_lengths
    assert 1 <= length <= decoder_length and dataset.generation_s > 0
    teacher_prompt, sample = item["teacher_input_ids"].split([encoder_length, decoder_length])
    assert teacher_prompt.tolist() == [pad] * padding + prompt_ids
    assert item["teacher_attention_mask"].tolist() == (
        [0] * padding + [1] * (len(prompt_ids) + length) + [0] * (decoder_length - length)
    )
    assert item["sample_decoder_input_ids"].tolist() == [start] + sample[:-1].tolist()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"steps": 0}, "`steps` must be at least 1, got 0"),
        ({"warmup_steps": 0}, "`warmup_steps` must be at least 1, got 0"),
        ({"repeats": 0}, "`repeats` must be at least 1, got 0"),
        ({"max_completion_length": 0}, "`max_completion_length` must be at least 1, got 0"),
        ({"num_examples": 4}, r"`num_examples` \(4\) must be at least `batch_size` \(8\)"),
        ({"size": "huge"}, "Unknown benchmark size 'huge'"),
        ({"temperature": 0.0}, "`temperature` must be positive"),
    ],
)
def test_distillation_benchmark_refuses_bad_settings(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        run_benchmark(DistillationBenchmarkSettings(output_dir=str(tmp_path), **overrides))
    assert not any(tmp_path.iterdir())


def test_distillation_benchmark_command_line_refuses_zero_steps(tmp_path):
    with pytest.raises(ValueError, match="`steps` must be at least 1, got 0"):
        main(["--steps", "0", "--output-dir", str(tmp_path)])
