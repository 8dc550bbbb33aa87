"""``NugenEmbedding`` end to end (replayed from cassettes)."""

from __future__ import annotations

import math
from typing import Any

from tests.conftest import NugenTarget
from tests.support.llama_index import embedding, sent_bodies


def test_batches_keep_order_and_identical_texts_match(nugen_target: NugenTarget, vcr: Any) -> None:
    model = embedding(nugen_target, embed_batch_size=2)
    texts = ["alpha", "beta", "gamma", "alpha", "delta"]
    vectors = model.get_text_embedding_batch(texts)
    assert len(vectors) == 5
    assert all(len(v) == 384 for v in vectors)
    assert vectors[0] == vectors[3]  # the emulator hashes the text: same text, same vector
    assert vectors[0] != vectors[1]
    assert math.isclose(sum(x * x for x in vectors[2]), 1.0, rel_tol=1e-6)
    assert model.get_query_embedding("gamma") == vectors[2]
    # The three batches are in flight at once, so they reach the service in any order;
    # the query comes after them.
    *batches, query = [body["input"] for body in sent_bodies(nugen_target, vcr)]
    assert sorted(batches) == [["alpha", "beta"], ["delta"], ["gamma", "alpha"]]
    assert query == ["gamma"]


async def test_async_and_dimensions(nugen_target: NugenTarget) -> None:
    model = embedding(nugen_target, model="nugen-embed-legal", dimensions=64)
    vectors = await model.aget_text_embedding_batch(["one", "two", "three"])
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert await model.aget_query_embedding("two") == vectors[1]
    assert await model.aget_text_embedding("three") == vectors[2]
