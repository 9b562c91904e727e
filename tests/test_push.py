import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mu.cli import main
from mu.hub import validate_folder

from .conftest import tiny_model
from .hub_server import LocalHub


class RecordingApi:
    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, private, exist_ok):
        self.calls.append(("create_repo", repo_id, private))

    def create_branch(self, repo_id, branch, exist_ok):
        self.calls.append(("create_branch", repo_id, branch))

    def upload_folder(self, repo_id, folder_path, revision, commit_message, ignore_patterns):
        files = sorted(p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*") if p.is_file())
        self.calls.append(("upload_folder", repo_id, revision, commit_message, files))
        return f"https://hub.example/{repo_id}/commit/0"


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "model"
    tiny_model().save_pretrained(path)
    (path / "README.md").write_text("---\nlibrary_name: transformers\n---\n# Mu\n")
    return path


def test_push_creates_the_repo_and_uploads_one_commit(folder, monkeypatch, capsys):
    api = RecordingApi()
    monkeypatch.setattr("mu.hub.HfApi", lambda: api)
    flags = ["--model", str(folder), "--repo-id", "org/mu", "--private", "--revision", "v1"]
    assert main(["push", *flags, "--commit-message", "first"]) == 0
    assert api.calls[:2] == [("create_repo", "org/mu", True), ("create_branch", "org/mu", "v1")]
    (upload,) = api.calls[2:]
    assert upload[:4] == ("upload_folder", "org/mu", "v1", "first")
    assert {"config.json", "model.safetensors", "README.md", "modeling_mu.py", "configuration_mu.py"} <= set(upload[4])
    assert "https://hub.example/org/mu/commit/0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "pytorch_model.bin").write_bytes(b"pickle"), r"pickle files \(pytorch_model.bin\)"),
        (lambda f: (f / "model.safetensors").unlink(), "no .safetensors weights"),
        (lambda f: (f / "README.md").unlink(), r"no model card \(README.md\)"),
        (lambda f: (f / "modeling_mu.py").unlink(), r"remote code named in auto_map is missing \(modeling_mu.py\)"),
        (lambda f: (f / "config.json").write_text("{not json"), "config.json does not load"),
    ],
)
def test_an_unpublishable_folder_is_refused_and_nothing_is_sent(folder, monkeypatch, damage, message, capsys):
    api = RecordingApi()
    monkeypatch.setattr("mu.hub.HfApi", lambda: api)
    damage(folder)
    assert main(["push", "--model", str(folder), "--repo-id", "org/mu"]) == 1
    assert re.search(f"mu push: Not pushing .*{message}", capsys.readouterr().err)
    assert api.calls == []


def test_validation_lists_every_problem(folder):
    (folder / "README.md").unlink()
    (folder / "optimizer.pt").write_bytes(b"pickle")
    with pytest.raises(ValueError, match=r"pickle files \(optimizer.pt\).*; it has no model card"):
        validate_folder(folder)


def _push_in_a_fresh_process(folder, endpoint, *flags):
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": "x"}
    command = [sys.executable, "-m", "mu.cli", "push", "--model", str(folder), "--repo-id", "org/mu", *flags]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_push_to_a_local_hub_stores_one_commit_that_loads_with_remote_code(folder, tmp_path):
    expected = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    # What a Trainer leaves next to the model stays local (pickles there are no reason to refuse the folder).
    (folder / "training_args.bin").write_bytes(b"pickle")
    (folder / "checkpoint-2" / "nested").mkdir(parents=True)
    (folder / "checkpoint-2" / "optimizer.pt").write_bytes(b"pickle")
    (folder / "checkpoint-2" / "nested" / "rng_state.pth").write_bytes(b"pickle")
    with LocalHub(tmp_path / "hub") as hub:
        result = _push_in_a_fresh_process(folder, hub.endpoint, "--commit-message", "Mu tiny")
    assert result.returncode == 0, result.stderr[-3000:]
    (commit,) = hub.commits
    assert commit["repo_id"] == "org/mu" and commit["message"] == "Mu tiny"
    assert sorted(commit["files"]) == expected
    # A process that never imports `mu` loads the stored files through the code shipped with them.
    load = (
        "import sys, torch; from transformers import AutoModelForSeq2SeqLM;"
        "m = AutoModelForSeq2SeqLM.from_pretrained(sys.argv[1], trust_remote_code=True);"
        "assert 'mu' not in sys.modules and type(m).__module__.startswith('transformers_modules');"
        "print(m(input_ids=torch.tensor([[5, 6, 7]]), decoder_input_ids=torch.tensor([[1]])).logits.sum().item())"
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    command = [sys.executable, "-c", load, str(tmp_path / "hub" / "org/mu")]
    stored = subprocess.run(command, env=env, capture_output=True, text=True)
    assert stored.returncode == 0, stored.stderr[-3000:]
    with torch.no_grad():
        local = tiny_model()(input_ids=torch.tensor([[5, 6, 7]]), decoder_input_ids=torch.tensor([[1]])).logits.sum()
    assert float(stored.stdout.split()[-1]) == pytest.approx(local.item(), rel=1e-5)


def test_a_failed_commit_is_reported_and_leaves_the_folder_untouched(folder, tmp_path):
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with LocalHub(tmp_path / "hub", fail_commits=True) as hub:
        result = _push_in_a_fresh_process(folder, hub.endpoint)
    assert result.returncode != 0 and not hub.commits
    assert result.stderr.startswith("mu push: Pushing") and "Traceback" not in result.stderr
    assert "failed, no commit was made and the folder is unchanged" in result.stderr
    assert "500" in result.stderr and "storage backend is down" in result.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_an_unreachable_hub_is_reported_as_a_failed_push(folder):
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    result = _push_in_a_fresh_process(folder, "http://127.0.0.1:9")  # the discard port: connection refused
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("mu push: Pushing") and "no commit was made" in result.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
