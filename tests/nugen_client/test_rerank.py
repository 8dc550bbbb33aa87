"""Reranking (``POST /reranker``) and the aligned models list (``GET /models/aligned``)
through both clients: what is sent, the typed answer, local refusals, the answer's
indexes checked, retries and the 402 error."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from nugen_client import (
    APIResponseValidationError,
    AsyncNugenClient,
    InvalidInputError,
    NugenClient,
    PaymentRequiredError,
)
from nugen_client.types import AlignedModel, RerankResponse
from nugen_emulator import NugenEmulator

pytestmark = pytest.mark.emulator

DOCS = [
    "Paris is the capital of France.",
    "Bananas are rich in potassium.",
    "France borders Spain and Italy.",
]
QUERY = "What is the capital of France?"
MODEL = "bge-reranker-v2-m3"


async def _no_wait(seconds: float) -> None:
    return None


def call(emu: NugenEmulator, kind: str, name: str, /, **params: Any) -> Any:
    """``client.<name>(**params)`` on a fresh client of ``kind`` (no retry waits)."""
    options: dict[str, Any] = {"api_key": emu.api_key, "base_url": emu.base_url}
    options["max_retries"] = params.pop("max_retries", 2)
    if kind == "sync":
        with NugenClient(**options, sleep=lambda seconds: None) as client:
            return getattr(client, name)(**params)

    async def run() -> Any:
        async with AsyncNugenClient(**options, sleep=_no_wait) as client:
            return await getattr(client, name)(**params)

    return asyncio.run(run())


def rerank(emu: NugenEmulator, kind: str, **params: Any) -> RerankResponse:
    params.setdefault("model", MODEL)
    params.setdefault("query", QUERY)
    params.setdefault("documents", DOCS)
    result: RerankResponse = call(emu, kind, "rerank", **params)
    return result


def test_rerank_returns_typed_results_in_the_services_order(
    nugen_emulator: NugenEmulator, kind: str
) -> None:
    answer = rerank(nugen_emulator, kind)
    assert [r.index for r in answer.results] == [0, 2, 1]
    assert answer.results[0].relevance_score > answer.results[1].relevance_score
    assert all(r.document is None for r in answer.results)
    assert (answer.meta.method, answer.meta.deployed_model_id) == ("fast", MODEL)
    sent = nugen_emulator.last_request
    assert sent is not None
    assert sent.path.endswith("/reranker")
    assert sent.body == {"model": MODEL, "query": QUERY, "documents": DOCS}


def test_every_documented_field_is_sent_as_given(nugen_emulator: NugenEmulator, kind: str) -> None:
    documents: list[Any] = [{"text": DOCS[1], "id": "b"}, DOCS[0]]
    fields = {
        "top_n": 1,
        "method": "optimal",
        "model_cross": "bge-reranker-large",
        "stage1_top_k": 5,
        "max_tokens_per_doc": 256,
        "batch_size": 8,
        "return_documents": True,
    }
    answer = rerank(
        nugen_emulator,
        kind,
        documents=documents,
        session_id="s-1",
        provider="nugen-infer-align",
        extra_headers={"X-Trace": "t"},
        timeout=30,
        **fields,
    )
    assert [(r.index, r.document) for r in answer.results] == [(1, DOCS[0])]
    assert (answer.meta.model_cross, answer.meta.stage1_top_k) == ("bge-reranker-large", 5)
    sent = nugen_emulator.last_request
    assert sent is not None
    assert sent.body == {"model": MODEL, "query": QUERY, "documents": documents, **fields}
    assert sent.headers["x-session-id"] == "s-1"
    assert sent.headers["x-provider"] == "nugen-infer-align"
    assert sent.headers["x-trace"] == "t"


def test_none_means_not_sent(nugen_emulator: NugenEmulator, kind: str) -> None:
    rerank(nugen_emulator, kind, top_n=None, method=None, return_documents=None)
    sent = nugen_emulator.last_request
    assert sent is not None
    assert set(sent.body) == {"model", "query", "documents"}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"method": "slow"}, "method"),
        ({"method": "standard"}, "model_cross"),
        ({"method": "optimal"}, "model_cross"),
        ({"top_n": 0}, "top_n"),
        ({"stage1_top_k": 0}, "stage1_top_k"),
        ({"max_tokens_per_doc": 0}, "max_tokens_per_doc"),
        ({"batch_size": -1}, "batch_size"),
        ({"query": ""}, "query"),
        ({"documents": []}, "documents"),
        ({"documents": "one text"}, "documents"),
        ({"documents": [3]}, "documents[0]"),
        ({"model": ""}, "model"),
    ],
)
def test_bad_requests_are_refused_before_sending(
    nugen_emulator: NugenEmulator, kind: str, params: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidInputError, match=rf"rerank request: .*{re.escape(named)}") as raised:
        rerank(nugen_emulator, kind, **params)
    assert isinstance(raised.value, ValueError)
    assert nugen_emulator.requests == []


def _replying(results: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    def reply(request: httpx.Request) -> httpx.Response:
        # json.dumps, not httpx's json=: a broken service may send NaN.
        body = json.dumps({"results": results, "meta": {"method": "fast"}})
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return reply


def _with_transport(
    kind: str, handler: Callable[[httpx.Request], httpx.Response], name: str, /, **params: Any
) -> Any:
    base = {"api_key": "k-test", "base_url": "https://nugen.test/api/v3/inference"}
    if kind == "sync":
        client = NugenClient(
            **base, http_client=httpx.Client(transport=httpx.MockTransport(handler))
        )
        return getattr(client, name)(**params)

    async def run() -> Any:
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(transport=transport) as http:
            aclient = AsyncNugenClient(**base, http_client=http)
            result: Awaitable[Any] = getattr(aclient, name)(**params)
            return await result

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("results", "problem"),
    [
        ([{"index": 0, "relevance_score": 0.9}, {"index": 2, "relevance_score": 0.1}], "2 is out"),
        ([{"index": -1, "relevance_score": 0.9}], "-1 is out of range"),
        ([{"index": 1, "relevance_score": 0.9}, {"index": 1, "relevance_score": 0.8}], "repeated"),
        # A score that is not a number cannot be ranked: sorted by it, any order comes out.
        ([{"index": 0, "relevance_score": float("nan")}], "relevance_score"),
        ([{"index": 0, "relevance_score": float("inf")}], "relevance_score"),
    ],
)
def test_result_indexes_and_scores_are_checked(
    kind: str, results: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(APIResponseValidationError, match=problem):
        _with_transport(
            kind, _replying(results), "rerank", model=MODEL, query=QUERY, documents=DOCS[:2]
        )


def test_the_services_order_is_kept(kind: str) -> None:
    # Not re-sorted by score: the service's order is its ranking.
    results = [{"index": 1, "relevance_score": 0.2}, {"index": 0, "relevance_score": 0.7}]
    answer = _with_transport(
        kind, _replying(results), "rerank", model=MODEL, query=QUERY, documents=DOCS[:2]
    )
    assert [r.index for r in answer.results] == [1, 0]


def test_a_host_that_ignores_top_n_still_gives_at_most_top_n(kind: str) -> None:
    # The cookbook posts top_k, not the documented top_n: a host that ignores top_n
    # answers every document, and the caller asked for the best two.
    results = [{"index": i, "relevance_score": 1 - i / 10} for i in range(3)]
    answer = _with_transport(
        kind, _replying(results), "rerank", model=MODEL, query=QUERY, documents=DOCS, top_n=2
    )
    assert [r.index for r in answer.results] == [0, 1]


def test_an_answer_without_results_is_a_validation_error(kind: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"meta": {}})

    with pytest.raises(APIResponseValidationError, match="results"):
        _with_transport(kind, handler, "rerank", model=MODEL, query=QUERY, documents=DOCS)


def test_rerank_is_retried_like_every_call(nugen_emulator: NugenEmulator, kind: str) -> None:
    nugen_emulator.inject(status=503, times=2)
    assert [r.index for r in rerank(nugen_emulator, kind).results] == [0, 2, 1]
    assert len(nugen_emulator.requests) == 3


def test_402_is_payment_required_says_what_to_do_and_is_not_retried(
    nugen_emulator: NugenEmulator, kind: str
) -> None:
    nugen_emulator.inject(status=402)
    with pytest.raises(PaymentRequiredError) as raised:
        rerank(nugen_emulator, kind)
    assert raised.value.status_code == 402
    assert "add credits" in str(raised.value)
    assert len(nugen_emulator.requests) == 1


def test_402_on_chat_too(nugen_emulator: NugenEmulator, kind: str) -> None:
    nugen_emulator.inject(status=402)
    with pytest.raises(PaymentRequiredError, match="402 Payment Required"):
        call(
            nugen_emulator,
            kind,
            "chat_completion",
            model="nugen-flash-instruct",
            messages=[{"role": "user", "content": "hi"}],
        )


def test_list_aligned_models(nugen_emulator: NugenEmulator, kind: str) -> None:
    models = call(nugen_emulator, kind, "list_aligned_models", session_id="s-2")
    assert all(isinstance(m, AlignedModel) for m in models)
    deployed = [m for m in models if m.deployment_status == "DEPLOYED"]
    assert [m.id for m in deployed] == ["contracts-assistant-alignment-01kx06fntz2af3b"]
    assert deployed[0].base_model == "llama-v3p2-3b-reasoning"
    assert deployed[0].endpoint == nugen_emulator.base_url
    assert deployed[0].performance_metrics == {"accuracy": 0.91}
    undeployed = next(m for m in models if m.deployment_status == "UNDEPLOYED")
    assert undeployed.id.startswith("alignment-")
    assert undeployed.endpoint is None
    sent = nugen_emulator.last_request
    assert sent is not None
    assert (sent.method, sent.path) == ("GET", "/api/v3/models/aligned")
    assert sent.raw_body == b""
    assert sent.headers["x-session-id"] == "s-2"
    assert "content-type" not in sent.headers


def test_list_aligned_models_is_a_sibling_of_the_inference_base(kind: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"domain_aligned_models": [{"id": "m", "extra": 1}]})

    models = _with_transport(kind, handler, "list_aligned_models")
    assert str(seen[0].url) == "https://nugen.test/api/v3/models/aligned"
    assert models[0].id == "m"
    assert models[0].model_extra == {"extra": 1}


def test_aligned_models_errors_are_the_clients(nugen_emulator: NugenEmulator, kind: str) -> None:
    nugen_emulator.inject(status=402)
    with pytest.raises(PaymentRequiredError):
        call(nugen_emulator, kind, "list_aligned_models")


def test_a_malformed_aligned_models_answer_is_a_validation_error(kind: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps({"models": []}).encode())

    with pytest.raises(APIResponseValidationError, match="domain_aligned_models"):
        _with_transport(kind, handler, "list_aligned_models")


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://nugen.test", "https://nugen.test/models/aligned"),
        ("https://nugen.test/", "https://nugen.test/models/aligned"),
        ("https://nugen.test:8443/v1", "https://nugen.test:8443/models/aligned"),
    ],
)
def test_aligned_models_of_a_base_url_without_a_path_stay_on_its_host(
    kind: str, base_url: str, expected: str
) -> None:
    # Cutting the base URL's last "/" part off a URL without a path would cut its host
    # off, and the key would go to a host named "models".
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"domain_aligned_models": []})

    options: dict[str, Any] = {"api_key": "k-test", "base_url": base_url}
    if kind == "sync":
        transport = httpx.Client(transport=httpx.MockTransport(handler))
        NugenClient(**options, http_client=transport).list_aligned_models()
    else:

        async def run() -> None:
            async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
                await AsyncNugenClient(**options, http_client=http).list_aligned_models()

        asyncio.run(run())
    assert seen == [expected]
