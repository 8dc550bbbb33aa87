"""LlamaIndex integration of the Nugen inference API.

``Nugen`` (a ``FunctionCallingLLM``), ``NugenMultiModal`` (a ``MultiModalLLM``),
``NugenEmbedding`` (a ``BaseEmbedding``) and ``NugenRerank`` (a ``BaseNodePostprocessor``),
over the shared ``nugen_client``. Also importable the LlamaIndex way:
``llama_index.llms.nugen``, ``llama_index.multi_modal_llms.nugen``,
``llama_index.embeddings.nugen``, ``llama_index.postprocessor.nugen_rerank``. Errors are
``nugen_client``'s classes.

The classes load on first use (PEP 562): ``import llama_index_nugen`` is cheap, and each
class pays only for the parts of LlamaIndex it needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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

# Top-level modules of the framework the classes need (the "llama-index" extra).
_FRAMEWORK = ("llama_index",)


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
            'pip install "nugen-integrations[llama-index]"'
        ) from error
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
