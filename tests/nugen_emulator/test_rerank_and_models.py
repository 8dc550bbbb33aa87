"""/reranker, GET /models/aligned, and the /completions details the rerank work relies on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nugen_emulator import NugenEmulator

DOCS = [
    "Paris is the capital of France.",
    "Bananas are rich in potassium.",
    "France borders Spain and Italy.",
]
QUERY = "What is the capital of France?"


def _rerank(client: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("model", "bge-reranker-v2-m3")
    body.setdefault("query", QUERY)
    body.setdefault("documents", DOCS)
    reply = client.post("/reranker", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    result: dict[str, Any] = reply.json()
    return result


def test_rerank_ranks_documents_sharing_the_query_words_first(http: httpx.Client) -> None:
    reply = _rerank(http)
    assert [r["index"] for r in reply["results"]] == [0, 2, 1]
    scores = [r["relevance_score"] for r in reply["results"]]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1] > scores[2] == 0.0
    assert all("document" not in r for r in reply["results"])
    assert reply["meta"] == {"method": "fast", "deployed_model_id": "bge-reranker-v2-m3"}
    assert _rerank(http) == reply  # deterministic


def test_rerank_top_n_and_return_documents(http: httpx.Client) -> None:
    documents = [{"text": DOCS[1], "id": "b"}, DOCS[0], {"title": "France", "id": "c"}]
    reply = _rerank(http, documents=documents, top_n=2, return_documents=True)
    assert [(r["index"], r["document"]) for r in reply["results"]] == [
        (1, DOCS[0]),
        (2, {"title": "France", "id": "c"}),
    ]


def test_rerank_meta_follows_the_method(http: httpx.Client) -> None:
    cross = "bge-reranker-large"
    assert _rerank(http, method="standard", model_cross=cross)["meta"] == {
        "method": "standard",
        "deployed_model_id": "bge-reranker-v2-m3",
        "model_cross": cross,
    }
    optimal = _rerank(http, method="optimal", model_cross=cross, stage1_top_k=5)["meta"]
    assert (optimal["model_cross"], optimal["stage1_top_k"]) == (cross, 5)
    assert _rerank(http, method="best")["meta"]["method"] == "best"


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"query": QUERY, "documents": DOCS}, ["body", "model"], "missing"),
        ({"model": "r", "documents": DOCS}, ["body", "query"], "missing"),
        ({"model": "r", "query": QUERY}, ["body", "documents"], "missing"),
        ({"model": "r", "query": QUERY, "documents": "x"}, ["body", "documents"], "list_type"),
        ({"model": "r", "query": QUERY, "documents": [3]}, ["body", "documents", 0], "string_type"),
        ({"model": "r", "query": 5, "documents": DOCS}, ["body", "query"], "string_type"),
        (
            {"model": "r", "query": QUERY, "documents": DOCS, "method": "slow"},
            ["body", "method"],
            "literal_error",
        ),
        (
            {"model": "r", "query": QUERY, "documents": DOCS, "method": "standard"},
            ["body", "model_cross"],
            "value_error",
        ),
        (
            {"model": "r", "query": QUERY, "documents": DOCS, "method": "optimal"},
            ["body", "model_cross"],
            "value_error",
        ),
        (
            {"model": "r", "query": QUERY, "documents": DOCS, "top_n": 0},
            ["body", "top_n"],
            "greater_than_equal",
        ),
        (
            {"model": "r", "query": QUERY, "documents": DOCS, "stage1_top_k": 0},
            ["body", "stage1_top_k"],
            "greater_than_equal",
        ),
        (
            {"model": "r", "query": QUERY, "documents": DOCS, "max_tokens_per_doc": 0},
            ["body", "max_tokens_per_doc"],
            "greater_than_equal",
        ),
        (
            {"model": "r", "query": QUERY, "documents": DOCS, "batch_size": "many"},
            ["body", "batch_size"],
            "int_parsing",
        ),
        (
            {"model": "r", "query": QUERY, "documents": DOCS, "return_documents": "maybe"},
            ["body", "return_documents"],
            "bool_parsing",
        ),
    ],
)
def test_rerank_validation(http: httpx.Client, body: Any, loc: list[Any], kind: str) -> None:
    reply = http.post("/reranker", json=body)
    assert reply.status_code == 422, reply.text
    assert [(d["loc"], d["type"]) for d in reply.json()["detail"]] == [(loc, kind)]


def test_rerank_is_logged_faulted_and_authenticated(
    http: httpx.Client, nugen_emulator: NugenEmulator
) -> None:
    nugen_emulator.inject(status=503, path="/reranker")
    assert http.post("/reranker", json={}).status_code == 503
    _rerank(http)
    assert [r.path for r in nugen_emulator.requests] == ["/api/v3/inference/reranker"] * 2
    assert nugen_emulator.last_request is not None
    assert nugen_emulator.last_request.body["query"] == QUERY
    url = f"{nugen_emulator.base_url}/reranker"
    assert httpx.post(url, json={"model": "r", "query": "q", "documents": []}).status_code == 401


def test_rerank_in_the_openai_dialect(http_openai: httpx.Client) -> None:
    assert [r["index"] for r in _rerank(http_openai)["results"]] == [0, 2, 1]
    refused = http_openai.post("/reranker", json={"model": "r", "query": QUERY})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "documents"


def test_aligned_models(nugen_emulator: NugenEmulator) -> None:
    url = nugen_emulator.url + "/api/v3/models/aligned"
    auth = {"Authorization": f"Bearer {nugen_emulator.api_key}"}
    reply = httpx.get(url, headers=auth)
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-request-id"]
    models = reply.json()["domain_aligned_models"]
    documented = {
        "id", "alignment_id", "name", "base_model", "alignment_project", "created_date",
        "status", "deployment_status", "creator", "usage_count", "last_used",
        "performance_metrics", "downloadable", "evaluation_data", "conversation_saving_enabled",
    }  # fmt: skip
    assert all(documented <= set(model) for model in models)
    deployed, undeployed = models
    assert (deployed["status"], deployed["deployment_status"]) == ("DEPLOYED", "DEPLOYED")
    assert deployed["endpoint"] == nugen_emulator.base_url
    assert undeployed["deployment_status"] == "UNDEPLOYED"
    assert "endpoint" not in undeployed
    assert undeployed["id"] == f"alignment-{undeployed['alignment_id']}"
    assert httpx.get(url, headers=auth).json() == reply.json()
    assert httpx.get(url).status_code == 401
    assert nugen_emulator.last_request is not None
    assert nugen_emulator.last_request.path == "/api/v3/models/aligned"


def test_no_aligned_models_in_the_openai_dialect(nugen_emulator_openai: NugenEmulator) -> None:
    reply = httpx.get(nugen_emulator_openai.url + "/api/v3/models/aligned")
    assert reply.status_code == 404


def test_completions_one_choice_per_prompt_with_summed_usage(http: httpx.Client) -> None:
    reply = http.post("/completions", json={"model": "m", "prompt": ["one two", "three"]})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert '"one two"' in body["choices"][0]["text"]
    assert '"three"' in body["choices"][1]["text"]
    assert body["usage"]["prompt_tokens"] == 3


def test_completions_accept_max_tokens_zero(http: httpx.Client) -> None:
    reply = http.post("/completions", json={"model": "m", "prompt": "Hi", "max_tokens": 0})
    assert reply.status_code == 200, reply.text
    choice = reply.json()["choices"][0]
    assert (choice["text"], choice["finish_reason"]) == ("", "length")
    negative = http.post("/completions", json={"model": "m", "prompt": "Hi", "max_tokens": -1})
    assert negative.status_code == 422


def test_a_402_fault_reads_like_the_platform(
    http: httpx.Client, nugen_emulator: NugenEmulator
) -> None:
    nugen_emulator.inject(status=402)
    reply = http.post("/chat/completions", json={"model": "m", "messages": []})
    assert reply.status_code == 402
    assert reply.json()["detail"].startswith("Insufficient balance")
