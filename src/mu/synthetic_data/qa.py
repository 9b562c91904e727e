# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""A deterministic SQuAD-2-style extractive QA set.

Short biographies of invented people, questions whose answer is a span of the context, and unanswerable questions
about facts the context does not state."""

import random

from ..prompts import format_qa_prompt

_SYLLABLES = ["ka", "lo", "mi", "ra", "to", "ve", "su", "na", "do", "fe", "ri", "ba", "zu", "pe", "ol", "an"]
_CITIES = ["Lumen", "Ostrava", "Pellin", "Quorra", "Saltmere", "Tervan", "Umbra", "Veldt", "Wexford", "Yarrow"]
_JOBS = ["baker", "pilot", "teacher", "sculptor", "nurse", "chemist", "farmer", "drummer", "tailor", "surveyor"]
_PETS = ["parrot", "tortoise", "ferret", "beagle", "goldfish", "rabbit", "lizard", "hamster"]
_COLORS = ["crimson", "teal", "amber", "violet", "olive", "silver", "indigo", "ochre"]
_INSTRUMENTS = ["cello", "flute", "banjo", "harp", "trumpet", "violin", "oboe", "accordion"]

# relation -> (statement template, question template, values)
RELATIONS = {
    "born": ("{name} was born in {value}.", "Where was {name} born?", _CITIES),
    "job": ("{name} works as a {value}.", "What does {name} work as?", _JOBS),
    "pet": ("{name} keeps a {value} as a pet.", "What pet does {name} keep?", _PETS),
    "color": ("The favourite colour of {name} is {value}.", "What is the favourite colour of {name}?", _COLORS),
    "instrument": ("{name} plays the {value}.", "Which instrument does {name} play?", _INSTRUMENTS),
}


def _invent_name(rng: random.Random) -> str:
    first = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    last = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    return f"{first} {last}"


def make_example(rng: random.Random, example_id: str, unanswerable_rate: float) -> dict:
    """One context of two to four shuffled facts about an invented person, and one question about that person."""
    person = _invent_name(rng)
    stated = {
        relation: rng.choice(RELATIONS[relation][2]) for relation in rng.sample(sorted(RELATIONS), rng.randint(2, 4))
    }
    facts = [RELATIONS[relation][0].format(name=person, value=value) for relation, value in stated.items()]
    rng.shuffle(facts)
    context = " ".join(facts)

    if rng.random() < unanswerable_rate:
        relation = rng.choice([r for r in sorted(RELATIONS) if r not in stated])
        answers = {"text": [], "answer_start": []}
    else:
        relation = rng.choice(sorted(stated))
        value = stated[relation]
        sentence = RELATIONS[relation][0].format(name=person, value=value)
        start = context.index(sentence) + sentence.index(value)
        answers = {"text": [value], "answer_start": [start]}
    question = RELATIONS[relation][1].format(name=person)
    return {"id": example_id, "context": context, "question": question, "answers": answers}


def make_synthetic_qa(num_examples: int, seed: int, unanswerable_rate: float = 0.2) -> list[dict]:
    """`num_examples` SQuAD-v2-style rows (`id`, `context`, `question`, `answers`), the same for the same seed."""
    rng = random.Random(seed)
    return [make_example(rng, f"synthetic-{seed}-{i}", unanswerable_rate) for i in range(num_examples)]


def prompt_completion_rows(rows: list[dict]) -> list[dict]:
    """TRL's prompt-completion format: the reference QA prompt, and the first gold answer ("" if unanswerable)."""
    return [
        {"prompt": format_qa_prompt(r["question"], r["context"]), "completion": (r["answers"]["text"] or [""])[0]}
        for r in rows
    ]
