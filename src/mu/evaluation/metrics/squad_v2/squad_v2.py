# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""SQuAD v2 exact match and F1 with no-answer thresholds, as an `evaluate` metric module.

SQuAD v2 exact match and F1 (in percent) with no-answer thresholding and the best-threshold search. Mirrors the
inputs and outputs of the Hub `squad_v2` metric, so code written for `evaluate.load("squad_v2")` runs offline."""

import datasets
import evaluate

from mu.evaluation.squad_v2 import exact_match, f1_score

_DESCRIPTION = """
SQuAD v2 scoring: answers are normalised (lower-cased, punctuation and the articles a/an/the removed, whitespace
collapsed) and compared with each gold answer, keeping the best. Exact match is 1 for identical normalised strings;
F1 is the token-overlap F1. A question with no gold answer is unanswerable: only the empty prediction is correct. A
prediction whose no-answer probability exceeds `no_answer_threshold` counts as the empty prediction.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of dicts with `id`, `prediction_text` and `no_answer_probability`.
    references: list of dicts with `id` and `answers` (`{"text": [...], "answer_start": [...]}`); an empty `text`
        list marks an unanswerable question.
    no_answer_threshold: predictions whose `no_answer_probability` exceeds it count as "no answer" (default 1.0).
Returns:
    `exact`, `f1` (percent) and `total`; the same with the `HasAns_` / `NoAns_` prefixes over the answerable /
    unanswerable questions, when there are any; `best_exact`, `best_f1` (the scores at the best threshold on the
    no-answer probabilities) and `best_exact_thresh`, `best_f1_thresh`.
Examples:
    >>> from mu.evaluation.metrics import load_metric
    >>> squad_v2 = load_metric("squad_v2")
    >>> squad_v2.compute(
    ...     predictions=[{"id": "q1", "prediction_text": "the cat", "no_answer_probability": 0.0}],
    ...     references=[{"id": "q1", "answers": {"text": ["Cat"], "answer_start": [4]}}],
    ... )["exact"]
    100.0
"""


def _summary(prefix: str, ids: list[str], scores: dict[str, dict[str, float]]) -> dict[str, float | int]:
    result: dict[str, float | int] = {
        f"{prefix}{name}": 100.0 * sum(s[qid] for qid in ids) / len(ids) for name, s in scores.items()
    }
    result[f"{prefix}total"] = len(ids)
    return result


def _best_threshold(
    ids: list[str],
    scores: dict[str, float],
    texts: dict[str, str],
    has_answer: dict[str, bool],
    no_answer_probability: dict[str, float],
) -> tuple[float, float]:
    """Best score (percent) over thresholds on the no-answer probabilities, and the threshold reaching it. Like the
    official script, the sweep starts from "no answer" everywhere (threshold reported as 0.0) and answers the
    questions one at a time by increasing probability, ties in prediction order; answering an unanswerable question
    loses its point when the raw prediction text is not empty."""
    score = best = float(sum(not has_answer[qid] for qid in ids))
    best_threshold = 0.0
    for qid in sorted(ids, key=no_answer_probability.__getitem__):
        score += scores[qid] if has_answer[qid] else -float(bool(texts[qid]))
        if score > best:
            best, best_threshold = score, no_answer_probability[qid]
    return 100.0 * best / len(ids), best_threshold


class SquadV2(evaluate.Metric):
    """SQuAD v2 exact match and F1, like the Hub `squad_v2` metric."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {
                        "id": datasets.Value("string"),
                        "prediction_text": datasets.Value("string"),
                        "no_answer_probability": datasets.Value("float64"),
                    },
                    "references": {
                        "id": datasets.Value("string"),
                        "answers": datasets.Sequence(
                            {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}
                        ),
                    },
                }
            ),
            reference_urls=["https://rajpurkar.github.io/SQuAD-explorer/"],
        )

    def _compute(
        self, predictions: list[dict], references: list[dict], no_answer_threshold: float = 1.0
    ) -> dict[str, float | int]:
        answers = {reference["id"]: reference["answers"]["text"] for reference in references}
        predicted = {prediction["id"]: prediction for prediction in predictions}
        missing = answers.keys() - predicted.keys()
        if missing:
            raise ValueError(f"No prediction for the question id(s) {sorted(missing)}.")
        ids = [qid for qid in predicted if qid in answers]
        has_answer = {qid: bool(answers[qid]) for qid in ids}
        texts = {qid: predicted[qid]["prediction_text"] for qid in ids}
        no_answer_probability = {qid: predicted[qid]["no_answer_probability"] for qid in ids}
        raw = {
            "exact": {qid: exact_match(texts[qid], answers[qid]) for qid in ids},
            "f1": {qid: f1_score(texts[qid], answers[qid]) for qid in ids},
        }
        thresholded = {
            name: {
                qid: float(not has_answer[qid]) if no_answer_probability[qid] > no_answer_threshold else scores[qid]
                for qid in ids
            }
            for name, scores in raw.items()
        }
        result = _summary("", ids, thresholded)
        for prefix, subset in (
            ("HasAns_", [qid for qid in ids if has_answer[qid]]),
            ("NoAns_", [qid for qid in ids if not has_answer[qid]]),
        ):
            if subset:
                result.update(_summary(prefix, subset, thresholded))
        for name, scores in raw.items():
            best, threshold = _best_threshold(ids, scores, texts, has_answer, no_answer_probability)
            result[f"best_{name}"], result[f"best_{name}_thresh"] = best, threshold
        return result
