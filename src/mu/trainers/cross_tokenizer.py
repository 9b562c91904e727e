# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Cross-tokenizer distillation: one completion's student and teacher tokens aligned by character spans, and the
divergence over the aligned groups.

The student's completion is decoded to text and the teacher's tokenizer splits the same text. Each token covers a span
of characters; a *group* is a shortest run of student tokens and a run of teacher tokens that end at the same
character (both tokenizers have a boundary there), as TRL's GOLD aligns tokens by their offsets.

- A group of one student token and one teacher token that are the same vocabulary entry (matched by their text) is
  *aligned*: its loss is the trainer's divergence (generalized JSD at the divergence temperature) between the two
  next-token distributions seen on what both vocabularies can say: each token they share, and one outcome for all
  the others. With one tokenizer there are no others and this is the same-tokenizer loss.
- Every other group is *merged*: each model's probability of the group's text (the product of the probabilities of
  its tokens, each model in its own) is compared, as a distribution over two outcomes (the text, anything else), by
  the same divergence: approximate likelihood matching (ALM, Minixhofer et al. 2025). The group's loss counts once
  for each of its student tokens, so that a mean over student tokens weighs every token alike.

Both keep what a token *is*. Universal logit distillation (ULD, Boizard et al. 2024: an L1 distance between sorted
probabilities, GOLD's loss for unmatched tokens) and a renormalisation over the shared tokens do not: the first
rewards a confident student whatever it is confident in, the second leaves the student's mass on the tokens the
teacher lacks free; measured in the README (Across tokenizers), both lose most of the gain.
"""

import json
import math
import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase
from transformers.convert_slow_tokenizer import bytes_to_unicode

from .losses import generalized_jsd_divergence


@dataclass
class VocabularyMap:
    """The ids of the tokens both vocabularies have, pair by pair (`student_ids[i]` is `teacher_ids[i]`)."""

    student_ids: torch.Tensor
    teacher_ids: torch.Tensor
    teacher_id_of: dict[int, int] = field(init=False)

    def __post_init__(self):
        self.teacher_id_of = dict(zip(self.student_ids.tolist(), self.teacher_ids.tolist()))


_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _is_byte_level(tokenizer: PreTrainedTokenizerBase) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and '"ByteLevel"' in json.dumps(json.loads(backend.to_str()).get("decoder"))


def _token_keys(tokenizer: PreTrainedTokenizerBase) -> dict[bytes, int]:
    """Each token's bytes (`Ġcat` is ` cat` in a byte-level vocabulary, `▁cat` too in a SentencePiece one, `<0xE9>`
    one byte), or its name for a special token, and its id; keys several tokens share are left out. A byte-fallback
    token gives way to the piece of the same byte (`<0x61>` to `a`): SentencePiece writes the piece."""
    special = set(tokenizer.all_special_tokens)
    byte_of = {char: byte for byte, char in bytes_to_unicode().items()} if _is_byte_level(tokenizer) else None
    ids_by_key: dict[bytes, list[int]] = {}
    fallback_ids: dict[bytes, int] = {}
    for token, token_id in tokenizer.get_vocab().items():
        if token in special:
            key = b"\0special:" + token.encode()
        elif byte_of is not None and all(char in byte_of for char in token):
            key = bytes(byte_of[char] for char in token)
        elif (fallback := _BYTE_FALLBACK.fullmatch(token)) is not None:
            fallback_ids[bytes([int(fallback[1], 16)])] = token_id
            continue
        else:
            key = token.replace("\u2581", " ").encode()
        ids_by_key.setdefault(key, []).append(token_id)
    fallback_ids = {key: token_id for key, token_id in fallback_ids.items() if key not in ids_by_key}
    return fallback_ids | {key: ids[0] for key, ids in ids_by_key.items() if len(ids) == 1}


def vocabulary_map(
    student_tokenizer: PreTrainedTokenizerBase, teacher_tokenizer: PreTrainedTokenizerBase
) -> VocabularyMap:
    """Pairs the student's and the teacher's tokens that are the same bytes, the special tokens of the same name, and
    the two EOS tokens."""
    student_keys, teacher_keys = _token_keys(student_tokenizer), _token_keys(teacher_tokenizer)
    pairs = {student_id: teacher_keys[key] for key, student_id in student_keys.items() if key in teacher_keys}
    if student_tokenizer.eos_token_id is not None and teacher_tokenizer.eos_token_id is not None:
        pairs[student_tokenizer.eos_token_id] = teacher_tokenizer.eos_token_id
    student_ids = sorted(pairs)
    return VocabularyMap(
        student_ids=torch.tensor(student_ids, dtype=torch.long),
        teacher_ids=torch.tensor([pairs[i] for i in student_ids], dtype=torch.long),
    )


def _common_prefix_length(a: str, b: str) -> int:
    length = 0
    for x, y in zip(a, b):
        if x != y:
            break
        length += 1
    return length


def token_ends(tokenizer: PreTrainedTokenizerBase, ids: list[int], text: str) -> list[int]:
    """Where each token of `ids` ends in `text`, their decoded text: the characters the tokens up to it spell. A
    token that ends inside a character (a byte of it) ends where the previous one did, so that it joins a group
    with the token that completes the character.

    Each token's text is what it adds to a short window of the tokens before it (the incremental detokenization of
    streaming servers), so the cost grows with the length, not its square; decoding the window from a settled token
    keeps what a decoder does at the start of a text (SentencePiece's dropped first space) out of the difference."""
    ends, end = [], 0
    window_start, settled, settled_text, settled_end = 0, 0, "", 0  # ids[window_start:settled] spell settled_text
    for count in range(1, len(ids) + 1):
        window_text = tokenizer.decode(ids[window_start:count], clean_up_tokenization_spaces=False)
        if window_text.startswith(settled_text):
            added = window_text[len(settled_text) :]
            matched = _common_prefix_length(added, text[settled_end : settled_end + len(added)])
        else:  # a decoder that rewrites earlier text: compare the whole prefix
            prefix = tokenizer.decode(ids[:count], clean_up_tokenization_spaces=False)
            added, matched = None, _common_prefix_length(prefix, text) - settled_end
        end = max(end, settled_end + matched)
        ends.append(end)
        if added and matched == len(added) and not added.endswith("\ufffd"):  # a finished character: move on
            window_start, settled = settled, count
            settled_text = tokenizer.decode(ids[window_start:settled], clean_up_tokenization_spaces=False)
            settled_end = end
    return ends


def align_tokens(student_ends: list[int], teacher_ends: list[int]) -> list[tuple[range, range]]:
    """The groups, as ranges of student and teacher positions: each closes where a student token and a teacher token
    end at the same character, past the previous group's end; tokens left over at the end form a last group."""
    groups = []
    student, teacher, student_start, teacher_start, closed_at = 0, 0, 0, 0, 0
    while student < len(student_ends) and teacher < len(teacher_ends):
        end = student_ends[student]
        if end < teacher_ends[teacher]:
            student += 1
        elif end > teacher_ends[teacher]:
            teacher += 1
        else:
            student, teacher = student + 1, teacher + 1
            if end > closed_at:  # tokens that end no further (bytes of an unfinished character) join the next group
                groups.append((range(student_start, student), range(teacher_start, teacher)))
                student_start, teacher_start, closed_at = student, teacher, end
    if student_start < len(student_ends) or teacher_start < len(teacher_ends):
        groups.append((range(student_start, len(student_ends)), range(teacher_start, len(teacher_ends))))
    return groups


_ROUND_TRIP_NEEDED = (
    "Cross-tokenizer distillation needs a teacher tokenizer that round-trips text (no lowercasing, normalisation or "
    "unknown characters)."
)


def _gives_back(text: str, round_trip: str) -> bool:
    """Whether a tokenizer's round trip of `text` is the text, but for a prefix space it adds (`add_prefix_space`
    spells " text") or a first space it drops (SentencePiece's first `▁` stands for it and is decoded to nothing)."""
    if len(round_trip) >= len(text):
        added = round_trip[: len(round_trip) - len(text)]
        return round_trip.endswith(text) and (not added or added.isspace())
    return text == " " + round_trip


def check_round_trip(
    student_tokenizer: PreTrainedTokenizerBase, teacher_tokenizer: PreTrainedTokenizerBase, texts: list[str]
) -> None:
    """Raises a ValueError naming what the teacher's tokenizer does not give back among `texts` and the text of
    each student token (whatever the student samples is made of them)."""
    special = set(student_tokenizer.all_special_ids)
    token_texts = student_tokenizer.batch_decode(
        [[i] for i in range(len(student_tokenizer)) if i not in special], clean_up_tokenization_spaces=False
    )
    for kind, candidates in (("text", texts), ("text of the student's token", token_texts)):
        teacher_ids = teacher_tokenizer(candidates, add_special_tokens=False)["input_ids"] if candidates else []
        round_trips = teacher_tokenizer.batch_decode(teacher_ids, clean_up_tokenization_spaces=False)
        lost = [(text, back) for text, back in zip(candidates, round_trips) if not _gives_back(text, back)]
        if lost:
            text, back = lost[0]
            raise ValueError(
                f"The teacher's tokenizer does not reproduce the {kind} {text[:80]!r} ({len(lost)} of "
                f"{len(candidates)} checked): its tokens decode to {back[:80]!r}. {_ROUND_TRIP_NEEDED}"
            )


def retokenize_completion(
    student_tokenizer: PreTrainedTokenizerBase, teacher_tokenizer: PreTrainedTokenizerBase, student_ids: list[int]
) -> tuple[list[int], list[tuple[range, range]]]:
    """The teacher's ids for the text of the student's completion `student_ids`, and the groups that align the two.
    A final student EOS becomes the teacher's EOS, in a group of its own. Raises a ValueError when the teacher's
    tokenizer does not give the text back, but for a first space it adds or drops (a normalising or lossy
    tokenizer): its tokens would score another text."""
    student_eos, teacher_eos = student_tokenizer.eos_token_id, teacher_tokenizer.eos_token_id
    ends_with_eos = bool(student_ids) and student_ids[-1] == student_eos
    body = student_ids[:-1] if ends_with_eos else list(student_ids)
    text = student_tokenizer.decode(body, clean_up_tokenization_spaces=False)
    teacher_ids = teacher_tokenizer(text, add_special_tokens=False)["input_ids"]
    round_trip = teacher_tokenizer.decode(teacher_ids, clean_up_tokenization_spaces=False)
    if not _gives_back(text, round_trip):
        raise ValueError(
            f"The teacher's tokenizer does not reproduce the completion {text[:80]!r}: its tokens decode to "
            f"{round_trip[:80]!r}. {_ROUND_TRIP_NEEDED}"
        )
    shift = len(round_trip) - len(text)  # the teacher's tokens start this many characters before the text
    student_ends = token_ends(student_tokenizer, body, text)
    teacher_ends = [max(0, end - shift) for end in token_ends(teacher_tokenizer, teacher_ids, round_trip)]
    if ends_with_eos:
        if teacher_eos is None:
            raise ValueError("The teacher's tokenizer has no EOS token to stand for the student's.")
        student_ends.append(len(text) + 1)  # past the text: EOS is a group of its own
        teacher_ends.append(len(text) + 1)
        teacher_ids = teacher_ids + [teacher_eos]
    return teacher_ids, align_tokens(student_ends, teacher_ends)


# Probabilities are kept this far from 0 and 1, so that each outcome of a coarsened distribution has a finite log.
_EPSILON = 1e-6


def coarsened_log_probabilities(logits: torch.Tensor, shared_ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """The next-token distribution seen on the tokens both vocabularies have: the log-probability of each token of
    `shared_ids`, and last, of any other token."""
    log_probabilities = F.log_softmax(logits.float() / temperature, dim=-1)
    shared = log_probabilities[..., shared_ids]
    rest = (1 - shared.exp().sum(-1, keepdim=True)).clamp_min(_EPSILON**2).log()
    return torch.cat([shared, rest], dim=-1)


def text_log_probabilities(logits: torch.Tensor, ids: list[int], positions: range, temperature: float) -> torch.Tensor:
    """The probability that the tokens `ids[positions]` follow one another, against anything else, as two
    log-probabilities. `logits[k]` predicts `ids[k]`."""
    log_probabilities = F.log_softmax(logits[positions.start : positions.stop].float() / temperature, dim=-1)
    rows = torch.arange(len(positions), device=logits.device)
    targets = torch.tensor([ids[k] for k in positions], device=logits.device)
    text = log_probabilities[rows, targets].sum().clamp(max=math.log1p(-_EPSILON))
    return torch.stack([text, torch.log(-torch.expm1(text))])


@dataclass
class CrossTokenizerLoss:
    """One completion's loss per student token (zero outside the completion), and how many tokens were aligned."""

    per_token: torch.Tensor
    aligned_tokens: int
    student_tokens: int


def cross_tokenizer_divergence(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    student_ids: list[int],
    teacher_ids: list[int],
    groups: list[tuple[range, range]],
    vocabulary: VocabularyMap,
    beta: float,
    temperature: float,
) -> CrossTokenizerLoss:
    """The loss of one completion (see the module's docstring). `student_logits[k]` (of `student_ids`' length or
    more, padding after) predicts `student_ids[k]`, `teacher_logits[j]` predicts `teacher_ids[j]`."""
    per_token = student_logits.new_zeros(student_logits.size(0), dtype=torch.float32)
    aligned_student, aligned_teacher = [], []
    for student_positions, teacher_positions in groups:
        if not student_positions:  # teacher tokens the student's text has no token for: nothing to train
            continue
        if len(student_positions) == len(teacher_positions) == 1:
            student, teacher = student_positions[0], teacher_positions[0]
            if vocabulary.teacher_id_of.get(student_ids[student]) == teacher_ids[teacher]:
                aligned_student.append(student)
                aligned_teacher.append(teacher)
                continue
        if not teacher_positions:
            continue
        distance = generalized_jsd_divergence(
            text_log_probabilities(student_logits, student_ids, student_positions, temperature),
            text_log_probabilities(teacher_logits, teacher_ids, teacher_positions, temperature),
            beta,
        )
        per_token = per_token.index_put(
            (torch.tensor(list(student_positions), device=per_token.device),), distance.expand(len(student_positions))
        )
    if aligned_student:
        student_ids_shared = vocabulary.student_ids.to(student_logits.device)
        teacher_ids_shared = vocabulary.teacher_ids.to(teacher_logits.device)
        divergence = generalized_jsd_divergence(
            coarsened_log_probabilities(student_logits[aligned_student], student_ids_shared, temperature),
            coarsened_log_probabilities(teacher_logits[aligned_teacher], teacher_ids_shared, temperature),
            beta,
        )
        per_token = per_token.index_put((torch.tensor(aligned_student, device=per_token.device),), divergence)
    return CrossTokenizerLoss(per_token, len(aligned_student), len(student_ids))
