# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The `README.md` model card of every folder the project writes.

Converted, distilled and demo models alike, built with `huggingface_hub.ModelCard`: Hub metadata, an architecture
table, usage with the Auto classes, how the model was trained, its evaluation results and its limits."""

from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import PreTrainedModel

from .prompts import format_qa_prompt

# The usage example's prompt, as a Python literal
_QA_PROMPT = repr(format_qa_prompt("Who keeps a ferret?", "Ana Lo keeps a ferret."))
_USAGE = """```python
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

model = AutoModelForSeq2SeqLM.from_pretrained("{repo}", trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained("{repo}")
prompt = {prompt}
inputs = tokenizer(prompt, return_tensors="pt")
print(tokenizer.decode(model.generate(**inputs, max_new_tokens=32)[0], skip_special_tokens=True))
```

With a pipeline (`image-text-to-text` is the transformers pipeline for encoder-decoder generation):

```python
from transformers import pipeline

pipe = pipeline("image-text-to-text", model="{repo}", trust_remote_code=True)
print(pipe(text=prompt, max_new_tokens=32, return_full_text=False)[0]["generated_text"])
```
{image_usage}
`trust_remote_code=True` loads the model code saved next to the weights; with the `mu` package installed
(`import mu`), the Auto classes know Mu without it."""

_IMAGE_USAGE = """
A question about an image (the chat template writes the reference's visual-QA prompt):

```python
messages = [{"role": "user", "content": [{"type": "image", "url": "photo.jpg"},
                                         {"type": "text", "text": "What is on the table?"}]}]
print(pipe(text=messages, max_new_tokens=32, return_full_text=False)[0]["generated_text"])
```
"""

_LIMITATIONS = (
    "A small model: it answers from its input and is not a source of facts. It was not evaluated for safety or "
    "bias; check its outputs on your own data before relying on them."
)


def architecture_table(model: PreTrainedModel) -> str:
    config = model.config
    if config.model_type != "mu":
        parameters = f"{model.num_parameters() / 1e6:.2f}M"
        return f"| model type | parameters |\n|---|---:|\n| {config.model_type} | {parameters} |"
    return (
        "| encoder layers | decoder layers | hidden | attention width | heads (q/kv) | MLP | vocabulary "
        "| parameters |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {config.encoder_layers} | {config.decoder_layers} | {config.hidden_size} | "
        f"{config.attention_hidden_size} | {config.num_attention_heads}/{config.num_key_value_heads} | "
        f"{config.intermediate_size} | {config.vocab_size} | {model.num_parameters() / 1e6:.2f}M |"
    )


def evaluation_results(metrics_files: list[str | Path]) -> list[EvalResult]:
    """`EvalResult`s (the card's `model-index`) from `metrics.json` files written by `mu evaluate`."""
    import json

    results = []
    for path in metrics_files:
        metrics = json.loads(Path(path).read_text())
        for name, value in metrics.items():
            # counts (`examples`, SQuAD's `*total`) and thresholds are not results
            if isinstance(value, (int, float)) and name != "examples" and not name.endswith(("total", "_thresh")):
                results.append(
                    EvalResult(
                        task_type="text2text-generation",
                        dataset_type=metrics["task"],
                        dataset_name=metrics["task"],
                        metric_type=name,
                        metric_value=value,
                    )
                )
    return results


def build_model_card(
    model: PreTrainedModel,
    title: str,
    summary: str,
    training: dict[str, str] | None = None,
    base_model: str | None = None,
    datasets: list[str] | None = None,
    eval_results: list[EvalResult] | None = None,
    tags: tuple[str, ...] = (),
    repo: str = "<this folder>",
) -> ModelCard:
    has_vision = getattr(model.config, "vision_config", None) is not None
    data = ModelCardData(
        model_name=title,
        library_name="transformers",
        pipeline_tag="image-text-to-text" if has_vision else "text2text-generation",
        tags=["mu", "encoder-decoder", *tags],
        license="mit",
        base_model=base_model,
        datasets=datasets,
        eval_results=eval_results or None,
    )
    sections = [
        f"# {title}",
        summary,
        "## Architecture",
        architecture_table(model),
        "## Usage",
        _USAGE.format(repo=repo, prompt=_QA_PROMPT, image_usage=_IMAGE_USAGE if has_vision else ""),
    ]
    if training:
        sections += ["## Training", "\n".join(f"- {key}: {value}" for key, value in training.items())]
    if eval_results:
        rows = "\n".join(f"| {r.dataset_name} | {r.metric_type} | {r.metric_value:.4g} |" for r in eval_results)
        sections += ["## Evaluation", "| task | metric | value |\n|---|---|---:|\n" + rows]
    sections += ["## Limitations", _LIMITATIONS]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n")


def add_evaluation_results(model_dir: str | Path, metrics_file: str | Path) -> ModelCard:
    """Adds the results of a `mu evaluate` run (its `metrics.json`) to the `model-index` of the card in `model_dir`
    (results of the same task and metric are replaced)."""
    path = Path(model_dir) / "README.md"
    if not path.is_file():
        raise ValueError(f"{model_dir} has no model card (README.md) to add the results to.")
    card = ModelCard.load(path)
    new = evaluation_results([metrics_file])
    replaced = {(r.dataset_type, r.metric_type) for r in new}
    kept = [r for r in card.data.eval_results or [] if (r.dataset_type, r.metric_type) not in replaced]
    card.data.eval_results = kept + new
    if card.data.model_name is None:
        card.data.model_name = Path(model_dir).resolve().name
    card.save(path)
    return card
