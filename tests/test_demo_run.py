import pytest
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from mu import MuForConditionalGeneration
from mu.demo.run import (
    DemoSettings,
    answer_questions,
    causal_lm_features,
    run_demo,
    score,
    seq2seq_features,
    student_rows,
)
from mu.synthetic_data.qa import make_synthetic_qa, prompt_completion_rows
from mu.synthetic_data.tokenizer import train_tokenizer


def test_teacher_sequences_are_the_student_prompt_followed_by_its_labels():
    rows = prompt_completion_rows(make_synthetic_qa(20, seed=3))
    assert any(row["completion"] == "" for row in rows)
    tokenizer = train_tokenizer([row["prompt"] for row in rows], vocab_size=300)
    for causal, seq2seq in zip(causal_lm_features(rows, tokenizer), seq2seq_features(rows, tokenizer)):
        assert causal["input_ids"] == seq2seq["input_ids"] + seq2seq["labels"]
        assert causal["completion_mask"] == [0] * len(seq2seq["input_ids"]) + [1] * len(seq2seq["labels"])
        assert seq2seq["labels"][-1] == tokenizer.eos_token_id


def test_students_see_the_answers_of_the_labeled_rows_only():
    rows = prompt_completion_rows(make_synthetic_qa(10, seed=3))
    labeled, distillation = student_rows(DemoSettings(train_examples=10, labeled_examples=4), rows)
    assert labeled == rows[:4] and distillation[:4] == rows[:4]
    assert [row["prompt"] for row in distillation] == [row["prompt"] for row in rows]
    assert all(row["completion"] is None for row in distillation[4:])
    with pytest.raises(ValueError, match=r"labeled_examples \(11\) cannot exceed train_examples \(10\)"):
        DemoSettings(train_examples=10, labeled_examples=11)


def test_demo_trains_three_models_and_saves_the_distilled_student(tmp_path, capsys):
    settings = DemoSettings(
        output_dir=str(tmp_path / "demo"),
        train_examples=64,
        labeled_examples=32,
        eval_examples=10,
        teacher_steps=2,
        student_steps=2,
    )
    results = run_demo(settings)
    assert list(results) == ["teacher", "student, cross-entropy only", "student, distilled"]
    assert all(0 <= metrics["exact_match"] <= metrics["f1"] <= 100 for metrics in results.values())
    output = capsys.readouterr().out
    for name in results:
        assert name in output

    folder = tmp_path / "demo"
    assert (folder / "model.safetensors").is_file() and (folder / "loss_curves.png").is_file()
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(folder)
    assert isinstance(reloaded, MuForConditionalGeneration)

    tokenizer = AutoTokenizer.from_pretrained(folder)
    eval_rows = make_synthetic_qa(10, seed=1)
    predictions = answer_questions(reloaded, tokenizer, prompt_completion_rows(eval_rows))
    assert score(predictions, eval_rows) == pytest.approx(results["student, distilled"])
