"""The version policy of pyproject.toml, the two constraint files CI installs from, and the environment under test
agree: lower bound = the oldest version CI tests, upper bound = the minor after the newest one CI tests."""

import importlib.metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
POLICED = (
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "evaluate",
    "huggingface_hub",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "ctranslate2",
)


def _normalized(name: str) -> str:
    return name.lower().replace("-", "_")


def _declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [line for extra in project["optional-dependencies"].values() for line in extra]
    requirements = {}
    for line in lines:
        requirement = Requirement(line)
        name = _normalized(requirement.name)
        assert requirements.setdefault(name, requirement) == requirement, f"{name} is declared twice, differently"
    return requirements


def _pins(file: str) -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints" / file).read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_normalized(name)] = Version(version)
    return pins


def _bounds(requirement: Requirement) -> tuple[Version, Version]:
    lower = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    upper = [Version(spec.version) for spec in requirement.specifier if spec.operator == "<"]
    assert len(lower) == 1 and len(upper) == 1, f"{requirement} needs one lower and one upper bound"
    return lower[0], upper[0]


@pytest.mark.parametrize("name", POLICED)
def test_bounds_are_the_oldest_and_the_next_minor_after_the_newest_tested(name):
    lower, upper = _bounds(_declared()[name])
    assert _pins("oldest.txt")[name] == lower
    locked = _pins("lock.txt")[name]
    assert upper == Version(f"{locked.major}.{locked.minor + 1}"), f"{name}: the lock has {locked}, the cap {upper}"


@pytest.mark.parametrize("name", POLICED)
def test_the_environment_under_test_is_within_the_policy(name):
    installed = importlib.metadata.version(name)
    assert _declared()[name].specifier.contains(installed), f"{name} {installed} is outside {_declared()[name]}"
