"""Ray Data: embed a corpus on a cluster's workers, each holding a NugenEmbeddings.

Reach for this when one machine is not enough: the texts come from files or tables Ray
Data reads in parallel, the vectors go on to a vector store or Parquet, and the work
spreads over many processes or machines. On one machine, ``embed_documents`` alone
already keeps ``max_concurrency`` requests in flight (see docs/embeddings-and-reranking.md).

``map_batches`` gets a class: Ray builds it once per worker (an actor) with the
``NugenEmbeddings`` it was given, sent there by pickle, and a pickle carries the API key,
so the workers authenticate as this process does and need no ``NUGEN_API_KEY`` of their
own. Runs on a local Ray with 2 CPUs (``ray.init(address=...)`` joins a real cluster).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import ray

from langchain_nugen import NugenEmbeddings

TEXTS = 2000


class Embedder:
    """One per Ray worker; embeds the batches Ray Data hands it."""

    def __init__(self, embeddings: NugenEmbeddings) -> None:
        self.embeddings = embeddings

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        vectors = self.embeddings.embed_documents([str(text) for text in batch["text"]])
        return {"id": batch["id"], "embedding": np.asarray(vectors, dtype=np.float32)}


def main() -> None:
    embeddings = NugenEmbeddings(model="nugen-flash-embed")  # key and URL from the env
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        # The workers' own environment has no key: theirs comes with the pickled model.
        runtime_env={"env_vars": {"NUGEN_API_KEY": ""}},
    )
    try:
        corpus = ray.data.from_items(
            [{"id": i, "text": f"passage {i}: notes on clause {i % 97}"} for i in range(TEXTS)]
        )
        started = time.perf_counter()
        rows = corpus.map_batches(
            Embedder,
            fn_constructor_kwargs={"embeddings": embeddings},
            batch_size=500,
            compute=ray.data.ActorPoolStrategy(size=2),  # two workers, each one Embedder
            num_cpus=0.5,  # leave a CPU for reading the data
        ).take_all()
        elapsed = time.perf_counter() - started
    finally:
        ray.shutdown()
    rows.sort(key=lambda row: int(row["id"]))
    print(f"embedded {len(rows)} texts on 2 Ray workers in {elapsed:.1f} s")
    print(f"vector size: {len(rows[0]['embedding'])}")
    # Ray Data may reorder batches; the ids put every vector back with its text.
    check = embeddings.embed_query("passage 1234: notes on clause 70")
    same = np.allclose(rows[1234]["embedding"], np.asarray(check, dtype=np.float32))
    print(f"row 1234 matches a direct embed_query: {same}")


if __name__ == "__main__":
    main()
