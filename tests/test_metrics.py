"""The bundled offline `evaluate` metrics, against values worked out by hand."""

import math
from pathlib import Path

import evaluate
import pytest

from mu.evaluation import metrics as bundled
from mu.evaluation.metrics import METRICS, load_metric


@pytest.fixture(scope="module")
def metric() -> dict[str, evaluate.EvaluationModule]:
    """Each bundled metric, loaded once (evaluate's module cache is a temporary folder, see conftest)."""
    return {name: load_metric(name) for name in METRICS}


def _question(qid: str, prediction: str, answers: list[str], no_answer_probability: float = 0.0) -> tuple[dict, dict]:
    return (
        {"id": qid, "prediction_text": prediction, "no_answer_probability": no_answer_probability},
        {"id": qid, "answers": {"text": answers, "answer_start": [0] * len(answers)}},
    )


def _squad_v2(metric, questions: list[tuple[dict, dict]], **kwargs) -> dict:
    predictions, references = zip(*questions)
    return metric["squad_v2"].compute(predictions=list(predictions), references=list(references), **kwargs)


# squad_v2


def test_squad_v2_scores_and_splits(metric):
    result = _squad_v2(
        metric,
        [
            _question("norm", "The Cat!", ["cat"]),  # normalised "cat" == "cat": EM 1, F1 1
            # "big red dog" vs "red dog barked loudly": 2 common tokens, P = 2/3, R = 2/4, F1 = 2PR/(P+R) = 4/7
            _question("partial", "the big red dog", ["a red dog barked loudly", "blue"]),
            _question("multi", "Paris", ["London", "paris."]),  # the second gold answer matches: EM 1, F1 1
            _question("no-answer-right", "", []),  # unanswerable, empty prediction: EM 1, F1 1
            _question("no-answer-wrong", "somewhere", []),  # unanswerable, any text: EM 0, F1 0
        ],
    )
    assert result["exact"] == pytest.approx(100 * 3 / 5)
    assert result["f1"] == pytest.approx(100 * (3 + 4 / 7) / 5)
    assert result["total"] == 5
    assert result["HasAns_exact"] == pytest.approx(100 * 2 / 3)
    assert result["HasAns_f1"] == pytest.approx(100 * (2 + 4 / 7) / 3)
    assert result["HasAns_total"] == 3
    assert result["NoAns_exact"] == pytest.approx(50.0)
    assert result["NoAns_f1"] == pytest.approx(50.0)
    assert result["NoAns_total"] == 2


def test_squad_v2_no_answer_threshold(metric):
    questions = [
        _question("answerable", "cat", ["cat"], no_answer_probability=0.8),
        _question("unanswerable", "dog", [], no_answer_probability=0.6),
    ]
    # Default threshold 1.0: both answered, "cat" right, "dog" wrong.
    result = _squad_v2(metric, questions)
    assert (result["exact"], result["HasAns_exact"], result["NoAns_exact"]) == (50.0, 100.0, 0.0)
    # 0.7: the answerable question (0.8 > 0.7) becomes "no answer" and is wrong; "dog" (0.6) is still given.
    result = _squad_v2(metric, questions, no_answer_threshold=0.7)
    assert (result["exact"], result["f1"]) == (0.0, 0.0)
    # 0.5: both become "no answer": wrong for the answerable question, right for the unanswerable one.
    result = _squad_v2(metric, questions, no_answer_threshold=0.5)
    assert (result["HasAns_exact"], result["NoAns_exact"], result["NoAns_f1"]) == (0.0, 100.0, 100.0)


def test_squad_v2_split_keys_only_when_present(metric):
    result = _squad_v2(metric, [_question("q", "cat", ["cat"])])
    assert not any(key.startswith("NoAns_") for key in result)
    assert set(result) == {
        "exact",
        "f1",
        "total",
        "HasAns_exact",
        "HasAns_f1",
        "HasAns_total",
        "best_exact",
        "best_exact_thresh",
        "best_f1",
        "best_f1_thresh",
    }
    assert "HasAns_total" not in _squad_v2(metric, [_question("q", "", [])])


