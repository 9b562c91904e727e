# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Corpus BLEU, as an `evaluate` metric module.

Corpus BLEU (n-gram precisions up to `max_order`, optional add-one smoothing, brevity penalty against the shortest
reference). Mirrors the inputs and outputs of the Hub `bleu` metric, so code written for `evaluate.load("bleu")` runs
offline."""

import math
from collections import Counter
from collections.abc import Callable

import evaluate
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from mu.evaluation.metrics import text_with_references_features

_DESCRIPTION = """
Corpus-level BLEU: the geometric mean of the modified n-gram precisions (n = 1..max_order; the n-gram counts of a
prediction are clipped by their maximum count in any of its references) times the brevity penalty exp(1 - r/c) when
the total prediction length c is below r, the summed lengths of the shortest reference of each prediction. With
`smooth=True` every precision becomes (matches + 1) / (candidates + 1).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predictions (strings).
    references: list of references, each a string or a list of strings.
    tokenizer: a callable from text to tokens (default: the 13a tokenizer of `sacrebleu`).
    max_order: the longest n-gram (default 4).
    smooth: add-one smoothing of the n-gram precisions (default False).
Returns:
    `bleu`, `precisions` (one per order), `brevity_penalty`, `length_ratio` (c / r), `translation_length` (c) and
    `reference_length` (r).
Examples:
    >>> from mu.evaluation.metrics import load_metric
    >>> bleu = load_metric("bleu")
    >>> bleu.compute(predictions=["the cat sat on the mat"], references=[["the cat sat on the mat"]])["bleu"]
    1.0
"""

_TOKENIZER_13A = Tokenizer13a()


def tokenize_13a(text: str) -> list[str]:
    """The `13a` tokenization of the WMT `mteval-v13a` script (via `sacrebleu`), as a list of tokens."""
    return _TOKENIZER_13A(text).split()


def _ngram_counts(tokens: list[str], max_order: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for n in range(1, max_order + 1) for i in range(len(tokens) - n + 1))


class Bleu(evaluate.Metric):
    """Corpus BLEU, like the Hub `bleu` metric."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=text_with_references_features(),
            reference_urls=["https://aclanthology.org/P02-1040/"],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[str] | list[list[str]],
        tokenizer: Callable[[str], list[str]] = tokenize_13a,
        max_order: int = 4,
        smooth: bool = False,
    ) -> dict[str, float | int | list[float]]:
        matches, candidates = [0] * max_order, [0] * max_order
        translation_length = reference_length = 0
        for prediction, prediction_references in zip(predictions, references):
            if isinstance(prediction_references, str):
                prediction_references = [prediction_references]
            tokens = tokenizer(prediction)
            reference_tokens = [tokenizer(reference) for reference in prediction_references]
            translation_length += len(tokens)
            reference_length += min(len(reference) for reference in reference_tokens)
            reference_counts = Counter()
            for reference in reference_tokens:
                reference_counts |= _ngram_counts(reference, max_order)
            for ngram, count in (_ngram_counts(tokens, max_order) & reference_counts).items():
                matches[len(ngram) - 1] += count
            for n in range(1, max_order + 1):
                candidates[n - 1] += max(len(tokens) - n + 1, 0)
        if smooth:
            precisions = [(m + 1) / (c + 1) for m, c in zip(matches, candidates)]
        else:
            precisions = [m / c if c else 0.0 for m, c in zip(matches, candidates)]
        geometric_mean = math.exp(sum(math.log(p) for p in precisions) / max_order) if min(precisions) > 0 else 0.0
        if reference_length == 0:
            raise ValueError("Every reference is empty after tokenization: BLEU is undefined.")
        length_ratio = translation_length / reference_length
        if length_ratio >= 1.0:
            brevity_penalty = 1.0
        else:
            brevity_penalty = math.exp(1 - 1 / length_ratio) if translation_length else 0.0
        return {
            "bleu": geometric_mean * brevity_penalty,
            "precisions": precisions,
            "brevity_penalty": brevity_penalty,
            "length_ratio": length_ratio,
            "translation_length": translation_length,
            "reference_length": reference_length,
        }
