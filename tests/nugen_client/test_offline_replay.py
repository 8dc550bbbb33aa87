"""The offline tier end to end: requests recorded from NugenEmulator, replayed with sockets off.

In replay (the default) these run from ``cassettes/nugen_client/test_offline_replay/``
with every network socket blocked; ``NUGEN_RECORD=emulator`` re-records them. Raw httpx
checks the cassette machinery itself (JSON and SSE bodies, sync and async, the header
rules); the client tests check that the shared client's own traffic replays.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import pytest_socket
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.request import Request

from nugen_client import AsyncNugenClient, NugenClient
from tests.conftest import (
    NugenTarget,
    json_body_matcher,
    mark_replayed_request,
    nugen_headers_matcher,
    unplayed_interactions,
)

MODEL = "nugen-flash-instruct"
QUESTION = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is the capital of France?"},
]


def _headers(target: NugenTarget) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.api_key}"}


def _sse_payloads(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def test_replay_blocks_the_network(nugen_target: NugenTarget) -> None:
    with httpx.Client() as http:
        reply = http.post(
            f"{nugen_target.base_url}/chat/completions",
            json={"model": MODEL, "messages": QUESTION},
            headers=_headers(nugen_target),
        )
    assert reply.status_code == 200
    if nugen_target.recording:
        return
    # While replaying, no network socket can even be created: nothing real is reachable.
    with (
        pytest.warns(UserWarning, match="socket"),
        pytest.raises(pytest_socket.SocketBlockedError),
    ):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_chat_json_round_trip(nugen_target: NugenTarget) -> None:
    with httpx.Client() as http:
        reply = http.post(
            f"{nugen_target.base_url}/chat/completions",
            json={"model": MODEL, "messages": QUESTION, "temperature": 0.2},
            headers=_headers(nugen_target),
        )
    body = reply.json()
    assert reply.status_code == 200
    assert reply.headers["x-request-id"]
    assert body["choices"][0]["message"]["content"].startswith(
        'You asked: "What is the capital of France?".'
    )
    usage = body["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] == usage["total_tokens"]


def test_chat_stream_round_trip(nugen_target: NugenTarget) -> None:
    request = {"model": MODEL, "messages": QUESTION, "stream": True}
    with (
        httpx.Client() as http,
        http.stream(
            "POST",
            f"{nugen_target.base_url}/chat/completions",
            json=request,
            headers=_headers(nugen_target),
        ) as reply,
    ):
        text = reply.read().decode()
    assert reply.headers["content-type"].startswith("text/event-stream")
    payloads = _sse_payloads(text)
    done = payloads.index("[DONE]")
    # The live sequence: a timing event first and last, one chunk after [DONE].
    events = [json.loads(p) for p in payloads[:done]]
    assert "_timing" in events[0]
    assert events[-1]["object"] == "timing"
    assert [json.loads(p)["choices"] for p in payloads[done + 1 :]] == [[]]
    chunks = [event for event in events if "choices" in event]
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "capital of France" in content
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_a_changed_body_does_not_match(nugen_target: NugenTarget) -> None:
    """Matching includes the parsed JSON body: key order is irrelevant, values are not."""
    url = f"{nugen_target.base_url}/embeddings"
    with httpx.Client(headers=_headers(nugen_target)) as http:
        # Same body as recorded, keys in another order: still served from the cassette.
        reply = http.post(
            url,
            content=json.dumps({"input": ["alpha", "beta"], "model": "nugen-flash-embed"}),
        )
        assert [item["index"] for item in reply.json()["data"]] == [0, 1]
        if nugen_target.recording:
            return
        with pytest.raises(CannotOverwriteExistingCassetteException):
            http.post(url, json={"model": "nugen-flash-embed", "input": ["alpha", "gamma"]})


async def test_async_stream_round_trip(nugen_target: NugenTarget) -> None:
    async with (
        httpx.AsyncClient() as http,
        http.stream(
            "POST",
            f"{nugen_target.base_url}/chat/completions",
            json={"model": MODEL, "messages": QUESTION[1:], "stream": True, "n": 2},
            headers=_headers(nugen_target),
        ) as reply,
    ):
        text = (await reply.aread()).decode()
    payloads = _sse_payloads(text)
    events = [json.loads(p) for p in payloads[: payloads.index("[DONE]")]]
    chunks = [event for event in events if "choices" in event]
    finishes = [c["choices"][0] for c in chunks if c["choices"][0]["finish_reason"]]
    assert sorted(choice["index"] for choice in finishes) == [0, 1]


def test_client_chat_stream_and_embeddings(nugen_target: NugenTarget) -> None:
    with NugenClient(api_key=nugen_target.api_key, base_url=nugen_target.base_url) as client:
        completion = client.chat_completion(model=MODEL, messages=QUESTION, max_tokens=4)
        chunks = list(client.stream_chat_completion(model=MODEL, messages=QUESTION))
        vectors = client.embeddings(model="nugen-flash-embed", input=["a", "b"])
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == 'You asked: "What is'
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed.startswith('You asked: "What is the capital of France?".')
    assert chunks[-1].timing is not None  # the closing timing event, no chunk
    last = [chunk for chunk in chunks if chunk.is_chunk][-1]
    assert last.usage is not None
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert [len(vector) for vector in vectors.embeddings] == [384, 384]
    assert vectors.embeddings[0] != vectors.embeddings[1]


def test_the_headers_the_caller_asked_for_are_sent(nugen_target: NugenTarget, vcr: Any) -> None:
    """Replay compares these headers with the recording (``nugen_headers_matcher``): the
    assertions on the recorded request below hold for what the client sent."""
    with NugenClient(
        api_key=nugen_target.api_key,
        base_url=nugen_target.base_url,
        session_id="client-session",
        provider="nugen-infer-align",
        default_headers={"X-Team": "search"},
    ) as client:
        client.chat_completion(model=MODEL, messages=QUESTION, max_tokens=4)
        client.chat_completion(
            model=MODEL,
            messages=QUESTION,
            max_tokens=4,
            session_id="call-session",
            extra_headers={"X-Trace": "t-1"},
        )
    names = ("x-session-id", "x-provider", "x-team", "x-trace")
    sent = [{n: r.headers.get(n) for n in names} for r in vcr.requests]
    assert sent == [
        {"x-session-id": "client-session", "x-provider": "nugen-infer-align", "x-team": "search"}
        | {"x-trace": None},
        {"x-session-id": "call-session", "x-provider": "nugen-infer-align", "x-team": "search"}
        | {"x-trace": "t-1"},
    ]
    assert all("authorization" not in r.headers for r in vcr.requests)  # never recorded


async def test_async_client_chat(nugen_target_openai: NugenTarget) -> None:
    async with AsyncNugenClient(
        api_key=nugen_target_openai.api_key, base_url=nugen_target_openai.base_url
    ) as client:
        completion = await client.chat_completion(model=MODEL, messages=QUESTION)
        chunks = [c async for c in client.stream_chat_completion(model=MODEL, messages=QUESTION)]
    answer = (
        'You asked: "What is the capital of France?". The system prompt says: "Answer briefly.".'
    )
    assert completion.choices[0].message.content == answer
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.model_dump(include={"prompt_tokens", "completion_tokens"}) == {
        "prompt_tokens": 10,
        "completion_tokens": 14,
    }
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer
    # include_usage is sent, and the openai dialect obeys: the usage arrives, on the last chunk.
    assert [c.usage is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1].usage == completion.usage


def _request(body: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(body=json.dumps(body).encode())


def _conversation(ids: tuple[str, str], answers: tuple[str, ...]) -> dict[str, Any]:
    """Two parallel calls, then one tool result per ``answers`` entry (``"id=content"``)."""
    call = {"type": "function", "function": {"name": "add", "arguments": "{}"}}
    results = [
        {"role": "tool", "tool_call_id": answer.split("=")[0], "content": answer.split("=")[1]}
        for answer in answers
    ]
    return {
        "model": MODEL,
        "messages": [
            {"role": "assistant", "tool_calls": [{**call, "id": ids[0]}, {**call, "id": ids[1]}]},
            *results,
        ],
    }


def test_the_body_matcher_ignores_random_tool_call_ids_but_not_their_wiring() -> None:
    recorded = _request(_conversation(("0dc1b618", "9f2e"), ("0dc1b618=3", "9f2e=4")))
    json_body_matcher(recorded, _request(_conversation(("e844", "c001"), ("e844=3", "c001=4"))))
    # The results answer the other call than when recorded: a real difference.
    swapped = _conversation(("e844", "c001"), ("c001=3", "e844=4"))
    with pytest.raises(AssertionError, match="differ"):
        json_body_matcher(recorded, _request(swapped))
    changed = _conversation(("e844", "c001"), ("e844=5", "c001=4"))
    with pytest.raises(AssertionError, match="differ"):
        json_body_matcher(recorded, _request(changed))


def _replayed(headers: dict[str, str]) -> Request:
    """A live request as the matcher sees it: vcrpy's filtered copy."""
    live = Request("POST", "http://127.0.0.1:9/v1/chat/completions", b"{}", headers)
    return mark_replayed_request(mark_replayed_request(live))  # vcrpy filters twice


