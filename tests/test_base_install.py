"""A base install (no extras) imports and generates; a feature that needs an extra names the extra to install."""

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

from mu.extras import EXTRA_MODULES

from .conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


def test_extra_modules_are_the_packages_pyproject_installs_for_each_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    distributions = importlib.metadata.packages_distributions()
    for extra, modules in EXTRA_MODULES.items():
        declared = {Requirement(line).name.lower().replace("_", "-") for line in extras[extra]}
        provided = {distributions[module][0].lower().replace("_", "-") for module in modules}
        assert provided == declared, extra


def test_without_extras_mu_imports_generates_and_names_the_missing_extra(tmp_path):
    # Every optional package is hidden from the child process, as in `pip install mu` without extras.
    hidden = sorted({module for modules in EXTRA_MODULES.values() for module in modules})
    script = textwrap.dedent(
        f"""
        import sys
        for name in {hidden!r}:
            sys.modules[name] = None  # importing it now fails, and find_spec() reports it missing
        import torch
        import mu
        from mu.cli import main

        model = mu.MuForConditionalGeneration(mu.MuConfig(**{TINY!r})).eval()
        print("generated", model.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=3).shape[-1])
        for use in (lambda: mu.MuProcessor(tokenizer=None), lambda: __import__("mu.trainers")):
            try:
                use()
            except ImportError as error:
                print("error:", error)
        sys.exit(main(["export-onnx", "--model", "m", "--output", "o"]))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "generated 4"
    assert lines[1].startswith("error: MuProcessor") and 'pip install "mu[vision]"' in lines[1]
    assert 'pip install "mu[train]"' in lines[2] and "trl" in lines[2]
    assert result.stderr.strip().splitlines()[-1].startswith("mu export-onnx: ")
    assert 'pip install "mu[onnx]"' in result.stderr
