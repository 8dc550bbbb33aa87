"""LlamaIndex integration of the Nugen inference API.

``Nugen`` (a ``FunctionCallingLLM``), ``NugenMultiModal`` (a ``MultiModalLLM``) and
``NugenEmbedding`` (a ``BaseEmbedding``), over the shared ``nugen_client``. Also importable
the LlamaIndex way: ``llama_index.llms.nugen``, ``llama_index.multi_modal_llms.nugen``,
``llama_index.embeddings.nugen``. Errors are ``nugen_client``'s classes.
"""

from llama_index_nugen.embeddings import NugenEmbedding
from llama_index_nugen.llms import Nugen
from llama_index_nugen.multi_modal import NugenMultiModal

__all__ = ["Nugen", "NugenEmbedding", "NugenMultiModal"]
