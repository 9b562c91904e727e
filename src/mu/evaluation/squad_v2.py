# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""SQuAD v2 answer scoring with the official normalisation.

SQuAD v2 answer scoring, with the official normalisation: lower-case, no punctuation, no articles (a, an, the),
collapsed whitespace. An empty string means "no answer"; a prediction scores the best over the gold answers."""

import collections
import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _gold_or_no_answer(gold_answers: list[str]) -> list[str]:
    golds = [answer for answer in gold_answers if normalize_answer(answer)]
    return golds or [""]


def exact_match(prediction: str, gold_answers: list[str]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer (empty gold list = unanswerable)."""
    return max(float(normalize_answer(prediction) == normalize_answer(g)) for g in _gold_or_no_answer(gold_answers))


def _token_f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, gold_answers: list[str]) -> float:
    """Token-overlap F1 of the prediction against the best gold answer (empty gold list = unanswerable)."""
    return max(_token_f1(prediction, g) for g in _gold_or_no_answer(gold_answers))
