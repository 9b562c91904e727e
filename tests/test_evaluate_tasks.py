import json
import math

import pytest
import torch
from huggingface_hub import ModelCard
from tokenizers import Tokenizer, models, pre_tokenizers
from torch import nn
from transformers import PreTrainedTokenizerFast

from mu.cli import main
from mu.evaluation import runner
from mu.evaluation.generation import left_padding
from mu.evaluation.judge import judge_scores
from mu.evaluation.tasks import get_task, read_task_file, split_sentences
from mu.synthetic_data.tokenizer import train_tokenizer

from .distillation_setup import mu_student, qa_tokenizer, qwen3_teacher

SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Ana",
            "paragraphs": [
                {
                    "context": "Ana Lo keeps a ferret. Ana Lo plays the harp.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "What pet does Ana Lo keep?",
                            "answers": [
                                {"text": "a ferret", "answer_start": 14},
                                {"text": "ferret", "answer_start": 16},
                            ],
                            "is_impossible": False,
                        },
                        {"id": "q2", "question": "Where was Ana Lo born?", "answers": [], "is_impossible": True},
                    ],
                }
            ],
        },
        {
            "title": "Bo",
            "paragraphs": [
                {
                    "context": "Bo Ka works as a tailor.",
                    "qas": [
                        {
                            "id": "q3",
                            "question": "What does Bo Ka work as?",
                            "answers": [{"text": "tailor", "answer_start": 17}],
                            "is_impossible": False,
                        }
                    ],
                }
            ],
        },
    ],
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    tokenizer = qa_tokenizer()
    mu_student(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_sentences_are_split_one_per_line():
    assert split_sentences(" A cat sat.  It purred!\nWhy? done ") == "A cat sat.\nIt purred!\nWhy?\ndone"
    assert split_sentences("e.g.x stays") == "e.g.x stays"


def test_squad_v2_file_in_the_official_layout_becomes_one_row_per_question(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD))
    rows = read_task_file(get_task("squad_v2"), path)
    assert [row["id"] for row in rows] == ["q1", "q2", "q3"]
    assert rows[0]["answers"] == {"text": ["a ferret", "ferret"], "answer_start": [14, 16]}
    assert rows[1]["answers"]["text"] == [] and rows[1]["reference"] == ""
    assert "###Question\nWhat does Bo Ka work as?\n###Context\nBo Ka works as a tailor.\n" in rows[2]["prompt"]
    assert len(read_task_file(get_task("squad_v2"), path, limit=2)) == 2


def test_bad_task_files_are_refused_with_the_expected_layout(tmp_path):
    with pytest.raises(ValueError, match="Unknown task 'squad'; choose one of squad_v2, xsum, codexglue_code2text"):
        get_task("squad")
    with pytest.raises(FileNotFoundError, match="No xsum data file at .*expected JSONL with document, summary"):
        read_task_file(get_task("xsum"), tmp_path / "missing.jsonl")
    no_summary = _write_jsonl(tmp_path / "xsum.jsonl", [{"document": "A text.", "title": "T"}])
    with pytest.raises(ValueError, match=r"not XSum JSONL \(document, summary\): it has no \['summary'\] column"):
        read_task_file(get_task("xsum"), no_summary)
    flat = _write_jsonl(tmp_path / "squad.json", [{"question": "q", "context": "c"}])
    with pytest.raises(ValueError, match="is not SQuAD v2 JSON"):
        read_task_file(get_task("squad_v2"), flat)
    no_qas = tmp_path / "noqas.json"
    no_qas.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "c"}]}]}))
    with pytest.raises(ValueError, match="is not SQuAD v2 JSON.*missing 'qas'"):
        read_task_file(get_task("squad_v2"), no_qas)


def test_squad_v2_scores_follow_the_predictions(tmp_path, model_dir, monkeypatch):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD))
    # q1 right (matches the second gold answer), q2 right (no answer), q3 wrong
    answers = {"What pet": "Ferret.", "Where was": "", "What does": "baker"}
    monkeypatch.setattr(
        runner,
        "generate_answers",
        lambda model, tokenizer, prompts, *args, **kwargs: [
            next(a for q, a in answers.items() if f"###Question\n{q}" in p) for p in prompts
        ],
    )
    metrics = runner.evaluate_model(str(model_dir), "squad_v2", str(path), str(tmp_path / "out"))
    assert metrics["exact"] == pytest.approx(200 / 3) and metrics["f1"] == pytest.approx(200 / 3)
    assert metrics["HasAns_total"] == 2 and metrics["NoAns_total"] == 1
    assert metrics["HasAns_exact"] == pytest.approx(50.0) and metrics["NoAns_exact"] == pytest.approx(100.0)
    # ROUGE-Lsum over the two answerable questions: "ferret" vs "a ferret" (P 1, R 1/2: F 2/3), "baker" vs "tailor" 0
    assert metrics["rougeLsum"] == pytest.approx((2 / 3 + 0) / 2, abs=1e-6)
    lines = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert [(r["id"], r["prediction"], r["reference"]) for r in lines] == [
        ("q1", "Ferret.", "a ferret"),
        ("q2", "", ""),
        ("q3", "baker", "tailor"),
    ]
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == metrics