def _recorded(headers: dict[str, str]) -> Request:
    return Request("POST", "http://127.0.0.1:9/v1/chat/completions", b"{}", headers)


def test_the_header_matcher_wants_a_bearer_credential() -> None:
    recorded = _recorded({"x-session-id": "s"})
    nugen_headers_matcher(_replayed({"Authorization": "Bearer k", "X-Session-ID": "s"}), recorded)
    for credential in ({}, {"Authorization": "Bearer "}, {"Authorization": "k"}):
        with pytest.raises(AssertionError, match="Authorization: Bearer"):
            nugen_headers_matcher(_replayed({**credential, "X-Session-ID": "s"}), recorded)
    assert "authorization" not in _replayed({"Authorization": "Bearer k"}).headers


def test_the_header_matcher_compares_the_asked_for_headers_not_the_transport_ones() -> None:
    recorded = _recorded({"x-session-id": "s", "x-team": "a", "user-agent": "old", "accept": "*/*"})
    bearer = {"Authorization": "Bearer k"}
    sent = {"X-Session-ID": "s", "X-Team": "a", "User-Agent": "new", "Accept": "text/plain"}
    nugen_headers_matcher(_replayed({**bearer, **sent}), recorded)
    for wrong in ({"X-Session-ID": "other"}, {"X-Team": None}, {"X-Provider": "fwai"}):
        headers = {k: v for k, v in {**bearer, **sent, **wrong}.items() if v is not None}
        with pytest.raises(AssertionError, match="headers differ"):
            nugen_headers_matcher(_replayed(headers), recorded)


def test_unplayed_interactions_are_counted_per_interaction() -> None:
    data = [(_recorded({}), {}), (_recorded({}), {})]
    # Played twice in all, as with allow_playback_repeats: vcrpy's all_played says True.
    cassette = SimpleNamespace(data=data, play_counts=Counter({0: 2}))
    assert unplayed_interactions(cassette) == ["#1 POST /v1/chat/completions {}"]
    cassette.play_counts[1] += 1
    assert unplayed_interactions(cassette) == []
