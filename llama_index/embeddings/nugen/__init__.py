from llama_index_nugen import NugenEmbedding as NugenEmbedding

__all__ = ["NugenEmbedding"]
