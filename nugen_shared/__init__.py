"""What the LangChain and LlamaIndex adapters share, written once: framework-free.

- :mod:`nugen_shared.fields`: the connection fields of every adapter class, and the
  client cache of a model object;
- :mod:`nugen_shared.requests`: how a request is built from fields and call keywords;
- :mod:`nugen_shared.images`: images in any local form as ``image_url`` parts;
- :mod:`nugen_shared.embeddings`: concurrent, in-order embedding batches;
- :mod:`nugen_shared.models`: what is known of Nugen's models.

It imports ``nugen_client`` and no framework; ``nugen_client`` never imports it. It is
the adapters' half, not an API for applications: its names may change between releases.
"""
