# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The `mu demo` job: a small Mu trained on CPU on synthetic extractive QA, with nothing downloaded."""

from dataclasses import dataclass


@dataclass
class DemoSettings:
    output_dir: str = "mu-demo"
    train_examples: int = 6000
    eval_examples: int = 200
    teacher_steps: int = 300
    student_steps: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-3
    vocab_size: int = 1024
    seed: int = 0
