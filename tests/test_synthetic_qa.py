import pytest

from mu.evaluation import exact_match, f1_score, normalize_answer
from mu.synthetic_data.qa import RELATIONS, make_synthetic_qa


def test_synthetic_qa_is_deterministic_and_seed_dependent():
    assert make_synthetic_qa(50, seed=3) == make_synthetic_qa(50, seed=3)
    assert make_synthetic_qa(50, seed=3) != make_synthetic_qa(50, seed=4)


def test_answers_are_spans_of_the_context_and_some_questions_are_unanswerable():
    rows = make_synthetic_qa(500, seed=0)
    unanswerable = 0
    for row in rows:
        answers = row["answers"]
        if not answers["text"]:
            unanswerable += 1
            # the asked relation is stated nowhere in the context
            relation = next(
                r for r, (_, question, _) in RELATIONS.items() if question.split("{")[0] in row["question"]
            )
            assert not any(value in row["context"] for value in RELATIONS[relation][2])
            continue
        (text,), (start,) = answers["text"], answers["answer_start"]
        assert row["context"][start : start + len(text)] == text
    assert 0.1 < unanswerable / len(rows) < 0.3


@pytest.mark.parametrize(
    "prediction, golds, em, f1",
    [
        ("The Cello!", ["cello"], 1.0, 1.0),
        ("a red  bicycle", ["red bicycle", "bike"], 1.0, 1.0),
        ("red car", ["red bicycle"], 0.0, 0.5),
        ("", [], 1.0, 1.0),  # correctly abstains
        ("cello", [], 0.0, 0.0),  # answers an unanswerable question
        ("", ["cello"], 0.0, 0.0),
        ("old blue violin case", ["blue violin", "violin"], 0.0, 2 * (2 / 4) * 1.0 / (2 / 4 + 1.0)),
    ],
)
def test_squad_v2_scores_match_hand_computed_values(prediction, golds, em, f1):
    assert exact_match(prediction, golds) == em
    assert f1_score(prediction, golds) == pytest.approx(f1)


def test_normalisation_drops_case_punctuation_articles_and_extra_space():
    assert normalize_answer("  The  Quick, brown fox. An apple ") == "quick brown fox apple"
