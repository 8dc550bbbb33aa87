"""LangChain integration for the Nugen inference API: ``ChatNugen``, ``NugenLLM`` (text
completions), ``NugenEmbeddings`` and ``NugenRerank`` (a document compressor).

The classes load on first use (PEP 562), as ``langchain_core``'s own packages do:
``import langchain_nugen`` costs next to nothing, and ``from langchain_nugen import
ChatNugen`` pays for LangChain's ``BaseChatModel`` machinery only then.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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

# Top-level modules of the framework the classes need (the "langchain" extra).
_FRAMEWORK = ("langchain_core", "langchain")


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(import_module(module), name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing.split(".")[0] not in _FRAMEWORK:
            raise
        raise ImportError(
            f"{name} needs {missing}, which is not installed: "
            'pip install "nugen-integrations[langchain]"'
        ) from error
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
