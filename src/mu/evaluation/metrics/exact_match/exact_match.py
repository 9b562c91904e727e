# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Exact match of predictions against references, as an `evaluate` metric module.

Exact-match rate of predictions against references, with optional normalisations. Mirrors the inputs and outputs
of the Hub `exact_match` metric, so code written for `evaluate.load("exact_match")` runs offline."""

import re
import string

import datasets
import evaluate

_DESCRIPTION = """
The fraction of predictions identical to their reference, after optionally removing regex matches, lower-casing,
and removing punctuation and digits (applied in that order to both strings).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predictions (strings).
    references: list of references (strings).
    regexes_to_ignore: regular expressions whose matches are removed before comparing.
    ignore_case: lower-case both strings.
    ignore_punctuation: remove the characters of `string.punctuation`.
    ignore_numbers: remove the digits 0-9.
Returns:
    `exact_match`: the fraction of exact matches, in [0, 1].
Examples:
    >>> from mu.evaluation.metrics import load_metric
    >>> load_metric("exact_match").compute(predictions=["Cat", "dog"], references=["cat", "dog"], ignore_case=True)
    {'exact_match': 1.0}
"""

_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)
_NO_DIGITS = str.maketrans("", "", string.digits)


class ExactMatch(evaluate.Metric):
    """Exact-match rate, like the Hub `exact_match` metric."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[str],
        regexes_to_ignore: list[str] | None = None,
        ignore_case: bool = False,
        ignore_punctuation: bool = False,
        ignore_numbers: bool = False,
    ) -> dict[str, float]:
        def normalize(text: str) -> str:
            for regex in regexes_to_ignore or ():
                text = re.sub(regex, "", text)
            if ignore_case:
                text = text.lower()
            if ignore_punctuation:
                text = text.translate(_NO_PUNCTUATION)
            if ignore_numbers:
                text = text.translate(_NO_DIGITS)
            return text

        matches = [
            normalize(prediction) == normalize(reference) for prediction, reference in zip(predictions, references)
        ]
        return {"exact_match": sum(matches) / len(matches)}