def test_squad_v2_best_thresholds(metric):
    questions = [
        _question("a", "cat", ["cat"], 0.1),  # EM 1, F1 1
        _question("c", "red dog", ["red cat"], 0.2),  # EM 0, F1 1/2
        _question("e", "blue sky", ["blue sea"], 0.3),  # EM 0, F1 1/2
        _question("b", "dog", [], 0.4),  # unanswerable, answered with text: 0 when answered, 1 when not
        _question("d", "x", [], 0.9),  # same
    ]
    # Below every probability all five are "no answer": 2 points (b, d). Answering by increasing probability:
    #   EM: a +1 -> 3 (at 0.1), c +0 -> 3, e +0 -> 3, b -1 -> 2, d -1 -> 1: best 3/5 at 0.1.
    #   F1: a +1 -> 3, c +1/2 -> 3.5, e +1/2 -> 4 (at 0.3), b -1 -> 3, d -1 -> 2: best 4/5 at 0.3.
    result = _squad_v2(metric, questions)
    assert result["exact"] == pytest.approx(100 * 1 / 5)
    assert result["f1"] == pytest.approx(100 * 2 / 5)
    assert result["best_exact"] == pytest.approx(60.0)
    assert result["best_exact_thresh"] == pytest.approx(0.1)
    assert result["best_f1"] == pytest.approx(80.0)
    assert result["best_f1_thresh"] == pytest.approx(0.3)
    # The thresholds reach those scores when passed back.
    assert _squad_v2(metric, questions, no_answer_threshold=0.1)["exact"] == pytest.approx(60.0)
    assert _squad_v2(metric, questions, no_answer_threshold=0.3)["f1"] == pytest.approx(80.0)


def test_squad_v2_missing_prediction(metric):
    with pytest.raises(ValueError, match="'q2'"):
        metric["squad_v2"].compute(
            predictions=[{"id": "q1", "prediction_text": "", "no_answer_probability": 0.0}],
            references=[{"id": "q2", "answers": {"text": [], "answer_start": []}}],
        )


# rouge


def test_rouge_by_hand(metric):
    # Prediction "police killed the gunman", reference "the gunman killed police":
    #   rouge1: all 4 unigrams shared -> 1; rouge2: bigrams (police killed, killed the, the gunman) vs (the gunman,
    #   gunman killed, killed police) share 1 of 3 each -> 1/3; rougeL: LCS "the gunman" = 2 of 4 -> 1/2.
    result = metric["rouge"].compute(predictions=["police killed the gunman"], references=["the gunman killed police"])
    assert result["rouge1"] == pytest.approx(1.0)
    assert result["rouge2"] == pytest.approx(1 / 3)
    assert result["rougeL"] == pytest.approx(1 / 2)
    assert set(result) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}


def test_rouge_stemmer(metric):
    # "running fast" vs "run fast": 1 of 2 unigrams shared (F = 1/2); stemmed, "running" -> "run": 2 of 2.
    kwargs = dict(predictions=["running fast"], references=["run fast"], rouge_types=["rouge1"])
    assert metric["rouge"].compute(**kwargs) == {"rouge1": pytest.approx(0.5)}
    assert metric["rouge"].compute(**kwargs, use_stemmer=True) == {"rouge1": pytest.approx(1.0)}


def test_rouge_lsum_uses_newline_sentences(metric):
    # As one sequence, "the dog ran the cat sat" vs "the cat sat the dog ran" has an LCS of 3 of 6 tokens -> 1/2.
    # Sentence by sentence, the union LCS of "the cat sat" with the candidate sentences ("the dog ran": "the";
    # "the cat sat": all) covers 3 tokens, likewise for "the dog ran": 6 of 6 -> 1.
    result = metric["rouge"].compute(
        predictions=["the dog ran\nthe cat sat"],
        references=["the cat sat\nthe dog ran"],
        rouge_types=["rougeL", "rougeLsum"],
    )
    assert result["rougeL"] == pytest.approx(0.5)
    assert result["rougeLsum"] == pytest.approx(1.0)


def test_rouge_multiple_references_take_the_best(metric):
    # "the cat sat" vs "a dog ran": nothing shared. vs "the cat sat down": rouge1 P = 3/3, R = 3/4 -> F = 6/7;
    # rouge2 P = 2/2, R = 2/3 -> F = 4/5.
    result = metric["rouge"].compute(
        predictions=["the cat sat"], references=[["a dog ran", "the cat sat down"]], rouge_types=["rouge1", "rouge2"]
    )
    assert result["rouge1"] == pytest.approx(6 / 7)
    assert result["rouge2"] == pytest.approx(4 / 5)


def test_rouge_per_example_and_aggregated(metric):
    kwargs = dict(
        predictions=["police killed the gunman", "running fast"],
        references=["the gunman killed police", "run fast"],
        rouge_types=["rouge1"],
    )
    assert metric["rouge"].compute(**kwargs, use_aggregator=False) == {"rouge1": [1.0, 0.5]}
    # The bootstrap mid of two scores is the median of 1000 resampled means, each 0.5, 0.75 or 1.0 with
    # probabilities 1/4, 1/2, 1/4: 0.75 unless half the resamples hit one extreme (never, in practice).
    assert metric["rouge"].compute(**kwargs)["rouge1"] == pytest.approx(0.75)


def test_rouge_custom_tokenizer(metric):
    kwargs = dict(predictions=["Cat."], references=["cat"], rouge_types=["rouge1"])
    assert metric["rouge"].compute(**kwargs)["rouge1"] == pytest.approx(1.0)  # lower-cased, punctuation dropped
    assert metric["rouge"].compute(**kwargs, tokenizer=str.split)["rouge1"] == 0.0  # "Cat." != "cat"


