from pathlib import Path

import pytest

from mu.cli import main
from mu.hub import validate_folder

from .conftest import tiny_model


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
def test_an_unpublishable_folder_is_refused_and_nothing_is_sent(folder, monkeypatch, damage, message):
    api = RecordingApi()
    monkeypatch.setattr("mu.hub.HfApi", lambda: api)
    damage(folder)
    with pytest.raises(ValueError, match=message):
        main(["push", "--model", str(folder), "--repo-id", "org/mu"])
    assert api.calls == []


def test_validation_lists_every_problem(folder):
    (folder / "README.md").unlink()
    (folder / "training_args.bin").write_bytes(b"pickle")
    with pytest.raises(ValueError, match=r"pickle files \(training_args.bin\).*; it has no model card"):
        validate_folder(folder)
