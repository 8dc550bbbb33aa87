from llama_index_nugen import NugenMultiModal as NugenMultiModal

__all__ = ["NugenMultiModal"]
