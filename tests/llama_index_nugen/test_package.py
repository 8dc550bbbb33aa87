"""Import-time behaviour, checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import llama_index_nugen
from llama_index.llms.nugen import Nugen
from llama_index.multi_modal_llms.nugen import NugenMultiModal
from llama_index.embeddings.nugen import NugenEmbedding
from llama_index.postprocessor.nugen_rerank import NugenRerank
import llama_index.llms.openai  # another integration in the same namespace still imports

assert Nugen is llama_index_nugen.Nugen
assert NugenMultiModal is llama_index_nugen.NugenMultiModal
assert NugenEmbedding is llama_index_nugen.NugenEmbedding
assert NugenRerank is llama_index_nugen.NugenRerank
loaded = [m for m in sys.modules if m == "langchain" or m.startswith(("langchain.", "langchain_"))]
assert not loaded, loaded
print("ok")
"""


def test_import_needs_no_langchain_and_the_aliases_share_the_namespace() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
