# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""ROUGE-N / ROUGE-L / ROUGE-Lsum, as an `evaluate` metric module.

ROUGE-N / ROUGE-L / ROUGE-Lsum F-measures computed with the `rouge_score` package. Mirrors the inputs and outputs of
the Hub `rouge` metric, so code written for `evaluate.load("rouge")` runs offline."""

from collections.abc import Callable

import evaluate
from rouge_score import rouge_scorer, scoring, tokenizers

from mu.evaluation.metrics import text_with_references_features

_DESCRIPTION = """
ROUGE F-measures of predictions against references, from the `rouge_score` package: `rouge1` / `rouge2` (unigram /
bigram overlap), `rougeL` (longest common subsequence) and `rougeLsum` (union LCS over sentences, which must be
separated by newlines). With several references per prediction the best-scoring one counts.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predictions (strings).
    references: list of references, each a string or a list of strings.
    rouge_types: the ROUGE variants to compute (default `["rouge1", "rouge2", "rougeL", "rougeLsum"]`).
    use_aggregator: return the bootstrap-aggregated mid F-measure (default); `False` returns per-example lists.
    use_stemmer: apply the Porter stemmer to words longer than 3 characters (default tokenizer only).
    tokenizer: a callable from text to tokens, replacing the default lower-case alphanumeric tokenizer.
Returns:
    One F-measure (or list of them) per ROUGE type.
Examples:
    >>> from mu.evaluation.metrics import load_metric
    >>> load_metric("rouge").compute(predictions=["the cat sat"], references=["the cat ran"])["rouge1"]
    0.666...
"""

DEFAULT_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


class _CallableTokenizer(tokenizers.Tokenizer):
    """Adapts a `text -> tokens` callable to the tokenizer interface `rouge_score` expects."""

    def __init__(self, tokenize: Callable[[str], list[str]]):
        self._tokenize = tokenize

    def tokenize(self, text: str) -> list[str]:
        return self._tokenize(text)


class Rouge(evaluate.Metric):
    """ROUGE F-measures, like the Hub `rouge` metric."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=text_with_references_features(),
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[str] | list[list[str]],
        rouge_types: list[str] | None = None,
        use_aggregator: bool = True,
        use_stemmer: bool = False,
        tokenizer: Callable[[str], list[str]] | None = None,
    ) -> dict[str, float | list[float]]:
        rouge_types = list(rouge_types or DEFAULT_ROUGE_TYPES)
        scorer = rouge_scorer.RougeScorer(
            rouge_types, use_stemmer=use_stemmer, tokenizer=_CallableTokenizer(tokenizer) if tokenizer else None
        )
        scores = [
            scorer.score_multi(reference, prediction)
            if isinstance(reference, list)
            else scorer.score(reference, prediction)
            for prediction, reference in zip(predictions, references)
        ]
        if not use_aggregator:
            return {rouge_type: [score[rouge_type].fmeasure for score in scores] for rouge_type in rouge_types}
        aggregator = scoring.BootstrapAggregator()
        for score in scores:
            aggregator.add_scores(score)
        return {rouge_type: float(score.mid.fmeasure) for rouge_type, score in aggregator.aggregate().items()}
