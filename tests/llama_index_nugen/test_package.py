"""Import-time behaviour, checked in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
import llama_index_nugen
from llama_index.llms.nugen import Nugen
from llama_index.multi_modal_llms.nugen import NugenMultiModal
from llama_index.embeddings.nugen import NugenEmbedding
from llama_index.postprocessor.nugen_rerank import NugenRerank
import llama_index.llms.peer  # another integration in the same namespace still imports

assert Nugen is llama_index_nugen.Nugen
assert NugenMultiModal is llama_index_nugen.NugenMultiModal
assert NugenEmbedding is llama_index_nugen.NugenEmbedding
assert NugenRerank is llama_index_nugen.NugenRerank
loaded = [m for m in sys.modules if m == "langchain" or m.startswith(("langchain.", "langchain_"))]
assert not loaded, loaded
print("ok")
"""


def test_import_needs_no_langchain_and_the_aliases_share_the_namespace(tmp_path: Path) -> None:
    # Another integration, installed elsewhere on the path, in the same namespace packages.
    peer = tmp_path / "llama_index" / "llms" / "peer"
    peer.mkdir(parents=True)
    (peer / "__init__.py").write_text("")
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
