"""Distil a decoder-only teacher into a Mu student with the Python API.

    python examples/distill_from_teacher.py TEACHER_DIR STUDENT_DIR_OR_CONFIG train.jsonl OUTPUT_DIR

TEACHER_DIR: any causal LM folder (with its tokenizer); STUDENT_DIR_OR_CONFIG: a Mu (or T5) folder, or a
config.json to start from random weights; train.jsonl: one {"prompt": ..., "completion": ...} object per line.
"""

import sys

from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

import mu  # noqa: F401  (registers Mu with the Auto classes)
from mu.trainers import MuDistillationConfig, MuDistillationTrainer, load_prompt_completion_dataset

teacher_dir, student, train_file, output_dir = sys.argv[1:5]

if student.endswith(".json"):
    student = AutoModelForSeq2SeqLM.from_config(AutoConfig.from_pretrained(student))

trainer = MuDistillationTrainer(
    model=student,
    teacher_model=teacher_dir,
    args=MuDistillationConfig(
        output_dir=output_dir,
        alpha=0.9,  # 0.9 * forward KL(teacher || student) + 0.1 * cross-entropy on the ground truth
        max_steps=int(sys.argv[5]) if len(sys.argv) > 5 else 1000,
        per_device_train_batch_size=8,
        max_completion_length=64,
        bf16=False,
        report_to="none",
    ),
    train_dataset=load_prompt_completion_dataset(train_file),
    processing_class=AutoTokenizer.from_pretrained(teacher_dir),  # the teacher's tokenizer is the student's too
)
trainer.train()
trainer.save_model(output_dir)
