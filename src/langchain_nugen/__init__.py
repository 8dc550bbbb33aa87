"""LangChain integration for the Nugen inference API: ``ChatNugen`` and ``NugenEmbeddings``."""

from langchain_nugen.chat_models import ChatNugen
from langchain_nugen.embeddings import NugenEmbeddings
from nugen_client import __version__

__all__ = ["ChatNugen", "NugenEmbeddings", "__version__"]
