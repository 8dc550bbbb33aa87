from llama_index_nugen import NugenRerank as NugenRerank

__all__ = ["NugenRerank"]
