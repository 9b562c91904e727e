# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The `mu demo` job: a small Mu trained on CPU on synthetic extractive QA, with nothing downloaded."""

from dataclasses import dataclass


@dataclass
class DemoSettings:
    """The teacher is fine-tuned on all `train_examples` rows; the students have the answers of the first
    `labeled_examples` only (the distilled one reads the other prompts too), as a student distilled from a teacher
    that knows more than its labels."""

    output_dir: str = "mu-demo"
    train_examples: int = 6000
    labeled_examples: int = 500
    eval_examples: int = 200
    teacher_steps: int = 400
    student_steps: int = 300
    batch_size: int = 32
    learning_rate: float = 1e-3
    vocab_size: int = 1024
    seed: int = 0

    def __post_init__(self):
        if self.labeled_examples > self.train_examples:
            raise ValueError(
                f"labeled_examples ({self.labeled_examples}) cannot exceed train_examples ({self.train_examples})."
            )
