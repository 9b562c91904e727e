import json

from huggingface_hub import ModelCard

from mu.model_card import build_model_card, evaluation_results

from .conftest import tiny_model


def test_card_carries_hub_metadata_architecture_usage_and_results(tmp_path):
    model = tiny_model()
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"task": "squad_v2", "examples": 3, "exact": 66.7, "f1": 70.0}))
    card = build_model_card(
        model,
        "Mu test",
        "A test model.",
        training={"steps": "12"},
        base_model="org/teacher",
        datasets=["squad_v2"],
        eval_results=evaluation_results([metrics]),
    )
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    data = loaded.data.to_dict()
    assert data["library_name"] == "transformers" and data["license"] == "mit"
    assert data["base_model"] == "org/teacher" and "distillation" in data["tags"]
    (index,) = data["model-index"]
    values = {m["type"]: m["value"] for result in index["results"] for m in result["metrics"]}
    assert values == {"exact": 66.7, "f1": 70.0}  # `examples` and `task` are not metrics
    text = loaded.text
    config = model.config
    row = f"| {config.encoder_layers} | {config.decoder_layers} | {config.hidden_size} | "
    assert row in text and f"{model.num_parameters() / 1e6:.2f}M" in text
    assert "trust_remote_code=True" in text and "- steps: 12" in text
    assert "| squad_v2 | exact | 66.7 |" in text and "## Limitations" in text


def test_card_without_teacher_or_results_has_no_such_sections(tmp_path):
    card = build_model_card(tiny_model(), "Mu plain", "Plain.")
    assert "## Evaluation" not in card.text and "## Training" not in card.text
    assert "distillation" not in card.data.to_dict()["tags"] and card.data.base_model is None
