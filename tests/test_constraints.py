"""constraints.txt pins every supported Python exactly once per package, in the form
scripts/lock writes, so a hand edit cannot leave a version unpinned or pinned twice."""

from __future__ import annotations

import importlib.util
import re
import sys
from types import ModuleType

import pytest

from .conftest import ROOT

CONSTRAINTS = (ROOT / "constraints.txt").read_text(encoding="utf-8")
SUPPORTED = re.findall(
    r'"Programming Language :: Python :: (3\.\d+)"',
    (ROOT / "pyproject.toml").read_text(encoding="utf-8"),
)


def load_lock_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_lock", ROOT / "scripts" / "_lock.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LOCK = load_lock_module()


def test_the_classifiers_name_the_supported_versions() -> None:
    assert SUPPORTED == ["3.10", "3.11", "3.12", "3.13"]


@pytest.mark.parametrize("version", SUPPORTED)
def test_every_supported_version_has_its_pins(version: str) -> None:
    pins = LOCK.pins_for(CONSTRAINTS, version)
    for name in ("httpx", "pydantic", "langchain-core", "llama-index-core", "pytest"):
        assert name in pins, f"{name} is not pinned for Python {version}"
    if version == "3.10":  # the backports that only 3.10 needs
        assert {"exceptiongroup", "tomli"} <= set(pins)
    else:
        assert "tomli" not in pins


def test_the_running_interpreter_gets_exactly_one_pin_per_package() -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    pins = LOCK.pins_for(CONSTRAINTS, version)  # raises on a package pinned twice
    assert pins["pydantic"]


def test_the_file_is_what_scripts_lock_would_write_from_its_own_pins() -> None:
    locks = {version: LOCK.pins_for(CONSTRAINTS, version) for version in SUPPORTED}
    assert LOCK.merge(locks) == CONSTRAINTS


def test_merge_bounds_each_pin_by_the_versions_it_holds_on() -> None:
    merged = LOCK.merge(
        {
            "3.10": {"numpy": "2.2.6", "tomli": "2.5.0", "httpx": "0.28.1"},
            "3.11": {"numpy": "2.4.6", "httpx": "0.28.1"},
            "3.12": {"numpy": "2.4.6", "httpx": "0.28.1", "setuptools": "84.2.1"},
        }
    )
    assert merged.splitlines()[-5:] == [
        "httpx==0.28.1",
        'numpy==2.2.6; python_version < "3.11"',
        'numpy==2.4.6; python_version >= "3.11"',
        'setuptools==84.2.1; python_version >= "3.12"',
        'tomli==2.5.0; python_version < "3.11"',
    ]


def test_a_pin_missing_in_between_bounds_both_sides() -> None:
    merged = LOCK.merge({"3.10": {}, "3.11": {"a": "1"}, "3.12": {}})
    assert merged.splitlines()[-1] == 'a==1; python_version >= "3.11" and python_version < "3.12"'
    assert LOCK.pins_for(merged, "3.11") == {"a": "1"}
    assert LOCK.pins_for(merged, "3.12") == {}


def test_a_range_pin_is_refused() -> None:
    with pytest.raises(ValueError, match="not an exact pin"):
        LOCK.pins_for("numpy>=2\n", "3.11")
