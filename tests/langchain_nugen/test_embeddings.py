"""NugenEmbeddings over a mocked transport: batching, order, dimensions, errors."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from langchain_core.exceptions import ModelInvalidRequestError, ModelRateLimitError

import nugen_client
from langchain_nugen import NugenEmbeddings

URL = "https://api.nugen.in/api/v3/inference/embeddings"


def vector_of(text: str) -> list[float]:
    return [float(len(text)), float(sum(map(ord, text)) % 97)]


def embeddings_reply(request: httpx.Request) -> httpx.Response:
    """Answers in reverse list order, with the real index on each item, like some hosts."""
    body = json.loads(request.content)
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [{"index": i, "embedding": vector_of(t)} for i, t in enumerate(texts)]
    return httpx.Response(
        200,
        json={"data": data[::-1], "model": body["model"], "usage": {"total_tokens": len(texts)}},
    )


@pytest.fixture
def route() -> Iterator[respx.Route]:
    with respx.mock(assert_all_called=False) as router:
        yield router.post(URL).mock(side_effect=embeddings_reply)


def sent(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def test_documents_are_batched_and_kept_in_order(route: respx.Route) -> None:
    texts = [f"text number {i}" for i in range(7)]
    vectors = NugenEmbeddings(api_key="k", chunk_size=3).embed_documents(texts)
    assert vectors == [vector_of(t) for t in texts]
    # Batches are sent concurrently: any arrival order, the vectors still in input order.
    assert sorted(body["input"] for body in sent(route)) == [texts[0:3], texts[3:6], texts[6:7]]
    assert all(body["model"] == "nugen-flash-embed" for body in sent(route))
    assert "dimensions" not in sent(route)[0]


def test_chunk_size_per_call_as_openai_embeddings_takes_it(route: respx.Route) -> None:
    texts = [f"text number {i}" for i in range(5)]
    embeddings = NugenEmbeddings(api_key="k", chunk_size=3)
    assert embeddings.embed_documents(texts, chunk_size=2) == [vector_of(t) for t in texts]
    assert asyncio.run(embeddings.aembed_documents(texts, chunk_size=4)) == [
        vector_of(t) for t in texts
    ]
    assert sorted(len(body["input"]) for body in sent(route)) == [1, 1, 2, 2, 4]
    with pytest.raises(ValueError, match="chunk_size"):
        embeddings.embed_documents(texts, chunk_size=-1)


@pytest.mark.parametrize("chunk_size", ["2", 2.5, True, 0])
def test_a_chunk_size_that_is_not_a_whole_number_of_texts_is_refused(
    route: respx.Route, chunk_size: Any
) -> None:
    """Refused by name, as the field is, not a bare TypeError (or, for True, batches of 1)."""
    embeddings = NugenEmbeddings(api_key="k")
    with pytest.raises(ValueError, match="chunk_size"):
        embeddings.embed_documents(["a", "b"], chunk_size=chunk_size)
    with pytest.raises(ValueError, match="chunk_size"):
        asyncio.run(embeddings.aembed_documents(["a", "b"], chunk_size=chunk_size))
    assert not route.called


def test_query_dimensions_and_raw_strings(route: respx.Route) -> None:
    text = "  raw text, not tokenised  \n"
    vector = NugenEmbeddings(api_key="k", model="nugen-embed-legal", dimensions=2).embed_query(text)
    assert vector == vector_of(text)
    assert sent(route) == [{"model": "nugen-embed-legal", "input": [text], "dimensions": 2}]
    assert "transformers" not in sys.modules


def test_no_texts_no_request(route: respx.Route) -> None:
    assert NugenEmbeddings(api_key="k").embed_documents([]) == []
    assert not route.called


async def test_async_batches_in_order(route: respx.Route) -> None:
    texts = [f"t{i}" for i in range(10)]
    model = NugenEmbeddings(api_key="k", chunk_size=2, max_concurrency=2)
    assert await model.aembed_documents(texts) == [vector_of(t) for t in texts]
    assert await model.aembed_query("q") == vector_of("q")
    assert route.call_count == 6


def test_errors_are_dual_classes() -> None:
    with respx.mock:
        respx.post(URL).respond(429, json={"detail": "slow down"})
        with pytest.raises(nugen_client.RateLimitError) as raised:
            NugenEmbeddings(api_key="k", max_retries=0).embed_query("x")
    assert isinstance(raised.value, ModelRateLimitError)
    insecure = NugenEmbeddings(api_key="k", base_url="http://example.com/v1")
    for embed in (
        lambda: insecure.embed_documents(["x"]),
        lambda: asyncio.run(insecure.aembed_documents(["x"])),
    ):
        with pytest.raises(nugen_client.InvalidInputError, match="plain http") as refused:
            embed()
        assert isinstance(refused.value, ModelInvalidRequestError)


def test_headers_and_extra_body(route: respx.Route) -> None:
    NugenEmbeddings(
        api_key="k",
        session_id="s1",
        provider="fwai",
        default_headers={"X-A": "1"},
        model_kwargs={"encoding_format": "float"},
    ).embed_query("x")
    request = route.calls.last.request
    assert request.headers["x-session-id"] == "s1"
    assert request.headers["x-provider"] == "fwai"
    assert request.headers["x-a"] == "1"
    assert json.loads(request.content)["encoding_format"] == "float"


async def test_call_keywords_as_openai_embeddings_takes_them(route: respx.Route) -> None:
    """OpenAIEmbeddings passes other keywords to the request: so do we, as ChatNugen's call
    keywords (over the fields and model_kwargs), not a bare TypeError."""
    model = NugenEmbeddings(api_key="k", dimensions=2, model_kwargs={"user": "a", "x": 1})
    model.embed_query("q", dimensions=3, session_id="s1", user="b")
    assert sent(route)[-1] == {
        "model": "nugen-flash-embed",
        "input": ["q"],
        "dimensions": 3,
        "user": "b",
        "x": 1,
    }
    assert route.calls.last.request.headers["x-session-id"] == "s1"
    await model.aembed_query("q", model="nugen-embed-legal")
    await model.aembed_documents(["a", "b"], chunk_size=1, model="nugen-embed-legal")
    model.embed_documents(["a"], model="nugen-embed-legal")
    assert [body["model"] for body in sent(route)[1:]] == ["nugen-embed-legal"] * 4
    calls = route.call_count
    for name, why in (("input", "first argument"), ("on_retry", "is not a keyword")):
        with pytest.raises(nugen_client.InvalidInputError, match=f"{name}= .*{why}"):
            model.embed_query("q", **{name: ["zebra"]})
    with pytest.raises(nugen_client.InvalidInputError, match="'apikey' is not a parameter"):
        await model.aembed_query("q", apikey="sk-secret")
    assert route.call_count == calls


def test_call_keywords_follow_the_chat_rules(route: respx.Route) -> None:
    """A call's extra_body adds to model_kwargs, as ChatNugen's does, and a near miss of a
    keyword is refused rather than sent as a body field the service ignores."""
    model = NugenEmbeddings(api_key="k", model_kwargs={"user": "a"})
    model.embed_query("q", extra_body={"x": 1})
    assert sent(route)[-1] == {"model": "nugen-flash-embed", "input": ["q"], "user": "a", "x": 1}
    calls = route.call_count
    with pytest.raises(nugen_client.InvalidInputError, match="did you mean 'dimensions'"):
        model.embed_query("q", dimension=8)
    assert route.call_count == calls


def test_pickle_and_deepcopy_after_use(route: respx.Route) -> None:
    model = NugenEmbeddings(api_key="k")
    model.embed_query("warm up")
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert clone == model
        assert clone.embed_query("x") == vector_of("x")


def test_unknown_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="chunksize"):
        NugenEmbeddings(api_key="k", chunksize=3)  # type: ignore[call-arg]


async def test_a_string_or_non_strings_in_place_of_texts_are_refused(route: respx.Route) -> None:
    model = NugenEmbeddings(api_key="k")
    with pytest.raises(nugen_client.InvalidInputError, match=r"a list of strings, not one str"):
        model.embed_documents("one text")  # type: ignore[arg-type]
    with pytest.raises(nugen_client.InvalidInputError, match=r"a list of strings, not one str"):
        await model.aembed_documents("one text")  # type: ignore[arg-type]
    # An empty one too, not taken for an empty list (which has no vectors).
    with pytest.raises(nugen_client.InvalidInputError, match=r"not one str"):
        model.embed_documents("")  # type: ignore[arg-type]
    with pytest.raises(nugen_client.InvalidInputError, match=r"not one str"):
        await model.aembed_documents("")  # type: ignore[arg-type]
    with pytest.raises(nugen_client.InvalidInputError, match=r"input\[1\] is None, not a string"):
        model.embed_documents(["ok", None])  # type: ignore[list-item]
    assert not route.called
