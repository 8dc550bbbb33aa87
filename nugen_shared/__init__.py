"""What the LangChain and LlamaIndex adapters share, written once and framework-free (it
imports only ``nugen_client``; docs/how-it-is-built.md lists its modules). The adapters'
half, not an API for applications: its names may change between releases."""
