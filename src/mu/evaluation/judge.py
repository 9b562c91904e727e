# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""An LLM judge: any local causal LM grades each answer against the reference with a fixed rubric prompt.

The score of an answer is the judge's probability of "Yes" against "No" as the next token after the rubric,
`P(Yes) / (P(Yes) + P(No))`, a number in [0, 1]; the task score is the mean over answers. An empty answer or
reference (an unanswerable question) is shown as "(no answer)"."""

import inspect

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .generation import left_padding

JUDGE_PROMPT = (
    "You are grading the answer of a model. Reply Yes if the candidate answer says the same as the reference "
    "answer for this task, and No otherwise.\n"
    "###Task\n{prompt}\n###Reference answer\n{reference}\n###Candidate answer\n{prediction}\n"
    "###Is the candidate answer correct? Reply Yes or No.\n"
)


def _first_token_ids(tokenizer: PreTrainedTokenizerBase, words: tuple[str, ...]) -> list[int]:
    """The first token of each word that is not whitespace alone (SentencePiece may start " Yes" with "▁")."""
    ids = set()
    for word in words:
        tokens = tokenizer(word, add_special_tokens=False).input_ids
        ids.add(next((t for t in tokens if tokenizer.decode([t]).strip()), tokens[0]))
    return sorted(ids)


@torch.no_grad()
def judge_scores(
    judge: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    references: list[str],
    predictions: list[str],
    batch_size: int = 8,
) -> list[float]:
    """One score in [0, 1] per answer: the judge's `P(Yes) / (P(Yes) + P(No))` after the rubric prompt."""
    if judge.config.is_encoder_decoder:
        raise ValueError(f"The judge must be a decoder-only causal LM; got {type(judge).__name__}.")
    yes = _first_token_ids(tokenizer, ("Yes", " Yes"))
    no = _first_token_ids(tokenizer, ("No", " No"))
    if set(yes) & set(no):
        raise ValueError("The judge's tokenizer does not tell 'Yes' from 'No' by their first token.")
    texts = [
        JUDGE_PROMPT.format(prompt=p, reference=r or "(no answer)", prediction=a or "(no answer)")
        for p, r, a in zip(prompts, references, predictions)
    ]
    takes_position_ids = "position_ids" in inspect.signature(judge.forward).parameters
    judge.eval()
    scores = []
    with left_padding(tokenizer):
        for start in tqdm(range(0, len(texts), batch_size), desc="judging", leave=False):
            inputs = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True).to(judge.device)
            if takes_position_ids:  # positions from the first real token, whatever the left padding
                inputs["position_ids"] = (inputs["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            probabilities = judge(**inputs, logits_to_keep=1).logits[:, -1].float().softmax(-1)
            p_yes, p_no = probabilities[:, yes].sum(-1), probabilities[:, no].sum(-1)
            scores += (p_yes / (p_yes + p_no).clamp(min=1e-12)).tolist()
    return scores
