import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSeq2SeqLM, HfArgumentParser
from transformers.utils import is_torch_bf16_gpu_available

from mu.cli import main
from mu.synthetic_data.tokenizer import train_tokenizer
from mu.trainers import MuDistillationConfig, distill
from mu.trainers.distill import DistillArguments, last_checkpoint
from mu.trainers.distillation_config import CHECKPOINTING_OFF, PAPER_RECIPE

from .distillation_setup import mu_student, qa_rows, qa_tokenizer, qwen3_teacher

DISTILL = """
import sys
from mu.cli import main

sys.exit(main(["distill", *sys.argv[1:]]))
"""
# Runs `mu distill` with a pause after every optimizer step, so that a test can kill it between checkpoints.
SLOW_DISTILL = """
import sys, time
from transformers import TrainerCallback
import mu.trainers.distill as distill
from mu.cli import main

class Pause(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(0.5)

class PausingTrainer(distill.MuDistillationTrainer):
    def __init__(self, *args, callbacks=(), **kwargs):
        super().__init__(*args, callbacks=[*callbacks, Pause()], **kwargs)

distill.MuDistillationTrainer = PausingTrainer
sys.exit(main(["distill", *sys.argv[1:]]))
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
        **{name.replace("_", "-"): "false" for name in CHECKPOINTING_OFF},
        "report-to": "none",
        "seed": 7,
        **extra,
    }
    return [item for key, value in flags.items() for item in (f"--{key}", str(value))]


def test_distill_writes_safetensors_checkpoints_logs_and_a_plot(workspace, tmp_path, capsys):
    output_dir = tmp_path / "run"
    flags = _flags(workspace, output_dir, 4, **{"eval-file": workspace / "eval.jsonl", "eval-strategy": "steps"})
    assert main(["distill", *flags, "--eval-steps", "2", "--recipe", "paper"]) == 0
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
    # the paper's objective, with the learning rate given on the command line
    assert "0.9 x generalized JSD (beta 0.0, temperature 0.9) + 0.1 x cross-entropy" in card.text
    assert "learning rate 0.001" in card.text

    student = AutoModelForSeq2SeqLM.from_pretrained(output_dir)
    saved = load_file(output_dir / "model.safetensors")
    for name, tensor in student.state_dict().items():
        if name in saved:
            torch.testing.assert_close(tensor, saved[name], rtol=0, atol=0)


def test_prompts_file_adds_prompt_only_rows_to_the_training_data(workspace, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": row["prompt"]}) + "\n" for row in qa_rows(6, seed=5)))
    flags = _flags(workspace, tmp_path / "run", 1, **{"prompts-file": prompts})
    arguments, config = HfArgumentParser((DistillArguments, MuDistillationConfig)).parse_args_into_dataclasses(flags)
    trainer = distill.run_distill(arguments, config)
    completions = trainer.train_dataset["completion"]
    assert len(completions) == 24 + 6 and completions[24:] == [None] * 6 and None not in completions[:24]
    assert trainer.train_dataset["prompt"][24:] == [row["prompt"] for row in qa_rows(6, seed=5)]

    with_answers = tmp_path / "answers.jsonl"
    with_answers.write_text("".join(json.dumps(row) + "\n" for row in qa_rows(2)))
    assert main(["distill", *_flags(workspace, tmp_path / "run2", 1, **{"prompts-file": with_answers})]) == 1
    message = (
        "The prompts file answers.jsonl has a 'completion' column: rows with answers belong in the training file."
    )
    assert message in capsys.readouterr().err


def test_teacher_tokenizer_flag_distils_across_tokenizers(workspace, tmp_path, capsys):
    """A teacher folder without a tokenizer, its tokenizer given by --teacher-tokenizer with another vocabulary."""
    student_tokenizer = qa_tokenizer()
    student_tokenizer.save_pretrained(tmp_path / "student-tokenizer")
    teacher_tokenizer = train_tokenizer([row["completion"] + row["prompt"] for row in qa_rows(300, seed=9)], 420)
    teacher_tokenizer.save_pretrained(tmp_path / "teacher-tokenizer")
    qwen3_teacher(len(teacher_tokenizer)).save_pretrained(tmp_path / "teacher")
    flags = _flags(
        workspace, tmp_path / "run", 2, teacher=tmp_path / "teacher", tokenizer=tmp_path / "student-tokenizer"
    )
    missing = [*flags, "--teacher-tokenizer", str(tmp_path / "nowhere")]
    assert main(["distill", *missing]) == 1
    assert "mu distill: --teacher-tokenizer" in capsys.readouterr().err
    assert main(["distill", *flags, "--teacher-tokenizer", str(tmp_path / "teacher-tokenizer")]) == 0
    history = json.loads((tmp_path / "run" / "checkpoint-2" / "trainer_state.json").read_text())["log_history"]
    assert all(0.0 < entry["alignment_rate"] <= 1.0 for entry in history if "kd_loss" in entry)


def test_bad_data_file_names_row_and_column(workspace, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    rows = qa_rows(3)
    del rows[1]["completion"]
    bad.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["distill", *_flags(workspace, tmp_path / "run", 1, **{"train-file": bad})]) == 1
    assert "mu distill: The dataset bad.jsonl row 1 has no value in column 'completion'." in capsys.readouterr().err
    csv = tmp_path / "data.csv"
    csv.write_text("prompt,completion\nq,a\n")
    assert main(["distill", *_flags(workspace, tmp_path / "run", 1, **{"train-file": csv})]) == 1
    assert "expected a .jsonl, .json, .parquet file" in capsys.readouterr().err


def test_recipe_paper_sets_the_papers_defaults_and_explicit_flags_override_them(tmp_path, monkeypatch):
    parsed = []

    def stop_after_parsing(arguments, config):
        parsed.append(config)
        raise SystemExit(0)

    monkeypatch.setattr(distill, "check_arguments", stop_after_parsing)
    base = ["--student", "s", "--teacher", "t", "--train-file", "f", "--output-dir", str(tmp_path)]
    for flags in ([], ["--recipe", "paper"], ["--recipe", "paper", "--alpha", "0.5", "--learning-rate", "1e-3"]):
        with pytest.raises(SystemExit):
            main(["distill", *base, *flags])
    default, paper, overridden = (
        (config.alpha, config.lmbda, config.temperature, config.learning_rate) for config in parsed
    )
    assert default == (1.0, 0.0, 1.0, 1e-4)
    assert (
        paper
        == (0.9, 1.0, 0.9, 1e-4)
        == tuple(PAPER_RECIPE[k] for k in ("alpha", "lmbda", "temperature", "learning_rate"))
    )
    assert overridden == (0.5, 1.0, 0.9, 1e-3)
    assert MuDistillationConfig.paper_recipe(output_dir=str(tmp_path), alpha=0.5).temperature == 0.9


@pytest.mark.skipif(is_torch_bf16_gpu_available(), reason="checks the default on a machine without bf16")
def test_precision_is_float32_without_a_bf16_accelerator_unless_asked(tmp_path):
    parser = HfArgumentParser((DistillArguments, MuDistillationConfig))
    _, config = parser.parse_args_into_dataclasses(args=_flags(tmp_path, tmp_path / "run", 1))
    assert config.bf16 is False and config.fp16 is False and config.use_cpu is False
    forced = MuDistillationConfig(output_dir=str(tmp_path), bf16=True, use_cpu=True, **CHECKPOINTING_OFF)
    assert forced.bf16 is True and forced.fp16 is False


def _run(arguments: list[str], slow: bool = False) -> subprocess.Popen:
    # On the CPU, where training is deterministic, whatever the machine has.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    script = SLOW_DISTILL if slow else DISTILL
    return subprocess.Popen([sys.executable, "-c", script, *arguments], env=env, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen) -> str:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr.decode()[-3000:]
    return stderr.decode()


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


def _cut_in_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


# 24 training rows in batches of 4: 6 steps an epoch; 14 steps end 2 steps into the third epoch.
KILLED_RUN = {"max_steps": 14, "save-steps": 4}


@pytest.fixture(scope="module")
def killed_run(workspace, tmp_path_factory) -> tuple[Path, Path]:
    """An uninterrupted run, and the same run killed with SIGKILL in its second epoch after saving checkpoint-8
    (2 steps into that epoch)."""
    root = tmp_path_factory.mktemp("killed")
    uninterrupted, interrupted = root / "uninterrupted", root / "interrupted"
    reference = _run(_flags(workspace, uninterrupted, **KILLED_RUN))
    killed = _run(_flags(workspace, interrupted, **KILLED_RUN), slow=True)
    deadline = time.monotonic() + 180
    while not _parses(interrupted / "checkpoint-8" / "trainer_state.json"):
        assert killed.poll() is None and time.monotonic() < deadline, killed.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert not (interrupted / "checkpoint-12").exists()
    _finish(reference)
    return uninterrupted, interrupted


def _assert_resumed_like(uninterrupted: Path, resumed: Path) -> None:
    """The resumed run logged the uninterrupted run's losses and ends with its weights, bit for bit."""
    losses = [
        [(entry["step"], entry["loss"]) for entry in json.loads(path.read_text())["log_history"] if "loss" in entry]
        for path in (
            uninterrupted / "checkpoint-14" / "trainer_state.json",
            resumed / "checkpoint-14" / "trainer_state.json",
        )
    ]
    assert losses[1] == losses[0]
    expected, got = load_file(uninterrupted / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0)


