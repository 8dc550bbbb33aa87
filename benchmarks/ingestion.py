"""The ingestion scenario of ``bench.py``: wall time to embed a corpus, defaults only.

An emulator with a service-like latency (25 ms per request + 0.2 ms per text, answered
concurrently) in its own process; on it, interleaved round after round: our four default
paths, the classes users would pick instead (``OpenAIEmbedding``, ``OpenAIEmbeddings``)
on the same server, and the floor: raw httpx sending every batch of our default size at
once and decoding the JSON (what the service allows, minus any adapter). Medians of
``time.perf_counter`` per side (NOTES.md, 18).
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _spawn import ServerProcess

HERE = Path(__file__).resolve().parent
LATENCY = (0.025, 0.0002)
# Short vectors: producing and encoding 384-float vectors costs the emulator (one Python
# thread) far more than the latency it models, and every side would measure that instead
# of its scheduling (NOTES.md, 18).
DIMENSIONS = 16
API_KEY = "bench-key"
PEER_MODEL = "text-embedding-3-small"


def corpus(size: int) -> list[str]:
    """Chunk-sized texts, all different (about 60 words each)."""
    words = ["the", "parties", "agree", "that", "notice", "shall", "be", "given", "in"]
    return [
        f"chunk {i}: " + " ".join(words[(i + j) % len(words)] for j in range(60))
        for i in range(size)
    ]


class LatencyServer(ServerProcess):
    """A latency emulator (openai dialect, as the peers expect) in a child process."""

    def __init__(self) -> None:
        super().__init__(
            {
                "embed": {
                    "text": "unused",
                    "latency": list(LATENCY),
                    "embedding_dimensions": DIMENSIONS,
                }
            }
        )
        self.url = self.urls["embed"]


def floor_side(url: str, texts: list[str], batch_size: int) -> Callable[[], Any]:
    """Every batch at once over raw httpx, JSON decoded: the service-bound floor."""
    batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    headers = {"Authorization": f"Bearer {API_KEY}"}
    limits = httpx.Limits(max_connections=len(batches), max_keepalive_connections=len(batches))

    async def run() -> list[list[float]]:
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:

            async def one(batch: list[str]) -> list[list[float]]:
                body = {"model": "nugen-flash-embed", "input": batch}
                response = await http.post(f"{url}/embeddings", json=body, headers=headers)
                return [item["embedding"] for item in json.loads(response.content)["data"]]

            results = await asyncio.gather(*(one(batch) for batch in batches))
        return [vector for result in results for vector in result]

    return lambda: asyncio.run(run())


def sides(url: str, texts: list[str]) -> dict[str, Callable[[], Any]]:
    from langchain_openai import OpenAIEmbeddings
    from llama_index.embeddings.openai import OpenAIEmbedding

    from langchain_nugen import NugenEmbeddings
    from llama_index_nugen import NugenEmbedding
    from nugen_shared.embeddings import DEFAULT_BATCH_SIZE

    ours_li = NugenEmbedding(api_key=API_KEY, base_url=url)
    ours_lc = NugenEmbeddings(api_key=API_KEY, base_url=url)
    peer_li = OpenAIEmbedding(api_key=API_KEY, api_base=url, model_name=PEER_MODEL)
    # check_embedding_ctx_length=False: otherwise it tokenises with tiktoken (a download,
    # impossible offline) and sends token ids, which this service does not take.
    peer_lc = OpenAIEmbeddings(
        api_key=API_KEY, base_url=url, model=PEER_MODEL, check_embedding_ctx_length=False
    )
    return {
        "NugenEmbedding.get_text_embedding_batch": lambda: ours_li.get_text_embedding_batch(texts),
        "OpenAIEmbedding.get_text_embedding_batch": lambda: peer_li.get_text_embedding_batch(texts),
        "NugenEmbedding.aget_text_embedding_batch": lambda: asyncio.run(
            ours_li.aget_text_embedding_batch(texts)
        ),
        "OpenAIEmbedding.aget_text_embedding_batch": lambda: asyncio.run(
            peer_li.aget_text_embedding_batch(texts)
        ),
        "NugenEmbeddings.embed_documents": lambda: ours_lc.embed_documents(texts),
        "OpenAIEmbeddings.embed_documents": lambda: peer_lc.embed_documents(texts),
        "NugenEmbeddings.aembed_documents": lambda: asyncio.run(ours_lc.aembed_documents(texts)),
        "OpenAIEmbeddings.aembed_documents": lambda: asyncio.run(peer_lc.aembed_documents(texts)),
        "floor": floor_side(url, texts, DEFAULT_BATCH_SIZE),
    }


PAIRS = [
    ("NugenEmbedding.get_text_embedding_batch", "OpenAIEmbedding.get_text_embedding_batch"),
    ("NugenEmbedding.aget_text_embedding_batch", "OpenAIEmbedding.aget_text_embedding_batch"),
    ("NugenEmbeddings.embed_documents", "OpenAIEmbeddings.embed_documents"),
    ("NugenEmbeddings.aembed_documents", "OpenAIEmbeddings.aembed_documents"),
]


def ingestion(texts: int, rounds: int) -> dict[str, Any]:
    """Median wall seconds per side, and each of our paths against its peer and the floor."""
    print(f"Ingestion: {texts} texts, latency {LATENCY}, {rounds} rounds", flush=True)
    server = LatencyServer()
    try:
        chunks = corpus(texts)
        runs = sides(server.url, chunks)
        expected = len(chunks)
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for name, fn in runs.items():  # warm-up, and every side returns every vector
            got = fn()
            if len(got) != expected:
                raise AssertionError(f"{name} returned {len(got)} vectors for {expected} texts")
        for _ in range(rounds):
            for name, fn in runs.items():
                gc.collect()
                started = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - started)
    finally:
        server.close()
    seconds = {name: round(statistics.median(values), 4) for name, values in samples.items()}
    for name, value in seconds.items():
        print(f"  {value:7.3f} s  {name}", flush=True)
    ratios: dict[str, float] = {}
    for ours, peer in PAIRS:
        ratios[f"{ours} / {peer} (wall)"] = round(seconds[ours] / seconds[peer], 4)
        ratios[f"{ours} / floor (wall)"] = round(seconds[ours] / seconds["floor"], 4)
    return {"texts": texts, "latency": list(LATENCY), "seconds": seconds, "ratios": ratios}


if __name__ == "__main__":
    sys.path.insert(1, str(HERE.parent))
    result = ingestion(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, 5)
    for key, value in result["ratios"].items():
        print(f"  {value:6.2f}  {key}")
