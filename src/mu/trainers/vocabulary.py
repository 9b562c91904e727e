# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The shared-vocabulary check of same-tokenizer distillation.

The teacher scores the student's token ids, so both tokenizers must mean the same thing by every id the two models
share."""

from collections.abc import Iterable

from transformers import PreTrainedTokenizerBase

_SHOWN = 8


def shared_vocabulary_size(
    student_tokenizer: PreTrainedTokenizerBase,
    teacher_tokenizer: PreTrainedTokenizerBase,
    student_vocab_size: int,
    teacher_vocab_size: int,
    sample_texts: Iterable[str] = (),
) -> int:
    """Returns the number of ids both models score, `min(student_vocab_size, teacher_vocab_size)`, after checking
    that the two tokenizers map every id below it to the same token, that the student's tokenizer does not emit ids
    beyond it, that both split `sample_texts` into the same ids and add the same special tokens. Raises a ValueError
    that names what differs."""
    shared = min(student_vocab_size, teacher_vocab_size)
    if len(student_tokenizer) > shared:
        raise ValueError(
            f"The student's tokenizer has {len(student_tokenizer)} tokens but only ids below {shared} are shared "
            f"(student vocab_size {student_vocab_size}, teacher vocab_size {teacher_vocab_size}): the teacher "
            "could not score the student's tokens."
        )
    student_vocab = student_tokenizer.convert_ids_to_tokens(list(range(len(student_tokenizer))))
    teacher_vocab = teacher_tokenizer.convert_ids_to_tokens(list(range(min(len(teacher_tokenizer), shared))))
    differing = [
        (token_id, student_vocab[token_id], teacher_vocab[token_id] if token_id < len(teacher_vocab) else None)
        for token_id in range(len(student_vocab))
        if token_id >= len(teacher_vocab) or student_vocab[token_id] != teacher_vocab[token_id]
    ]
    if differing:
        shown = ", ".join(f"{i} (student {s!r}, teacher {t!r})" for i, s, t in differing[:_SHOWN])
        more = f" and {len(differing) - _SHOWN} more" if len(differing) > _SHOWN else ""
        raise ValueError(
            f"The teacher and student tokenizers differ on {len(differing)} of the {len(student_vocab)} shared ids: "
            f"{shown}{more}. Same-tokenizer distillation needs identical vocabularies; set `cross_tokenizer=True` "
            "(`mu distill --cross_tokenizer true`) to distil across tokenizers."
        )
    for text in sample_texts:
        student_ids = student_tokenizer(text, add_special_tokens=False)["input_ids"]
        teacher_ids = teacher_tokenizer(text, add_special_tokens=False)["input_ids"]
        if student_ids != teacher_ids:
            raise ValueError(
                f"The teacher and student tokenizers share a vocabulary but split {text[:80]!r} differently "
                f"(student {student_ids[:16]}, teacher {teacher_ids[:16]}): their merges or normalisation differ."
            )
    # The student's tokenizer encodes the prompts the teacher reads: its special tokens must be the teacher's.
    for text in list(sample_texts)[:1]:
        student_ids, teacher_ids = student_tokenizer(text)["input_ids"], teacher_tokenizer(text)["input_ids"]
        if student_ids != teacher_ids:
            raise ValueError(
                f"The student's tokenizer adds other special tokens than the teacher's (student {student_ids[:4]} … "
                f"{student_ids[-4:]}, teacher {teacher_ids[:4]} … {teacher_ids[-4:]}); the teacher would read prompts "
                "it was not trained on. Give both the same `add_bos_token`/`add_eos_token` behaviour."
            )
    return shared