# bleu


def test_bleu_perfect_match(metric):
    result = metric["bleu"].compute(predictions=["the cat sat on the mat"], references=["the cat sat on the mat"])
    assert result == {
        "bleu": 1.0,
        "precisions": [1.0, 1.0, 1.0, 1.0],
        "brevity_penalty": 1.0,
        "length_ratio": 1.0,
        "translation_length": 6,
        "reference_length": 6,
    }


def test_bleu_zero_four_gram_precision_and_smoothing(metric):
    # "the cat sat on the mat" vs "the cat is on the mat": 1-grams 5/6 (the x2, cat, on, mat), 2-grams 3/5 (the cat,
    # on the, the mat), 3-grams 1/4 (on the mat), 4-grams 0/3. Same lengths, so the brevity penalty is 1.
    kwargs = dict(predictions=["the cat sat on the mat"], references=[["the cat is on the mat"]])
    result = metric["bleu"].compute(**kwargs)
    assert result["precisions"] == pytest.approx([5 / 6, 3 / 5, 1 / 4, 0.0])
    assert result["bleu"] == 0.0
    # Add-one smoothing: (5+1)/(6+1), (3+1)/(5+1), (1+1)/(4+1), (0+1)/(3+1) = 6/7, 2/3, 2/5, 1/4; product 2/35.
    smoothed = metric["bleu"].compute(**kwargs, smooth=True)
    assert smoothed["precisions"] == pytest.approx([6 / 7, 2 / 3, 2 / 5, 1 / 4])
    assert smoothed["bleu"] == pytest.approx((2 / 35) ** (1 / 4))


def test_bleu_brevity_penalty(metric):
    # 3 hypothesis tokens, all 1- and 2-grams found, against 6 reference tokens: BP = exp(1 - 6/3) = exp(-1).
    result = metric["bleu"].compute(predictions=["the cat sat"], references=["the cat sat on the mat"], max_order=2)
    assert result["precisions"] == [1.0, 1.0]
    assert result["brevity_penalty"] == pytest.approx(math.exp(-1))
    assert result["bleu"] == pytest.approx(math.exp(-1))
    assert (result["length_ratio"], result["translation_length"], result["reference_length"]) == (0.5, 3, 6)


def test_bleu_clips_by_the_best_reference_and_uses_the_shortest_length(metric):
    # "the" x3 is clipped at its largest count in one reference (2): precision 2/3. r = 2 (the shortest
    # reference), c = 3: no brevity penalty.
    result = metric["bleu"].compute(predictions=["the the the"], references=[["the cat", "the the dog"]], max_order=1)
    assert result["bleu"] == pytest.approx(2 / 3)
    assert (result["translation_length"], result["reference_length"], result["length_ratio"]) == (3, 2, 1.5)


def test_bleu_13a_tokenizer(metric):
    kwargs = dict(predictions=["Hello, world!"], references=["Hello , world !"], max_order=1)
    assert metric["bleu"].compute(**kwargs)["bleu"] == 1.0  # 13a splits off the punctuation
    assert metric["bleu"].compute(**kwargs, tokenizer=str.split)["precisions"] == [0.0]  # "Hello," != "Hello"


# exact_match


def test_exact_match_flags(metric):
    inputs = dict(
        predictions=["The Cat!", "room 101", "Hello", "answer: yes"],
        references=["the cat", "room 7", "hello", "answer: no"],
    )
    exact_match = metric["exact_match"]
    assert exact_match.compute(**inputs) == {"exact_match": 0.0}
    assert exact_match.compute(**inputs, ignore_case=True) == {"exact_match": 0.25}  # Hello
    assert exact_match.compute(**inputs, ignore_case=True, ignore_punctuation=True)["exact_match"] == 0.5  # + cat
    everything_but_regexes = dict(ignore_case=True, ignore_punctuation=True, ignore_numbers=True)
    assert exact_match.compute(**inputs, **everything_but_regexes)["exact_match"] == 0.75  # + "room " == "room "
    assert exact_match.compute(**inputs, regexes_to_ignore=["yes", "no"])["exact_match"] == 0.25  # "answer: "
    assert exact_match.compute(**inputs, **everything_but_regexes, regexes_to_ignore=["yes", "no"]) == {
        "exact_match": 1.0
    }


# load_metric


def test_load_metric_names(metric):
    assert {name: module.name for name, module in metric.items()} == {name: name for name in METRICS}
    with pytest.raises(ValueError, match="squad_v2, rouge, bleu, exact_match"):
        load_metric("meteor")


def test_evaluate_load_from_folder(metric):
    exact_match = evaluate.load(str(Path(bundled.__file__).parent / "exact_match"))
    assert exact_match.compute(predictions=["a", "b"], references=["a", "c"]) == {"exact_match": 0.5}
