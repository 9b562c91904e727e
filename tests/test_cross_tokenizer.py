import json
import logging
import math
import random

import pytest
import torch
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from mu.synthetic_data.qa import make_synthetic_qa, prompt_completion_rows
from mu.synthetic_data.tokenizer import train_tokenizer
from mu.trainers import generalized_jsd_divergence
from mu.trainers.cross_tokenizer import (
    VocabularyMap,
    align_tokens,
    cross_tokenizer_divergence,
    retokenize_completion,
    token_ends,
    vocabulary_map,
)

from .distillation_setup import distillation_config, mu_student, qa_rows, qa_tokenizer, qwen3_teacher, tiny_trainer


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [row["prompt"] + row["completion"] for row in prompt_completion_rows(make_synthetic_qa(200, seed=5))]


@pytest.fixture(scope="module")
def student_tokenizer(texts):
    return train_tokenizer(texts, vocab_size=300)


@pytest.fixture(scope="module")
def teacher_tokenizer(texts):
    return train_tokenizer(texts[::-1], vocab_size=420)  # other merges, other ids


def sentencepiece_style_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A BPE laid out like Llama 2's and Phi-3's (Mu's own) as transformers 5 loads them: `▁` for spaces, a first
    `▁` added and decoded to nothing (so a leading space is dropped), `<0xNN>` byte fallback for unseen characters."""
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    word_pieces = Tokenizer(models.BPE(unk_token="<unk>"))
    word_pieces.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    word_pieces.train_from_iterator(texts, trainer=trainer)
    trained = json.loads(word_pieces.to_str())["model"]
    learned = [token for token, _ in sorted(trained["vocab"].items(), key=lambda item: item[1])][3:]
    vocab = ["<unk>", "<s>", "</s>"] + [f"<0x{byte:02X}>" for byte in range(256)] + learned
    merges = [tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge) for merge in trained["merges"]]
    ids = {token: i for i, token in enumerate(vocab)}
    tokenizer = Tokenizer(models.BPE(vocab=ids, merges=merges, unk_token="<unk>", byte_fallback=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


@pytest.fixture(scope="module")
def sentencepiece_tokenizer(texts):
    return sentencepiece_style_tokenizer(texts, vocab_size=350)


def softmax(row: list[float]) -> list[float]:
    exps = [math.exp(x) for x in row]
    return [x / sum(exps) for x in exps]


def forward_kl(teacher: list[float], student: list[float]) -> float:
    return sum(t * (math.log(t) - math.log(s)) for t, s in zip(teacher, student))


def binary_kl(teacher: float, student: float) -> float:
    return forward_kl([teacher, 1 - teacher], [student, 1 - student])


def test_groups_close_where_both_tokenizers_end_a_token():
    # "the cat" split as "th|e| cat" by the student and "the| c|at" by the teacher
    assert align_tokens([2, 3, 7], [3, 5, 7]) == [(range(0, 2), range(0, 1)), (range(2, 3), range(1, 3))]
    assert align_tokens([3, 7], [3, 7]) == [(range(0, 1), range(0, 1)), (range(1, 2), range(1, 2))]
    # tokens that end no further than the last group (bytes of an unfinished character) join the next group
    assert align_tokens([3, 3, 4], [3, 3, 4]) == [(range(0, 1), range(0, 1)), (range(1, 3), range(1, 3))]
    # tokens left over on one side at the end form the last group
    assert align_tokens([2, 4, 6], [4]) == [(range(0, 2), range(0, 1)), (range(2, 3), range(1, 1))]


def test_a_completion_is_retokenized_for_the_teacher_and_aligned_by_characters(student_tokenizer, teacher_tokenizer):
    text = " The river Quorra runs past Ostrava."
    student_ids = student_tokenizer(text, add_special_tokens=False).input_ids + [student_tokenizer.eos_token_id]
    teacher_ids, groups = retokenize_completion(student_tokenizer, teacher_tokenizer, student_ids)
    assert teacher_ids[:-1] == teacher_tokenizer(text, add_special_tokens=False).input_ids
    assert teacher_ids[-1] == teacher_tokenizer.eos_token_id
    assert groups[-1] == (range(len(student_ids) - 1, len(student_ids)), range(len(teacher_ids) - 1, len(teacher_ids)))
    # every group spells the same text on both sides, and the groups cover both sequences in order
    for student_positions, teacher_positions in groups[:-1]:
        student_text = student_tokenizer.decode([student_ids[i] for i in student_positions])
        assert student_text == teacher_tokenizer.decode([teacher_ids[j] for j in teacher_positions])
    assert [i for s, _ in groups for i in s] == list(range(len(student_ids)))
    assert [j for _, t in groups for j in t] == list(range(len(teacher_ids)))
    assert len(groups) < len(student_ids)  # the two BPEs split some words differently


def test_a_character_split_into_bytes_joins_the_token_that_completes_it(student_tokenizer, teacher_tokenizer):
    text = " café"  # "é" is two bytes, which a byte-level BPE that never saw it spells as two tokens
    student_ids = student_tokenizer(text, add_special_tokens=False).input_ids
    teacher_ids, groups = retokenize_completion(student_tokenizer, teacher_tokenizer, student_ids)
    last_student, last_teacher = groups[-1]
    assert student_tokenizer.decode([student_ids[i] for i in last_student]).endswith("é")
    assert teacher_tokenizer.decode([teacher_ids[j] for j in last_teacher]).endswith("é")


def test_token_ends_are_where_each_prefix_of_the_tokens_stops_spelling_the_text(
    student_tokenizer, sentencepiece_tokenizer
):
    def decoding_every_prefix(tokenizer, ids: list[int], text: str) -> list[int]:
        ends, end = [], 0
        for count in range(1, len(ids) + 1):
            prefix = tokenizer.decode(ids[:count], clean_up_tokenization_spaces=False)
            spelled = next((i for i, (a, b) in enumerate(zip(prefix, text)) if a != b), min(len(prefix), len(text)))
            ends.append(end := max(end, spelled))
        return ends

    rng = random.Random(0)
    for tokenizer in (student_tokenizer, sentencepiece_tokenizer):
        sequences = [tokenizer(" The café in Ostrava: 12 €", add_special_tokens=False).input_ids]
        # what a sampling student may write: any tokens, many of them single bytes (ids 3-258) that form no character
        sequences += [
            [rng.randrange(3, 259) if rng.random() < 0.5 else rng.randrange(259, len(tokenizer)) for _ in range(60)]
            for _ in range(100)
        ]
        for ids in sequences:
            text = tokenizer.decode(ids, clean_up_tokenization_spaces=False)
            assert token_ends(tokenizer, ids, text) == decoding_every_prefix(tokenizer, ids, text)


def test_a_sentencepiece_student_aligns_with_a_byte_level_teacher(sentencepiece_tokenizer, teacher_tokenizer):
    student_tokenizer = sentencepiece_tokenizer
    mapping = vocabulary_map(student_tokenizer, teacher_tokenizer)
    pairs = dict(zip(mapping.student_ids.tolist(), mapping.teacher_ids.tolist()))
    for student_token, teacher_token in (("\u2581inst", "\u0120inst"), ("<0xC3>", "\u00c3"), ("a", "a")):
        student_id = student_tokenizer.convert_tokens_to_ids(student_token)
        assert pairs[student_id] == teacher_tokenizer.convert_tokens_to_ids(teacher_token), student_token

    text = "The café in Ostrava"  # "é" is two <0xNN> tokens for the student, two byte tokens for the teacher
    student_ids = student_tokenizer(text, add_special_tokens=False).input_ids + [student_tokenizer.eos_token_id]
    assert "<0xC3>" in student_tokenizer.convert_ids_to_tokens(student_ids)
    teacher_ids, groups = retokenize_completion(student_tokenizer, teacher_tokenizer, student_ids)
    assert teacher_tokenizer.decode(teacher_ids[:-1]).strip() == text
    for student_positions, teacher_positions in groups[:-1]:
        student_text = student_tokenizer.decode([student_ids[i] for i in student_positions])
        assert student_text.strip() == teacher_tokenizer.decode([teacher_ids[j] for j in teacher_positions]).strip()
    assert [i for s, _ in groups for i in s] == list(range(len(student_ids)))
    assert [j for _, t in groups for j in t] == list(range(len(teacher_ids)))
    assert any(len(s) == len(t) == 1 for s, t in groups[:-1])  # words both split alike align one to one


def test_a_sentencepiece_teacher_that_drops_the_first_space_aligns_it_with_its_first_token(
    student_tokenizer, sentencepiece_tokenizer
):
    text = " Ostrava keeps a café"  # the byte-level student spells the space; the teacher's `▁Ostrava` stands for it
    student_ids = student_tokenizer(text, add_special_tokens=False).input_ids
    teacher_ids, groups = retokenize_completion(student_tokenizer, sentencepiece_tokenizer, student_ids)
    assert sentencepiece_tokenizer.decode(teacher_ids) == text[1:]
    assert sentencepiece_tokenizer.convert_ids_to_tokens(teacher_ids[0]).startswith("\u2581")
    first_student, first_teacher = groups[0]
    assert student_tokenizer.decode([student_ids[i] for i in first_student]).startswith(" O")  # space and word
    assert first_teacher.start == 0
    for student_positions, teacher_positions in groups:
        student_text = student_tokenizer.decode([student_ids[i] for i in student_positions])
        assert student_text.strip() == sentencepiece_tokenizer.decode([teacher_ids[j] for j in teacher_positions])
    assert [i for s, _ in groups for i in s] == list(range(len(student_ids)))
    assert [j for _, t in groups for j in t] == list(range(len(teacher_ids)))


def test_a_teacher_tokenizer_that_loses_text_is_refused(student_tokenizer):
    lowercasing = train_tokenizer(["some lower case text"], vocab_size=270)
    lowercasing.backend_tokenizer.normalizer = normalizers.Lowercase()
    student_ids = student_tokenizer(" Ostrava", add_special_tokens=False).input_ids
    with pytest.raises(
        ValueError, match="does not reproduce the completion ' Ostrava': its tokens decode to ' ostrava'"
    ):
        retokenize_completion(student_tokenizer, lowercasing, student_ids)


def test_vocabulary_map_pairs_tokens_by_their_bytes(student_tokenizer, teacher_tokenizer):
    mapping = vocabulary_map(student_tokenizer, teacher_tokenizer)
    assert len(mapping.student_ids) > 250  # both vocabularies hold the 256 bytes and many common words
    for student_id, teacher_id in zip(mapping.student_ids.tolist(), mapping.teacher_ids.tolist()):
        student_token = student_tokenizer.convert_ids_to_tokens(student_id)
        assert student_token == teacher_tokenizer.convert_ids_to_tokens(teacher_id)  # both byte-level: same string
    assert mapping.teacher_id_of[student_tokenizer.eos_token_id] == teacher_tokenizer.eos_token_id
    same = vocabulary_map(student_tokenizer, student_tokenizer)
    assert same.student_ids.tolist() == same.teacher_ids.tolist() == list(range(len(student_tokenizer)))


# Hand-made vocabularies: student ids 0..3, teacher ids 0..4; student 0, 1, 2 are teacher 3, 0, 1.
MAPPING = VocabularyMap(student_ids=torch.tensor([0, 1, 2]), teacher_ids=torch.tensor([3, 0, 1]))
STUDENT_LOGITS = [[0.5, 1.0, -0.5, 2.0], [1.5, 0.0, 0.3, -1.0], [0.2, -0.4, 1.1, 0.6]]
TEACHER_LOGITS = [[1.2, 0.1, -0.3, 0.4, 0.0], [-0.6, 0.9, 0.2, 1.4, 0.5]]


def loss(groups, student_ids, teacher_ids, beta=0.0, temperature=1.0):
    return cross_tokenizer_divergence(
        torch.tensor(STUDENT_LOGITS), torch.tensor(TEACHER_LOGITS), student_ids, teacher_ids, groups, MAPPING, beta,
        temperature,
    )  # fmt: skip


def test_aligned_and_merged_groups_against_a_hand_computation():
    # student "1 | 0 2" against teacher "0 | 4": one aligned pair (student 1 is teacher 0), one merged group
    groups = [(range(0, 1), range(0, 1)), (range(1, 3), range(1, 2))]
    result = loss(groups, student_ids=[1, 0, 2], teacher_ids=[0, 4])

    # aligned: forward KL over the shared tokens (student 0, 1, 2 = teacher 3, 0, 1) and one outcome for the rest
    student, teacher = softmax(STUDENT_LOGITS[0]), softmax(TEACHER_LOGITS[0])
    student_coarse = [student[0], student[1], student[2], student[3]]
    teacher_coarse = [teacher[3], teacher[0], teacher[1], teacher[2] + teacher[4]]
    # merged: each side's probability of the group's text (student tokens 0 then 2, teacher token 4) or not
    student_text = softmax(STUDENT_LOGITS[1])[0] * softmax(STUDENT_LOGITS[2])[2]
    teacher_text = softmax(TEACHER_LOGITS[1])[4]
    expected = [forward_kl(teacher_coarse, student_coarse)] + [binary_kl(teacher_text, student_text)] * 2
    torch.testing.assert_close(result.per_token, torch.tensor(expected), rtol=1e-5, atol=1e-6)
    assert (result.aligned_tokens, result.student_tokens) == (1, 3)


def test_a_student_confident_in_another_text_is_not_rewarded():
    # the teacher is sure of the group's text; a student as sure of another token loses more than an unsure one
    teacher_logits = torch.tensor([[0.0, 0.0, 0.0, 8.0, 0.0]])
    sure_of_another = torch.tensor([[0.0, 0.0, 0.0, 8.0]])
    unsure = torch.zeros(1, 4)
    groups = [(range(0, 1), range(0, 1))]  # student token 2, teacher token 3: another entry, so merged

    def group_loss(student_logits):
        return cross_tokenizer_divergence(student_logits, teacher_logits, [2], [3], groups, MAPPING, 0.0, 1.0)

    assert group_loss(sure_of_another).per_token[0] > group_loss(unsure).per_token[0]


def test_a_misaligned_span_changes_the_loss():
    aligned = loss([(range(0, 1), range(0, 1)), (range(1, 3), range(1, 2))], [1, 0, 2], [0, 4])
    shifted = loss([(range(0, 2), range(0, 1)), (range(2, 3), range(1, 2))], [1, 0, 2], [0, 4])
    assert shifted.aligned_tokens == 0  # no one-to-one group left
    assert not torch.allclose(aligned.per_token, shifted.per_token)
    # a one-to-one group of tokens that are not the same entry compares the two tokens' probabilities
    unmatched = loss([(range(0, 1), range(0, 1))], [3, 0, 2], [0, 4])
    expected = binary_kl(softmax(TEACHER_LOGITS[0])[0], softmax(STUDENT_LOGITS[0])[3])
    assert unmatched.aligned_tokens == 0
    torch.testing.assert_close(unmatched.per_token[0], torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_with_one_tokenizer_the_loss_is_the_same_tokenizer_divergence(student_tokenizer):
    vocab = len(student_tokenizer)
    generator = torch.Generator().manual_seed(0)
    student_logits = torch.randn(9, vocab, generator=generator)
    teacher_logits = 2 * torch.randn(9, vocab, generator=generator)
    ids = student_tokenizer(" Lumen Ostrava keeps a harp", add_special_tokens=False).input_ids
    ids = (ids + [student_tokenizer.eos_token_id])[:9]
    teacher_ids, groups = retokenize_completion(student_tokenizer, student_tokenizer, ids)
    assert teacher_ids == ids
    mapping = vocabulary_map(student_tokenizer, student_tokenizer)
    for beta, temperature in ((0.0, 1.0), (0.5, 0.9), (1.0, 2.0)):
        result = cross_tokenizer_divergence(
            student_logits, teacher_logits, ids, teacher_ids, groups, mapping, beta, temperature
        )
        same_tokenizer = generalized_jsd_divergence(student_logits, teacher_logits, beta, temperature)
        assert result.aligned_tokens == len(ids)
        torch.testing.assert_close(result.per_token[: len(ids)], same_tokenizer[: len(ids)], rtol=1e-5, atol=1e-5)


# The trainer in cross-tokenizer mode


@pytest.fixture(scope="module")
def qa_student_tokenizer():
    return qa_tokenizer()


@pytest.fixture(scope="module")
def qa_teacher_tokenizer():
    """A byte-level BPE trained on other texts and to another size: other merges, other ids."""
    return train_tokenizer([row["completion"] + row["prompt"] for row in qa_rows(300, seed=9)], vocab_size=420)


def test_with_one_tokenizer_the_trainer_gives_the_same_loss_in_both_modes(qa_student_tokenizer, tmp_path):
    tokenizer, rows = qa_student_tokenizer, qa_rows(4)
    losses = []
    for cross_tokenizer in (False, True):
        # off-policy (ground-truth) batch, both terms, a JSD that is neither KL
        config = distillation_config(tmp_path, lmbda=0.0, alpha=0.7, beta=0.5, cross_tokenizer=cross_tokenizer)
        trainer = tiny_trainer(tokenizer, config, teacher_processing_class=tokenizer)
        assert (trainer.cross_vocabulary is not None) == cross_tokenizer
        batch = trainer._generate_and_score_completions(rows)
        losses.append(trainer._compute_loss(trainer.model, batch))
    (same_loss, same_terms), (cross_loss, cross_terms) = losses
    torch.testing.assert_close(cross_loss, same_loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cross_terms, same_terms, rtol=1e-5, atol=1e-5)  # every token aligned, as in one vocab


def test_cross_tokenizer_training_learns_from_a_teacher_with_another_vocabulary(
    qa_student_tokenizer, qa_teacher_tokenizer, tmp_path
):
    student_tokenizer, teacher_tokenizer = qa_student_tokenizer, qa_teacher_tokenizer
    student = mu_student(len(student_tokenizer))
    before = {name: value.clone() for name, value in student.state_dict().items()}
    # on-policy steps, and a ground-truth step whose prompt-only rows the teacher completes in its own tokens
    for lmbda in (1.0, 0.0):
        rows = qa_rows(8)
        for row in rows[::2]:
            row["completion"] = None
        trainer = tiny_trainer(
            student_tokenizer,
            distillation_config(tmp_path, lmbda=lmbda, max_steps=1, alpha=0.9),
            model=student,
            teacher_model=qwen3_teacher(len(teacher_tokenizer)),
            teacher_processing_class=teacher_tokenizer,
            train_dataset=Dataset.from_list(rows),
        )
        trainer.train()
        logged = trainer.state.log_history[0]
        assert 0.0 < logged["alignment_rate"] <= 1.0
        assert math.isfinite(logged["kd_loss"]) and logged["kd_loss"] > 0 and math.isfinite(logged["ce_loss"])
    trainer.create_model_card()
    assert "on tokens aligned across the two tokenizers, on merged groups' likelihoods elsewhere" in (
        (tmp_path / "README.md").read_text()
    )
    assert any(not torch.equal(before[name], value) for name, value in student.state_dict().items())


def test_cross_tokenizer_needs_the_teachers_tokenizer(qa_student_tokenizer, tmp_path):
    with pytest.raises(ValueError, match="needs the teacher's tokenizer, and the teacher has none of its own"):
        tiny_trainer(qa_student_tokenizer, distillation_config(tmp_path, cross_tokenizer=True))


def test_a_teacher_tokenizer_that_loses_the_datasets_text_is_refused_before_training(qa_student_tokenizer, tmp_path):
    lowercasing = train_tokenizer([row["prompt"] for row in qa_rows(50)], vocab_size=300)
    lowercasing.backend_tokenizer.normalizer = normalizers.Lowercase()
    with pytest.raises(ValueError, match="The teacher's tokenizer does not reproduce the text 'Answer the following"):
        tiny_trainer(qa_student_tokenizer, distillation_config(tmp_path), teacher_processing_class=lowercasing)


def test_a_teacher_tokenizer_without_the_characters_the_student_can_write_is_refused_before_training(
    qa_student_tokenizer, tmp_path
):
    # every character of the dataset is in its vocabulary, but no byte fallback: what else the student samples is lost
    teacher_tokenizer = sentencepiece_style_tokenizer([row["prompt"] + row["completion"] for row in qa_rows(300)], 400)
    teacher_tokenizer.backend_tokenizer.model.byte_fallback = False
    with pytest.raises(ValueError, match="does not reproduce the text of the student's token '.*' \\(\\d+ of 297"):
        tiny_trainer(qa_student_tokenizer, distillation_config(tmp_path), teacher_processing_class=teacher_tokenizer)


def test_a_prefix_space_the_teacher_adds_shifts_its_spans_back(student_tokenizer, teacher_tokenizer):
    student_ids = student_tokenizer.convert_tokens_to_ids(list("Ostrava"))  # no leading space, one byte each
    teacher_ids, groups = retokenize_completion(student_tokenizer, teacher_tokenizer, student_ids)
    assert teacher_tokenizer.decode(teacher_ids) == " Ostrava"  # the teacher's tokenizer adds the space
    for student_positions, teacher_positions in groups:
        student_text = student_tokenizer.decode([student_ids[i] for i in student_positions])
        assert student_text.strip() == teacher_tokenizer.decode([teacher_ids[j] for j in teacher_positions]).strip()
    assert [i for s, _ in groups for i in s] == list(range(len(student_ids)))


def test_a_low_alignment_rate_is_logged_with_a_warning(qa_student_tokenizer, tmp_path, caplog):
    # whole words where the student has pieces: most student tokens fall in merged groups
    words = train_tokenizer([row["prompt"] + row["completion"] for row in qa_rows(400, seed=3)], vocab_size=2000)
    trainer = tiny_trainer(
        qa_student_tokenizer,
        distillation_config(tmp_path, lmbda=0.0, max_steps=1),
        teacher_model=qwen3_teacher(len(words)),
        teacher_processing_class=words,
    )
    with caplog.at_level(logging.WARNING, logger="mu.trainers.distillation_trainer"):
        trainer.train()
    rate = trainer.state.log_history[0]["alignment_rate"]
    assert rate < 0.5
    assert f"Only {rate:.0%} of the student's completion tokens align one to one" in caplog.text
