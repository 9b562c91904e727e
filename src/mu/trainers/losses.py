# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The divergence between the student's and the teacher's next-token distributions."""

import math

import torch
import torch.nn.functional as F


def generalized_jsd_divergence(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, beta: float, temperature: float = 1.0
) -> torch.Tensor:
    """Per-position generalized Jensen-Shannon divergence between the next-token distributions of shape `(..., V)`:
    `beta=0` is KL(teacher || student), `beta=1` KL(student || teacher), otherwise
    `beta * KL(teacher || M) + (1 - beta) * KL(student || M)` with `M = beta * teacher + (1 - beta) * student`.

    The definition of TRL's `DistillationTrainer`, computed on logits: TRL's kernel takes hidden states and the LM
    head's weight, which misses what encoder-decoder heads do after the projection (T5 rescales the decoder output,
    BART adds a logits bias)."""
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    if beta == 0.0:
        return F.kl_div(student_log_probs, teacher_log_probs, reduction="none", log_target=True).sum(-1)
    if beta == 1.0:
        return F.kl_div(teacher_log_probs, student_log_probs, reduction="none", log_target=True).sum(-1)
    mixture_log_probs = torch.logsumexp(
        torch.stack([student_log_probs + math.log1p(-beta), teacher_log_probs + math.log(beta)]), dim=0
    )
    kl_teacher = F.kl_div(mixture_log_probs, teacher_log_probs, reduction="none", log_target=True).sum(-1)
    kl_student = F.kl_div(mixture_log_probs, student_log_probs, reduction="none", log_target=True).sum(-1)
    return beta * kl_teacher + (1 - beta) * kl_student
