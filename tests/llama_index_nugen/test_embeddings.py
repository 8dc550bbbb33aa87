"""``NugenEmbedding`` over a mocked transport."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import time
from typing import Any

import httpx
import pytest
import respx
from llama_index.core.callbacks import (
    CallbackManager,
    CBEventType,
    LlamaDebugHandler,
    TokenCountingHandler,
)
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.embedding import EmbeddingEndEvent

from llama_index.embeddings.nugen import NugenEmbedding as AliasedNugenEmbedding
from llama_index_nugen import NugenEmbedding
from nugen_client import AuthenticationError, InvalidInputError
from nugen_emulator import NugenEmulator
from tests.support.llama_index_wire import API_KEY, BASE_URL


def vector(text: str) -> list[float]:
    return [float(len(text)), float(sum(map(ord, text)) % 97)]


def embeddings_api(api: respx.MockRouter) -> respx.Route:
    """Answers with the data in reverse order: the index, not the list order, counts."""

    def answer(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        texts = [texts] if isinstance(texts, str) else texts
        data = [{"index": i, "embedding": vector(t)} for i, t in enumerate(texts)][::-1]
        return httpx.Response(200, json={"data": data, "model": "m", "usage": {"total_tokens": 1}})

    return api.post("/embeddings").mock(side_effect=answer)


@pytest.fixture
def embed() -> NugenEmbedding:
    return NugenEmbedding(api_key=API_KEY, base_url=BASE_URL, embed_batch_size=2, max_retries=0)


def test_batches_of_embed_batch_size_in_order(api: respx.MockRouter, embed: NugenEmbedding) -> None:
    route = embeddings_api(api)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    assert embed.get_text_embedding_batch(texts) == [vector(t) for t in texts]
    # Batches are sent concurrently: any arrival order, the vectors still in input order.
    assert sorted(json.loads(c.request.content)["input"] for c in route.calls) == [
        ["a", "bb"],
        ["ccc", "dddd"],
        ["eeeee"],
    ]
    assert all(json.loads(c.request.content)["model"] == "nugen-flash-embed" for c in route.calls)


def test_query_and_text_embeddings(api: respx.MockRouter, embed: NugenEmbedding) -> None:
    embeddings_api(api)
    assert embed.get_query_embedding("what?") == vector("what?")
    assert embed.get_text_embedding("text") == vector("text")


async def test_async(api: respx.MockRouter, embed: NugenEmbedding) -> None:
    route = embeddings_api(api)
    texts = ["a", "bb", "ccc"]
    assert await embed.aget_text_embedding_batch(texts) == [vector(t) for t in texts]
    assert await embed.aget_query_embedding("q") == vector("q")
    assert await embed.aget_text_embedding("t") == vector("t")
    assert route.call_count == 4


def test_fields_reach_the_request(api: respx.MockRouter) -> None:
    route = embeddings_api(api)
    embed = NugenEmbedding(
        model="nugen-embed-legal",
        dimensions=256,
        api_key=API_KEY,
        base_url=BASE_URL,
        session_id="s1",
        provider="fwai",
        additional_kwargs={"encoding_format": "float"},
    )
    embed.get_query_embedding("q")
    request = route.calls.last.request
    assert json.loads(request.content) == {
        "model": "nugen-embed-legal",
        "input": ["q"],
        "dimensions": 256,
        "encoding_format": "float",
    }
    assert request.headers["x-session-id"] == "s1"
    assert request.headers["x-provider"] == "fwai"
    assert embed.model == embed.model_name == "nugen-embed-legal"


def test_errors(api: respx.MockRouter, embed: NugenEmbedding) -> None:
    route = api.post("/embeddings").mock(return_value=httpx.Response(401, json={"detail": "nope"}))
    with pytest.raises(AuthenticationError):
        embed.get_query_embedding("q")
    with pytest.raises(InvalidInputError, match="NUGEN_API_KEY"):
        NugenEmbedding(base_url=BASE_URL).get_query_embedding("q")
    assert route.call_count == 1


def test_serialisation_pickle_and_copy(api: respx.MockRouter, embed: NugenEmbedding) -> None:
    embeddings_api(api)
    embed.get_query_embedding("q")
    assert API_KEY not in embed.to_json() + repr(embed.to_dict()) + repr(embed)
    for clone in (pickle.loads(pickle.dumps(embed)), copy.deepcopy(embed)):
        assert clone.get_query_embedding("q") == vector("q")
    restored = NugenEmbedding.from_json(embed.to_json(), api_key=API_KEY)
    assert restored.model_name == embed.model_name
    assert restored.embed_batch_size == 2
    assert AliasedNugenEmbedding is NugenEmbedding


@pytest.mark.parametrize("text", [None, 5])
def test_a_text_that_is_not_a_string_is_refused_naming_its_type(
    api: respx.MockRouter, embed: NugenEmbedding, text: object
) -> None:
    named = "None" if text is None else type(text).__name__
    with pytest.raises(InvalidInputError, match=rf"input\[1\] is {named}, not a string"):
        embed.get_text_embedding_batch(["owls", text])  # type: ignore[list-item]
    assert not api.calls


def test_one_string_in_place_of_the_list_is_refused(
    api: respx.MockRouter, embed: NugenEmbedding
) -> None:
    with pytest.raises(InvalidInputError, match="list of strings"):
        embed.get_text_embedding_batch("owls hunt at night")  # type: ignore[arg-type]
    assert not api.calls


class _Limiter:
    """A rate limiter that never waits: it only sends the batches through LlamaIndex's loop."""

    def acquire(self, num_tokens: int = 1) -> None:
        pass

    async def async_acquire(self, num_tokens: int = 1) -> None:
        pass