def test_mu_evaluate_generates_and_scores_code_to_text(tmp_path, model_dir, capsys):
    data = _write_jsonl(
        tmp_path / "code.jsonl",
        [{"code": f"def f{i}(x):\n    return x + {i}", "docstring": f"Adds {i} to x."} for i in range(5)],
    )
    output = tmp_path / "out"
    flags = ["--model", str(model_dir), "--task", "codexglue_code2text", "--data", str(data), "--output", str(output)]
    (model_dir / "README.md").write_text("---\nlibrary_name: transformers\n---\n# Mu\n")
    sizes = ["--limit", "3", "--batch-size", "2", "--max-new-tokens", "4"]
    assert main(["evaluate", *flags, *sizes, "--add-to-card"]) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert json.loads(capsys.readouterr().out) == metrics
    assert metrics["task"] == "codexglue_code2text" and metrics["examples"] == 3
    assert set(metrics) >= {"bleu", "exact_match", "rougeLsum"}
    predictions = [json.loads(line) for line in (output / "predictions.jsonl").read_text().splitlines()]
    assert [p["reference"] for p in predictions] == ["Adds 0 to x.", "Adds 1 to x.", "Adds 2 to x."]
    # a random tiny model does not write these docstrings
    assert metrics["exact_match"] == 0.0
    card = ModelCard.load(model_dir / "README.md")
    recorded = {(r.dataset_type, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert recorded == {("codexglue_code2text", name): metrics[name] for name in ("bleu", "exact_match", "rougeLsum")}
    with pytest.raises(ValueError, match="limit must be at least 1"):
        runner.evaluate_model(str(model_dir), "codexglue_code2text", str(data), str(output), limit=0)


def _first_tokens(tokenizer, word: str) -> list[int]:
    return sorted({tokenizer(w, add_special_tokens=False).input_ids[0] for w in (word, f" {word}")})


def _yes_judge(tokenizer, yes_logit: float):
    """A judge whose next-token logits are 0 everywhere except `yes_logit` on the first tokens of Yes."""
    judge = qwen3_teacher(len(tokenizer))
    judge.lm_head = nn.Linear(judge.config.hidden_size, len(tokenizer), bias=True)
    nn.init.zeros_(judge.lm_head.weight)
    nn.init.zeros_(judge.lm_head.bias)
    with torch.no_grad():
        judge.lm_head.bias[_first_tokens(tokenizer, "Yes")] = yes_logit
    return judge


def test_judge_score_is_the_probability_of_yes_against_no():
    tokenizer = train_tokenizer(["Yes, it is. No, it is not."] * 20, 300)
    prompts, references, predictions = ["Q1", "Q2"], ["a", "b"], ["a", "c"]
    n_yes, n_no = len(_first_tokens(tokenizer, "Yes")), len(_first_tokens(tokenizer, "No"))
    # With equal logits everywhere, Yes and No are as likely as their numbers of first tokens.
    uniform = judge_scores(_yes_judge(tokenizer, 0.0), tokenizer, prompts, references, predictions)
    assert uniform == pytest.approx([n_yes / (n_yes + n_no)] * 2)
    # The first tokens of Yes at logit 3, those of No at 0.
    expected = n_yes * math.exp(3) / (n_yes * math.exp(3) + n_no)
    scores = judge_scores(_yes_judge(tokenizer, 3.0), tokenizer, prompts, references, predictions, batch_size=1)
    assert scores == pytest.approx([expected, expected], rel=1e-5)
    with pytest.raises(ValueError, match="judge must be a decoder-only causal LM"):
        judge_scores(mu_student(len(tokenizer)), tokenizer, prompts, references, predictions)
    # A word-level vocabulary without the two words reads both as <unk>.
    backend = Tokenizer(models.WordLevel({"<unk>": 0, "<s>": 1, "</s>": 2, "Q1": 3}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    words = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<unk>", eos_token="</s>")
    with pytest.raises(ValueError, match="does not tell 'Yes' from 'No' by their first token"):
        judge_scores(qwen3_teacher(len(words)), words, prompts, references, predictions)


def test_left_padding_lasts_for_the_block_only_even_when_it_fails():
    tokenizer = qa_tokenizer()
    tokenizer.padding_side, tokenizer.pad_token = "right", None
    with pytest.raises(RuntimeError, match="inside"):
        with left_padding(tokenizer):
            assert tokenizer.padding_side == "left" and tokenizer.pad_token == tokenizer.eos_token
            raise RuntimeError("inside")
    assert tokenizer.padding_side == "right" and tokenizer.pad_token is None