def test_a_run_killed_in_its_second_epoch_resumes_to_the_same_weights(workspace, killed_run, tmp_path):
    """Resumes 2 steps into epoch 1 (skipping the batches it consumed) and crosses into epoch 2."""
    uninterrupted, interrupted = killed_run
    output_dir = shutil.copytree(interrupted, tmp_path / "run")
    _finish(_run(_flags(workspace, output_dir, **KILLED_RUN, **{"resume-from-checkpoint": "last"})))
    _assert_resumed_like(uninterrupted, output_dir)


def test_resuming_skips_torn_checkpoints_with_a_warning(workspace, killed_run, tmp_path):
    uninterrupted, interrupted = killed_run
    output_dir = shutil.copytree(interrupted, tmp_path / "run")
    # As if the kill had landed while checkpoint-12 was saved: its trainer state (written last) cut in half.
    _cut_in_half(shutil.copytree(output_dir / "checkpoint-8", output_dir / "checkpoint-12") / "trainer_state.json")
    # And checkpoint-8's optimizer state cut short, as a full disk or an interrupted copy leaves it.
    _cut_in_half(output_dir / "checkpoint-8" / "optimizer.pt")
    stderr = _finish(_run(_flags(workspace, output_dir, **KILLED_RUN, **{"resume-from-checkpoint": "last"})))
    assert f"Skipping {output_dir / 'checkpoint-12'}: its trainer_state.json does not parse" in stderr
    assert f"Skipping {output_dir / 'checkpoint-8'}: its optimizer.pt is cut short" in stderr
    _assert_resumed_like(uninterrupted, output_dir)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("trainer_state.json", "it has no trainer_state.json"),
        ("trainer_state.json", "its trainer_state.json does not parse"),
        ("model.safetensors", "its model.safetensors is unreadable"),
        ("optimizer.pt", "its optimizer.pt is cut short"),
        ("scheduler.pt", "its scheduler.pt is cut short"),
        ("rng_state_1.pth", "its rng_state_1.pth is cut short"),
    ],
)
def test_last_checkpoint_skips_a_torn_checkpoint(tmp_path, caplog, name, problem):
    for step in (2, 4):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        save_file({"weight": torch.randn(64, 64)}, folder / "model.safetensors")
        for archive in ("optimizer.pt", "scheduler.pt", "rng_state_1.pth"):
            torch.save({"state": torch.randn(64, 64)}, folder / archive)
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    torn = tmp_path / "checkpoint-4" / name
    torn.unlink() if "has no" in problem else _cut_in_half(torn)
    with caplog.at_level(logging.WARNING):
        assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert f"Skipping {tmp_path / 'checkpoint-4'}: {problem}" in caplog.text
    shutil.rmtree(tmp_path / "checkpoint-2")
    with pytest.raises(ValueError, match="No complete checkpoint to resume from"):
        last_checkpoint(tmp_path)


def test_two_cpu_processes_share_the_batch(workspace, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` with `--use-cpu` (torchrun, gloo; `--cpu` would start one
    process): each process samples and trains on its half of the batch; the logged epoch counts both halves."""
    output_dir = tmp_path / "ddp"
    flags = _flags(workspace, output_dir, 3, **{"per-device-train-batch-size": 2, "save-steps": 3, "use-cpu": "true"})
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
