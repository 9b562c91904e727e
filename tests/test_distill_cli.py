import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM

from mu.cli import main
from mu.trainers.distillation_config import CHECKPOINTING_OFF

from .distillation_setup import mu_student, qa_rows, qa_tokenizer, qwen3_teacher

# Runs `mu distill` with a pause after every optimizer step, so that a test can kill it between checkpoints.
SLOW_DISTILL = """
import sys, time
from transformers import TrainerCallback
import mu.trainers.distill as distill

class Pause(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(0.5)

class PausingTrainer(distill.MuDistillationTrainer):
    def __init__(self, *args, callbacks=(), **kwargs):
        super().__init__(*args, callbacks=[*callbacks, Pause()], **kwargs)

distill.MuDistillationTrainer = PausingTrainer
sys.exit(distill.main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    tokenizer = qa_tokenizer()
    teacher = qwen3_teacher(len(tokenizer))
    teacher.save_pretrained(root / "teacher")
    tokenizer.save_pretrained(root / "teacher")
    student_config = mu_student(len(tokenizer)).config.to_dict()
    (root / "student.json").write_text(json.dumps(student_config))
    for name, seed, rows in (("train", 0, 24), ("eval", 1, 8)):
        with open(root / f"{name}.jsonl", "w") as file:
            file.writelines(json.dumps(row) + "\n" for row in qa_rows(rows, seed))
    return root


def _flags(workspace, output_dir, max_steps: int, **extra) -> list[str]:
    flags = {
        "student": workspace / "student.json",
        "teacher": workspace / "teacher",
        "train-file": workspace / "train.jsonl",
        "output-dir": output_dir,
        "max-steps": max_steps,
        "save-steps": 2,
        "logging-steps": 1,
        "per-device-train-batch-size": 4,
        "max-completion-length": 6,
        "learning-rate": 1e-3,
        "bf16": "false",
        "use-cpu": "true",
        **{name.replace("_", "-"): "false" for name in CHECKPOINTING_OFF},
        "report-to": "none",
        "seed": 7,
        **extra,
    }
    return [item for key, value in flags.items() for item in (f"--{key}", str(value))]


def test_distill_writes_safetensors_checkpoints_logs_and_a_plot(workspace, tmp_path, capsys):
    output_dir = tmp_path / "run"
    flags = _flags(workspace, output_dir, 4, **{"eval-file": workspace / "eval.jsonl", "eval-strategy": "steps"})
    assert main(["distill", *flags, "--eval-steps", "2"]) == 0
    assert f"Saved the student to {output_dir}" in capsys.readouterr().out

    files = {p.relative_to(output_dir).as_posix() for p in output_dir.rglob("*") if p.is_file()}
    for folder in ("", "checkpoint-2/", "checkpoint-4/"):
        assert f"{folder}model.safetensors" in files and f"{folder}config.json" in files
        assert f"{folder}tokenizer.json" in files
    assert not [f for f in files if "pytorch_model" in f]  # weights only as safetensors
    assert "loss_curves.png" in files and (output_dir / "loss_curves.png").stat().st_size > 10_000

    history = json.loads((output_dir / "checkpoint-4" / "trainer_state.json").read_text())["log_history"]
    train_logs = [entry for entry in history if "kd_loss" in entry]
    assert [entry["step"] for entry in train_logs] == [1, 2, 3, 4]
    assert all(entry["ce_loss"] > 0 for entry in train_logs)
    assert [entry["step"] for entry in history if "eval_kd_loss" in entry] == [2, 4]

    card = ModelCard.load(output_dir / "README.md")
    assert "distillation" in card.data.tags and card.data.base_model is None  # a local teacher is no Hub id
    assert f"- teacher: {workspace / 'teacher'}" in card.text and "- steps: 4" in card.text
    assert "- data: train.jsonl" in card.text and "on-policy distillation" in card.text

    student = AutoModelForSeq2SeqLM.from_pretrained(output_dir)
    saved = load_file(output_dir / "model.safetensors")
    for name, tensor in student.state_dict().items():
        if name in saved:
            torch.testing.assert_close(tensor, saved[name], rtol=0, atol=0)


def test_bad_data_file_names_row_and_column(workspace, tmp_path):
    bad = tmp_path / "bad.jsonl"
    rows = qa_rows(3)
    del rows[1]["completion"]
    bad.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(ValueError, match="bad.jsonl row 1 has no value in column 'completion'"):
        main(["distill", *_flags(workspace, tmp_path / "run", 1, **{"train-file": bad})])
    csv = tmp_path / "data.csv"
    csv.write_text("prompt,completion\nq,a\n")
    with pytest.raises(ValueError, match=r"expected a \.jsonl, \.json, \.parquet file"):
        main(["distill", *_flags(workspace, tmp_path / "run", 1, **{"train-file": csv})])


def _run(arguments: list[str]) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", SLOW_DISTILL, *arguments], env=env, stderr=subprocess.PIPE)


def test_a_killed_run_resumes_to_the_same_weights(workspace, tmp_path):
    uninterrupted, interrupted = tmp_path / "uninterrupted", tmp_path / "interrupted"
    reference = _run(_flags(workspace, uninterrupted, 6))
    killed = _run(_flags(workspace, interrupted, 6))
    deadline = time.monotonic() + 120
    while not (interrupted / "checkpoint-2" / "trainer_state.json").exists():
        assert killed.poll() is None and time.monotonic() < deadline, killed.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (interrupted / "checkpoint-6").exists()
    # As if the kill had landed while checkpoint-4 was being written: weights, but no trainer state yet.
    (interrupted / "checkpoint-4").mkdir(exist_ok=True)
    (interrupted / "checkpoint-4" / "model.safetensors").write_bytes(b"partial")

    resumed = _run(_flags(workspace, interrupted, 6, **{"resume-from-checkpoint": "last"}))
    for process in (reference, resumed):
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr.decode()[-3000:]
    assert "Skipping" in stderr.decode() and "checkpoint-4" in stderr.decode()

    state = json.loads((interrupted / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    expected, got = load_file(uninterrupted / "model.safetensors"), load_file(interrupted / "model.safetensors")
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0)


def test_two_cpu_processes_share_the_batch(workspace, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` with `--use-cpu` (torchrun, gloo; `--cpu` would start one
    process): each process samples and trains on its half of the batch; the logged epoch counts both halves."""
    output_dir = tmp_path / "ddp"
    flags = _flags(workspace, output_dir, 3, **{"per-device-train-batch-size": 2, "save-steps": 3})
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launcher += [
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "29517",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*launcher, "-m", "mu.cli", "distill", *flags], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((output_dir / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    # 3 steps x 2 processes x 2 rows = 12 of the 24 training rows
    assert state["log_history"][-1]["epoch"] == pytest.approx(0.5)
    assert all(entry["kd_loss"] >= 0 for entry in state["log_history"] if "kd_loss" in entry)


def test_the_python_example_distils_and_saves(workspace, tmp_path):
    script = Path(__file__).parents[1] / "examples" / "distill_from_teacher.py"
    arguments = [workspace / "teacher", workspace / "student.json", workspace / "train.jsonl", tmp_path / "out", 2]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    result = subprocess.run([sys.executable, script, *map(str, arguments)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    student = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "out")
    state = json.loads((tmp_path / "out" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and type(student).__name__ == "MuForConditionalGeneration"
