"""Without its framework installed, an adapter says which extra to install.

Each case runs in a fresh interpreter whose import system refuses the framework's modules
(a meta-path finder), the way they are missing when the extra was not installed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys


class Missing:
    def find_spec(self, name, path=None, target=None):
        if any(name == p or name.startswith(p + ".") for p in sys.argv[1].split(",")):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Missing())
try:
    exec(sys.argv[2])
except ImportError as error:
    print(type(error).__name__, error, sep=": ")
else:
    print("imported")
"""

LANGCHAIN = 'pip install "nugen-integrations[langchain]"'
LLAMA_INDEX = 'pip install "nugen-integrations[llama-index]"'


def _run(blocked: str, statement: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, blocked, statement],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("blocked", "statement", "extra"),
    [
        ("langchain_core,langchain", "from langchain_nugen import ChatNugen", LANGCHAIN),
        ("langchain_core,langchain", "from langchain_nugen import NugenEmbeddings", LANGCHAIN),
        ("llama_index", "from llama_index_nugen import Nugen", LLAMA_INDEX),
        ("llama_index", "from llama_index_nugen import NugenMultiModal", LLAMA_INDEX),
        ("llama_index", "from llama_index_nugen import NugenEmbedding", LLAMA_INDEX),
    ],
)
def test_a_missing_framework_names_the_extra(blocked: str, statement: str, extra: str) -> None:
    output = _run(blocked, statement)
    assert output.startswith("ImportError: "), output
    assert extra in output


@pytest.mark.parametrize(
    "statement",
    [
        "from llama_index.llms.nugen import Nugen",
        "from llama_index.multi_modal_llms.nugen import NugenMultiModal",
        "from llama_index.embeddings.nugen import NugenEmbedding",
    ],
)
def test_the_llama_index_aliases_name_the_extra(statement: str) -> None:
    # llama-index-core missing: only its modules are refused, our alias packages remain.
    output = _run("llama_index.core", statement)
    assert output.startswith("ImportError: "), output
    assert LLAMA_INDEX in output


def test_the_client_needs_no_framework() -> None:
    output = _run(
        "langchain_core,langchain,llama_index",
        "import nugen_client, nugen_shared.fields, nugen_shared.requests",
    )
    assert output == "imported"
