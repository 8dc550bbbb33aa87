"""LlamaIndex integration of the Nugen inference API: ``Nugen``, ``NugenMultiModal``,
``NugenEmbedding`` and ``NugenRerank`` (also importable the LlamaIndex way, e.g.
``llama_index.llms.nugen``). The classes load on first use (PEP 562), so importing the
package is cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nugen_shared.lazy import lazy_exports

if TYPE_CHECKING:
    from llama_index_nugen.embeddings import NugenEmbedding
    from llama_index_nugen.llms import Nugen
    from llama_index_nugen.multi_modal import NugenMultiModal
    from llama_index_nugen.rerank import NugenRerank

__all__ = ["Nugen", "NugenEmbedding", "NugenMultiModal", "NugenRerank"]

_LAZY = {
    "Nugen": "llama_index_nugen.llms",
    "NugenEmbedding": "llama_index_nugen.embeddings",
    "NugenMultiModal": "llama_index_nugen.multi_modal",
    "NugenRerank": "llama_index_nugen.rerank",
}

# Hidden from type checkers: a module __getattr__ would make them accept any name.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__, _LAZY, framework=("llama_index",), extra="llama-index"
    )
