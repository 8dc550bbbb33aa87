from llama_index_nugen import Nugen as Nugen

__all__ = ["Nugen"]
