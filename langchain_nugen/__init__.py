"""LangChain integration for the Nugen inference API: ``ChatNugen``, ``NugenLLM`` (text
completions), ``NugenEmbeddings`` and ``NugenRerank`` (a document compressor). The classes
load on first use (PEP 562), as ``langchain_core``'s own packages do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nugen_shared.lazy import lazy_exports

if TYPE_CHECKING:
    from langchain_nugen.chat_models import ChatNugen
    from langchain_nugen.embeddings import NugenEmbeddings
    from langchain_nugen.llms import NugenLLM
    from langchain_nugen.rerank import NugenRerank
    from nugen_client import __version__

__all__ = ["ChatNugen", "NugenEmbeddings", "NugenLLM", "NugenRerank", "__version__"]

_LAZY = {
    "ChatNugen": "langchain_nugen.chat_models",
    "NugenEmbeddings": "langchain_nugen.embeddings",
    "NugenLLM": "langchain_nugen.llms",
    "NugenRerank": "langchain_nugen.rerank",
    "__version__": "nugen_client",
}

# Hidden from type checkers: a module __getattr__ would make them accept any name.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__, _LAZY, framework=("langchain_core", "langchain"), extra="langchain"
    )