async def test_llama_index_s_own_loop_checks_every_text_before_the_first_batch(
    api: respx.MockRouter,
) -> None:
    # With a rate limiter, LlamaIndex's loop sends batch by batch: an empty text in a later
    # batch must still be refused before anything is sent, named by its place in the call.
    embed = NugenEmbedding(
        api_key=API_KEY, base_url=BASE_URL, embed_batch_size=2, rate_limiter=_Limiter()
    )
    embeddings_api(api)
    texts = ["a", "bb", "ccc", "dddd", ""]
    with pytest.raises(InvalidInputError, match=r"input\[4\] is an empty string"):
        embed.get_text_embedding_batch(texts)
    with pytest.raises(InvalidInputError, match=r"input\[4\] is an empty string"):
        await embed.aget_text_embedding_batch(texts)
    with pytest.raises(InvalidInputError, match="list of strings"):
        embed.get_text_embedding_batch("owls hunt at night")  # type: ignore[arg-type]
    assert not api.calls
    assert embed.get_text_embedding_batch(texts[:4]) == [vector(t) for t in texts[:4]]


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_num_workers_bounds_the_batches_in_flight(run_async: bool) -> None:
    # LlamaIndex's own field for concurrent batches (OpenAIEmbedding honours it): a user
    # who lowers it to spare the service must not get max_concurrency requests at once.
    with NugenEmulator(latency=(0.2, 0.0), seed=0) as emu:
        embed = NugenEmbedding(
            api_key=emu.api_key, base_url=emu.base_url, embed_batch_size=1, num_workers=2
        )
        texts = ["a", "bb", "ccc", "dddd"]
        started = time.perf_counter()
        if run_async:
            vectors = asyncio.run(embed.aget_text_embedding_batch(texts))
        else:
            vectors = embed.get_text_embedding_batch(texts)
        elapsed = time.perf_counter() - started
    assert len(vectors) == 4
    assert elapsed >= 0.4, f"4 batches of 0.2 s, 2 at a time, took {elapsed:.2f} s"


class _EmbeddingEnds(BaseEventHandler):
    seen: list[EmbeddingEndEvent] = []

    @classmethod
    def class_name(cls) -> str:
        return "_EmbeddingEnds"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, EmbeddingEndEvent):
            self.seen.append(event)


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_each_batch_emits_llama_index_s_embedding_events(
    nugen_emulator: NugenEmulator, run_async: bool
) -> None:
    # Batches run concurrently outside LlamaIndex's own loop: each must still emit its
    # events, which TokenCountingHandler reads for the embedding token count.
    debug, tokens = LlamaDebugHandler(), TokenCountingHandler()
    embed = NugenEmbedding(
        api_key=nugen_emulator.api_key,
        base_url=nugen_emulator.base_url,
        embed_batch_size=2,
        callback_manager=CallbackManager([debug, tokens]),
    )
    ends = _EmbeddingEnds(seen=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(ends)
    texts = ["owls hunt", "at night", "bats too", "moths fly", "by the moon"]
    try:
        if run_async:
            asyncio.run(embed.aget_text_embedding_batch(texts))
        else:
            embed.get_text_embedding_batch(texts)
    finally:
        dispatcher.event_handlers.remove(ends)
    batches = sorted([texts[0:2], texts[2:4], texts[4:]])
    pairs = debug.get_event_pairs(CBEventType.EMBEDDING)
    assert sorted(end.payload["chunks"] for _, end in pairs if end.payload) == batches
    assert sorted(event.chunks for event in ends.seen) == batches
    assert tokens.total_embedding_token_count > 0
