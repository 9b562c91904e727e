# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu push`: check a model folder and publish it to the Hub in one commit."""

import json
import sys
from fnmatch import fnmatch
from pathlib import Path

from huggingface_hub import HfApi
from transformers import AutoConfig

# The errors huggingface_hub raises when the Hub cannot be reached come from its HTTP client, httpx before
# huggingface_hub 2.0 and httpx2 since (already imported by `HfApi`); HTTP status errors and offline mode are OSErrors.
NETWORK_ERRORS = (OSError, *(sys.modules[name].HTTPError for name in ("httpx", "httpx2") if name in sys.modules))

# Pickled weights or training state execute code when loaded; only safetensors weights are published.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
# What `Trainer` leaves in a model folder besides the model (its arguments, resumable checkpoints) stays local;
# matched like `upload_folder`'s `ignore_patterns` (fnmatch on the path in the folder).
TRAINING_STATE_PATTERNS = ["training_args.bin", "checkpoint-*/*", ".git/*"]


def validate_folder(folder: str | Path) -> list[Path]:
    """The files to upload (all but the training state `Trainer` leaves: `training_args.bin`, `checkpoint-*/`),
    after checking that the folder is a publishable model: its config loads, its weights are safetensors and nothing
    else is a pickle, the code files named in `auto_map` are there, and it has a model card.
    Raises a ValueError that lists every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder.")
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(fnmatch(path.relative_to(folder).as_posix(), p) for p in TRAINING_STATE_PATTERNS)
    )
    problems = []
    try:
        AutoConfig.from_pretrained(folder)
        auto_map = json.loads((folder / "config.json").read_text()).get("auto_map", {})
    except Exception as error:  # any failure to read the config is a reason not to publish
        problems.append(f"its config.json does not load ({error})")
        auto_map = {}
    pickles = [path.relative_to(folder).as_posix() for path in files if path.suffix in PICKLE_SUFFIXES]
    if pickles:
        problems.append(f"it holds pickle files ({', '.join(pickles)}); publish safetensors only")
    if not any(path.suffix == ".safetensors" for path in files):
        problems.append("it has no .safetensors weights")
    references = [r for value in auto_map.values() for r in (value if isinstance(value, list) else [value]) if r]
    modules = {reference.split("--")[-1].rsplit(".", 1)[0] for reference in references}
    missing = sorted(f"{module}.py" for module in modules if not (folder / f"{module}.py").is_file())
    if missing:
        problems.append(f"the remote code named in auto_map is missing ({', '.join(missing)})")
    if not (folder / "README.md").is_file():
        problems.append("it has no model card (README.md)")
    if problems:
        raise ValueError(f"Not pushing {folder}: " + "; ".join(problems) + ".")
    return files


def push_folder(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    api: HfApi | None = None,
) -> str:
    """Creates the repo if needed and uploads the checked folder as a single commit; returns the commit URL."""
    validate_folder(folder)
    api = api or HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            revision=revision,
            commit_message=commit_message or f"Upload {Path(folder).name} with mu push",
            ignore_patterns=TRAINING_STATE_PATTERNS,
        )
    except NETWORK_ERRORS as error:
        raise OSError(
            f"Pushing {folder} to {repo_id} failed, no commit was made and the folder is unchanged: {error}"
        ) from error
    return str(commit)
