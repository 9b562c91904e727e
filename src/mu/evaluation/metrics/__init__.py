# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`evaluate` metric modules bundled with Mu, loadable offline.

Each takes the inputs and returns the keys of the Hub metric of the same name: `load_metric("rouge")` stands in for
`evaluate.load("rouge")`."""

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import evaluate

METRICS = ("squad_v2", "rouge", "bleu", "exact_match")


def text_with_references_features() -> list:
    """The input features of text metrics that accept one reference per prediction or a list of them."""
    import datasets

    text = datasets.Value("string")
    return [
        datasets.Features({"predictions": text, "references": datasets.Sequence(text)}),
        datasets.Features({"predictions": text, "references": text}),
    ]


def load_metric(name: str, **kwargs) -> "evaluate.EvaluationModule":
    """Load the bundled metric `name` (one of `METRICS`) with `evaluate.load`, which receives `kwargs`."""
    if name not in METRICS:
        raise ValueError(f"Unknown metric {name!r}; the bundled metrics are {', '.join(METRICS)}.")
    import evaluate

    return evaluate.load(str(Path(__file__).parent / name / f"{name}.py"), **kwargs)
