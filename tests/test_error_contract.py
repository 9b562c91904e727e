"""The command line's error contract: every expected failure of every subcommand exits non-zero with one message,
`mu <command>: ...` (or argparse's usage error), that names the problem, and never a traceback."""

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest
import torch

from .distillation_setup import mu_student, qa_rows, qa_tokenizer, qwen3_teacher, t5_student

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A workspace of good and bad inputs: a Mu folder, a T5 folder, a Mu folder with torn weights, a teacher, data
    files, images, checkpoints and a plain file where a folder is expected."""
    root = tmp_path_factory.mktemp("errors")
    tokenizer = qa_tokenizer()
    model = mu_student(len(tokenizer))
    model.generation_config.decoder_start_token_id = 1
    for name in ("mu", "torn"):
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    weights = root / "torn" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    shutil.copytree(root / "mu", root / "publishable")
    (root / "publishable" / "README.md").write_text("---\nlibrary_name: transformers\n---\n# Mu\n")
    t5_student(len(tokenizer)).save_pretrained(root / "t5")
    tokenizer.save_pretrained(root / "t5")
    qwen3_teacher(len(tokenizer)).save_pretrained(root / "teacher")
    tokenizer.save_pretrained(root / "teacher")
    (root / "student.json").write_text(json.dumps(model.config.to_dict()))
    (root / "empty").mkdir()

    rows = qa_rows(8)
    (root / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (root / "empty.jsonl").write_text("")
    (root / "not-json.jsonl").write_text("prompt: what?\ncompletion: that\n")
    (root / "no-completion.jsonl").write_text("".join(json.dumps({"prompt": row["prompt"]}) + "\n" for row in rows))
    (root / "data.csv").write_text("prompt,completion\nq,a\n")
    (root / "squad.json").write_text('{"version": "v2.0", "data": [')
    (root / "a-file").write_text("not a folder")

    PIL.Image.new("RGB", (8, 8), "red").save(root / "red.png")
    (root / "broken.png").write_bytes((root / "red.png").read_bytes()[:40])
    (root / "random.pt").write_bytes(random.Random(0).randbytes(4096))
    torch.save({"weights": {}}, root / "other.pt")
    return root


def _cases(ws: Path) -> list[tuple[list[str], list[str]]]:
    """(command line, words its message must contain)."""
    mu, t5, torn, teacher = str(ws / "mu"), str(ws / "t5"), str(ws / "torn"), str(ws / "teacher")
    distill = ["distill", "--student", str(ws / "student.json"), "--teacher", teacher]
    distill += [
        "--train-file",
        str(ws / "train.jsonl"),
        "--output-dir",
        str(ws / "out-distill"),
        "--report-to",
        "none",
    ]
    evaluate = ["evaluate", "--model", mu, "--task", "squad_v2", "--data", str(ws / "squad.json")]
    evaluate += ["--output", str(ws / "out-evaluate")]
    convert = ["convert", str(ws / "random.pt"), "--source", "text", "--tokenizer", mu, "--output", str(ws / "conv")]
    export = ["export-onnx", "--model", mu, "--output", str(ws / "out-onnx")]
    ct2 = ["export-ctranslate2", "--model", mu, "--output", str(ws / "out-ct2")]
    return [
        ([], ["required: COMMAND"]),
        (["translate"], ["invalid choice: 'translate'"]),
        # generate
        (["generate", "--model", "./mu-dmeo", "hi"], ["--model ./mu-dmeo", "no such file or folder"]),
        (["generate", "--model", str(ws / "nope" / "mu"), "hi"], ["nope/mu", "no such file or folder"]),
        (["generate", "--model", "mu/v2", "hi"], ["mu/v2: no such", "local path because mu exists here"]),
        (["generate", "--model", mu, "hi", "--max-new-tokens", "0"], ["--max-new-tokens", "at least 1"]),
        (["generate", "--model", mu, "hi", "--max-new-tokens", "ten"], ["--max-new-tokens", "'ten'"]),
        (["generate", "--model", mu, "hi", "--num-beams", "0"], ["--num-beams", "at least 1"]),
        (["generate", "--model", mu, "hi", "--do-sample", "--top-p", "1.5"], ["--top-p", "(0, 1]"]),
        (["generate", "--model", mu, "hi", "--do-sample", "--top-k", "-1"], ["--top-k", "0 or more"]),
        (["generate", "--model", mu, "hi", "--do-sample", "--temperature", "0"], ["--temperature", "positive"]),
        (["generate", "--model", mu, "hi", "--temperature", "0.7"], ["--temperature", "--do-sample"]),
        (
            ["generate", "--model", mu, "hi", "--num-return-sequences", "3"],
            ["--num-return-sequences 3", "--num-beams"],
        ),
        (["generate", "--model", mu, "hi", "--stream", "--num-beams", "2"], ["--stream", "one sequence"]),
        (["generate", "--model", mu, "hi", "--device", "cuda"], ["--device cuda", "use cpu"]),
        (["generate", "--model", mu, "hi", "--device", "gpu"], ["--device gpu", "not a torch device"]),
        (["generate", "--model", mu, "hi", "--dtype", "float64"], ["--dtype", "invalid choice"]),
        (["generate", "--model", mu, "  "], ["prompt is empty"]),
        (
            ["generate", "--model", mu, "hi", "--image", str(ws / "red.png"), "--context", "c"],
            ["--image", "--context"],
        ),
        (["generate", "--model", mu, "hi", "--image", str(ws / "nope.png")], ["--image", "nope.png", "no such file"]),
        (
            ["generate", "--model", mu, "hi", "--image", str(ws / "broken.png")],
            ["Cannot read the image", "broken.png"],
        ),
        (["generate", "--model", mu, "hi", "--image", str(ws / "red.png")], ["--image needs a vision checkpoint"]),
        (["generate", "--model", t5, "hi"], ["'t5' model", "Mu folders"]),
        (["generate", "--model", torn, "hi"], ["torn/model.safetensors", "damaged or partly written"]),
        (["generate", "--model", str(ws / "empty"), "hi"], ["config.json"]),
        (["generate", "--model", mu, "hi", "--backend", "onnx", "--num-beams", "2"], ["onnx backend", "--num-beams"]),
        (["generate", "--model", mu, "hi", "--backend", "onnx"], ["encoder_model.onnx"]),
        (["generate", "--model", mu, "hi", "--no-such-flag"], ["unrecognized arguments: --no-such-flag"]),
        # evaluate
        ([*evaluate[:4], "nope", *evaluate[5:]], ["Unknown task 'nope'"]),
        ([*evaluate, "--batch-size", "0"], ["--batch-size", "at least 1"]),
        ([*evaluate, "--batch-size", "-1"], ["--batch-size", "at least 1"]),
        ([*evaluate, "--limit", "0"], ["--limit", "at least 1"]),
        ([*evaluate[:6], str(ws / "nope.json"), *evaluate[7:]], ["--data", "nope.json", "no such file"]),
        ([*evaluate[:-1], str(ws / "a-file")], ["--output", "a-file", "is a file"]),
        ([*evaluate, "--judge", "./judge-missing"], ["--judge ./judge-missing", "no such file or folder"]),
        ([*evaluate, "--device", "cuda:1"], ["--device cuda:1"]),
        (evaluate, ["squad.json", "is not"]),
        ([*evaluate[:2], "org/mu", *evaluate[3:], "--add-to-card"], ["--add-to-card", "not a local folder"]),
        # distill
        ([*distill[:2], "./studnet", *distill[3:]], ["--student ./studnet", "no such file or folder"]),
        ([*distill[:4], "./teachr", *distill[5:]], ["--teacher ./teachr", "no such file or folder"]),
        ([*distill, "--tokenizer", "./tok"], ["--tokenizer ./tok", "no such file or folder"]),
        ([*distill, "--teacher-adapter", "./lora"], ["--teacher-adapter ./lora", "no such file or folder"]),
        ([*distill[:6], str(ws / "nope.jsonl"), *distill[7:]], ["--train-file", "nope.jsonl", "no such file"]),
        ([*distill[:6], str(ws / "empty.jsonl"), *distill[7:]], ["empty.jsonl"]),
        ([*distill[:6], str(ws / "not-json.jsonl"), *distill[7:]], ["not-json.jsonl"]),
        ([*distill[:6], str(ws / "no-completion.jsonl"), *distill[7:]], ["no-completion.jsonl", "'completion'"]),
        ([*distill[:6], str(ws / "data.csv"), *distill[7:]], ["data.csv", ".jsonl"]),
        ([*distill, "--max-steps", "0"], ["max_steps must be at least 1", "got 0"]),
        ([*distill, "--save-steps", "-5"], ["save_steps must be positive", "got -5"]),
        ([*distill, "--alpha", "2"], ["alpha must be in [0.0, 1.0], got 2"]),
        ([*distill[:-3], str(ws / "a-file"), *distill[-2:]], ["--output-dir", "a-file", "is a file"]),
        ([*distill, "--learning-rate", "fast"], ["--learning-rate", "fast"]),
        (
            [*distill[:-3], str(ws / "no-run"), *distill[-2:], "--resume-from-checkpoint", "last"],
            ["No complete", "no-run"],
        ),
        ([*distill[:4], "org/no-teacher", *distill[5:]], ["org/no-teacher"]),
        ([*distill, "--bogus"], ["--bogus"]),
        ([*distill, "--prompts-file", str(ws / "nope.jsonl")], ["--prompts-file", "nope.jsonl"]),
        # push
        (["push", "--model", str(ws / "nope"), "--repo-id", "org/mu"], ["nope", "is not a folder"]),
        (["push", "--model", mu, "--repo-id", "org/mu"], ["Not pushing", "model card"]),
        (["push", "--model", str(ws / "publishable"), "--repo-id", "org/mu"], ["no commit was made", "unchanged"]),
        # demo
        (["demo", "--train-examples", "0"], ["--train-examples", "at least 1"]),
        (["demo", "--labeled-examples", "7000"], ["--labeled-examples 7000 exceeds --train-examples 6000"]),
        (["demo", "--output-dir", str(ws / "a-file")], ["--output-dir", "a-file", "is a file"]),
        # benchmark
        (["benchmark", "--new-tokens", "0"], ["--new-tokens", "at least 1"]),
        (["benchmark", "--device", "cuda"], ["--device cuda", "use cpu"]),
        (["benchmark", "--size", "tiny", "--extra-cases", "mu:x:1"], ["mu:x:1", "CONTENDER:INPUT_LENGTH:NEW_TOKENS"]),
        # convert
        (convert, ["random.pt", "not a readable PyTorch checkpoint"]),
        ([convert[0], str(ws / "other.pt"), *convert[2:]], ["other.pt", "'model_state_dict'"]),
        ([convert[0], str(ws / "nope.pt"), *convert[2:]], ["nope.pt", "no such file"]),
        ([*convert[:5], "./tokenizr", *convert[6:]], ["--tokenizer ./tokenizr", "no such file or folder"]),
        ([*convert[:-1], str(ws / "a-file")], ["--output", "is a file"]),
        # export-onnx
        ([*export, "--quantize", "int4"], ["--quantize int4", "int8"]),
        ([export[0], "--model", "./mu-dmeo", *export[3:]], ["--model ./mu-dmeo", "no such file or folder"]),
        ([*export[:-1], str(ws / "a-file")], ["--output", "is a file"]),
        # export-ctranslate2
        ([*ct2, "--quantization", "int4"], ["quantization 'int4'", "int8"]),
        ([ct2[0], "--model", "./mu-dmeo", *ct2[3:]], ["--model ./mu-dmeo", "no such file or folder"]),
        ([*ct2[:-1], str(ws / "publishable")], ["publishable is not empty", "new or empty folder"]),
    ]


def test_every_bad_input_gets_one_message_and_no_traceback(ws, tmp_path):
    cases = _cases(ws)
    assert len(cases) >= 40
    (tmp_path / "cases.json").write_text(json.dumps([argv for argv, _ in cases]))
    # No GPU, whatever the machine has: `--device cuda` must be refused.
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": str(ROOT),
    }
    runner = [sys.executable, "-m", "tests.cli_runner", str(tmp_path / "cases.json"), str(tmp_path / "results.json")]
    subprocess.run(runner, env=env, cwd=ws, check=True, timeout=600)
    results = json.loads((tmp_path / "results.json").read_text())
    failures = []
    for (argv, words), result in zip(cases, results, strict=True):
        stderr = result["stderr"]
        last_line = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        expected_code = 2 if "usage:" in stderr else 1  # argparse's usage errors exit 2, the others 1
        problems = [
            f"exit {result['returncode']}" if result["returncode"] != expected_code else "",
            "traceback" if "Traceback" in stderr else "",
            "the last line is not `mu <command>: ...`" if not re.match(r"mu( [a-z0-9-]+)?: ", last_line) else "",
            *(f"no {word!r}" for word in words if word not in stderr),
        ]
        if any(problems):
            failures.append(f"mu {' '.join(argv)}: {', '.join(p for p in problems if p)}\n{stderr[-1500:]}")
    assert not failures, "\n\n".join(failures)
