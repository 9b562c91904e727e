import ast
import json
import re

import pytest
from huggingface_hub import ModelCard

from mu.model_card import add_evaluation_results, build_model_card, evaluation_results
from mu.prompts import format_qa_prompt

from .conftest import tiny_model


def test_card_carries_hub_metadata_architecture_usage_and_results(tmp_path):
    model = tiny_model()
    metrics = tmp_path / "metrics.json"
    squad = {"task": "squad_v2", "examples": 3, "exact": 66.7, "f1": 70.0, "total": 3, "best_f1_thresh": 0.0}
    metrics.write_text(json.dumps(squad))
    card = build_model_card(
        model,
        "Mu test",
        "A test model.",
        training={"steps": "12"},
        base_model="org/teacher",
        datasets=["squad_v2"],
        eval_results=evaluation_results([metrics]),
        tags=("distillation",),
    )
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    data = loaded.data.to_dict()
    assert data["library_name"] == "transformers" and data["license"] == "mit"
    assert data["base_model"] == "org/teacher" and "distillation" in data["tags"]
    (index,) = data["model-index"]
    values = {m["type"]: m["value"] for result in index["results"] for m in result["metrics"]}
    assert values == {"exact": 66.7, "f1": 70.0}  # counts, thresholds and the task name are not results
    text = loaded.text
    config = model.config
    row = f"| {config.encoder_layers} | {config.decoder_layers} | {config.hidden_size} | "
    assert row in text and f"{model.num_parameters() / 1e6:.2f}M" in text
    assert "trust_remote_code=True" in text and "- steps: 12" in text
    assert "| squad_v2 | exact | 66.7 |" in text and "## Limitations" in text
    # the usage example prompts with the package's QA format, not a copy of it
    prompt = ast.literal_eval(re.search(r"^prompt = (.+)$", text, re.MULTILINE)[1])
    assert prompt == format_qa_prompt("Who keeps a ferret?", "Ana Lo keeps a ferret.")


def test_card_without_teacher_or_results_has_no_such_sections(tmp_path):
    card = build_model_card(tiny_model(), "Mu plain", "Plain.")
    assert "## Evaluation" not in card.text and "## Training" not in card.text
    assert card.data.to_dict()["tags"] == ["mu", "encoder-decoder"] and card.data.base_model is None


def test_evaluation_results_are_added_to_the_card_and_replace_older_ones(tmp_path):
    build_model_card(tiny_model(), "Mu", "A model.").save(tmp_path / "README.md")
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({"task": "xsum", "examples": 2, "rouge1": 0.2, "rougeLsum": 0.1}))
    second.write_text(json.dumps({"task": "xsum", "examples": 2, "rouge1": 0.3}))
    add_evaluation_results(tmp_path, first)
    card = add_evaluation_results(tmp_path, second)
    stored = ModelCard.load(tmp_path / "README.md").data.eval_results
    values = {(r.dataset_type, r.metric_type): r.metric_value for r in stored}
    assert values == {("xsum", "rouge1"): 0.3, ("xsum", "rougeLsum"): 0.1}
    assert card.data.model_name == "Mu"
    with pytest.raises(ValueError, match="has no model card"):
        add_evaluation_results(tmp_path / "elsewhere", first)


def test_a_non_mu_model_gets_a_short_table():
    from transformers import T5Config, T5ForConditionalGeneration

    t5 = T5ForConditionalGeneration(T5Config(vocab_size=32, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2))
    assert f"| t5 | {t5.num_parameters() / 1e6:.2f}M |" in build_model_card(t5, "T5", "A T5.").text
