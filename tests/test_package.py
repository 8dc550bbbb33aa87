"""The distribution's build configuration (pyproject.toml's hatch targets)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        tomllib = pytest.importorskip("tomli")
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)  # type: ignore[no-any-return]


def test_the_sdist_holds_everything_the_tests_read() -> None:
    # It ships the tests, so it ships what they read too (the docs whose code blocks run,
    # the lock script the constraints test loads): every top-level entry of the repository
    # but the CI machinery and dotfiles.
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        [git, "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    top_level = {path.split("/")[0] for path in tracked} - {"pyproject.toml"}
    include = set(_pyproject()["tool"]["hatch"]["build"]["targets"]["sdist"]["include"])
    missing = {entry for entry in top_level if not entry.startswith(".")} - include
    assert not missing, f"left out of the sdist: {sorted(missing)}"


PACKAGES = (
    "nugen_client",
    "nugen_shared",
    "nugen_emulator",
    "langchain_nugen",
    "llama_index_nugen",
)
PRODUCT_MODULES = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]


def test_no_product_module_is_over_600_lines() -> None:
    # A module that long holds more than one thing: split it where its parts meet.
    long = {
        str(path.relative_to(ROOT)): lines
        for path in PRODUCT_MODULES
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert not long, long


def test_model_configs_are_declared_class_variables() -> None:
    # Unannotated, pyright --verifytypes counts every model built on the class as only
    # partially known (pydantic's BaseModel declares it ``ClassVar[ConfigDict]``).
    undeclared = [
        str(path.relative_to(ROOT))
        for path in PRODUCT_MODULES
        if re.search(r"^\s+model_config\s*=", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert undeclared == []
