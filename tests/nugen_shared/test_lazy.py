"""The adapter packages without their framework: the package imports, and using a class
names the extra to install. Each case runs in a fresh interpreter in which the framework
looks uninstalled (``tests.support.uninstalled``)."""

from __future__ import annotations

import pytest

from tests.support.uninstalled import run_without


@pytest.mark.parametrize(
    ("package", "name", "framework", "extra"),
    [
        ("langchain_nugen", "ChatNugen", "langchain_core", "langchain"),
        ("llama_index_nugen", "Nugen", "llama_index", "llama-index"),
    ],
)
def test_a_class_without_its_framework_names_the_extra(
    package: str, name: str, framework: str, extra: str
) -> None:
    out = run_without(
        f"import {package}\n"
        f"print(sorted(dir({package})))\n"
        "try:\n"
        f"    {package}.{name}\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, error)\n"
        "try:\n"
        f"    {package}.NoSuchThing\n"
        "except AttributeError as error:\n"
        "    print('AttributeError', error)\n",
        block=(framework,),
    )
    listing, refusal, unknown = out.splitlines()
    assert name in listing
    assert refusal.startswith(f"ImportError {name} needs {framework}")
    assert f'pip install "nugen-integrations[{extra}]"' in refusal
    assert unknown == f"AttributeError module {package!r} has no attribute 'NoSuchThing'"


def test_another_missing_module_is_not_taken_for_the_framework() -> None:
    # pydantic missing is a broken install, not a missing extra: its own error stands.
    out = run_without(
        "import langchain_nugen\n"
        "try:\n"
        "    langchain_nugen.ChatNugen\n"
        "except ImportError as error:\n"
        "    print(error)\n",
        block=("pydantic",),
    )
    assert "pydantic" in out
    assert "nugen-integrations[" not in out
