"""The benchmark's canned replies (benchmarks/canned.py) on a real NugenEmulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from benchmarks.canned import CannedReplies, canned_text, split_evenly
from nugen_emulator import NugenEmulator

USER = [{"role": "user", "content": "What is the capital of France?"}]


def _client(emu: NugenEmulator) -> httpx.Client:
    return httpx.Client(
        base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=5
    )


def _events(client: httpx.Client, **body: Any) -> list[str]:
    body = {"model": "m", "messages": USER, "stream": True, **body}
    reply = client.post("/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    return [line[6:] for line in reply.text.split("\n") if line.startswith("data: ")]


def _chunks(client: httpx.Client, **body: Any) -> list[dict[str, Any]]:
    events = _events(client, **body)
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


@pytest.fixture
def canned_text_emulator() -> Iterator[NugenEmulator]:
    with NugenEmulator(forms="reference", chat_reply=CannedReplies(1000, chunks=50)) as emu:
        yield emu


def test_canned_text_is_exact_and_deterministic() -> None:
    assert len(canned_text(1000)) == 1000
    assert canned_text(17) == canned_text(17) == "lorem ipsum dolor"
    assert split_evenly("abcdefg", 3) == ["abc", "de", "fg"]
    assert split_evenly("ab", 5) == ["a", "b"]  # never an empty slice


def test_a_stream_has_exactly_the_asked_chunks(canned_text_emulator: NugenEmulator) -> None:
    with _client(canned_text_emulator) as client:
        chunks = _chunks(client, n=1)
        whole = client.post("/chat/completions", json={"model": "m", "messages": USER}).json()
        again = _chunks(client, messages=[{"role": "user", "content": "a b c d e f"}])
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert len(chunks) == 50
    assert len(content) == 1000
    assert whole["choices"][0]["message"]["content"] == content
    # The encoded stream is reused (same id), but usage follows each request.
    assert {c["id"] for c in chunks + again} == {"nugen-canned"}
    assert again[-1]["usage"]["prompt_tokens"] == 7
    assert chunks[-1]["usage"]["prompt_tokens"] == 7 == len(USER[0]["content"].split()) + 1


def test_a_tool_call_in_n_fragments() -> None:
    arguments = json.dumps({"query": "x" * 200})
    hook = CannedReplies(tool_call=("search", arguments), chunks=40)
    with NugenEmulator(dialect="openai", chat_reply=hook) as emu, _client(emu) as client:
        chunks = _chunks(client, stream_options={"include_usage": True})
        whole = client.post("/chat/completions", json={"model": "m", "messages": USER}).json()
    calls = [
        ch["choices"][0]["delta"]["tool_calls"][0]
        for ch in chunks
        if ch["choices"] and ch["choices"][0]["delta"]
    ]
    assert calls[0]["function"]["name"] == "search"
    assert calls[0]["id"] == "call_canned"
    assert len(calls) == 41  # the header, then 40 fragments
    assert "".join(call["function"]["arguments"] for call in calls) == arguments
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["total_tokens"] > 0
    assert {c["id"] for c in chunks} == {"chatcmpl-canned"}
    assert whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == arguments


def test_faults_apply_to_canned_streams() -> None:
    hook = CannedReplies("a b c d e f", chunks=6)
    with NugenEmulator(forms="reference", chat_reply=hook) as emu, _client(emu) as client:
        emu.inject(cut_after=3)
        assert len(_events(client)) == 3
        assert len(_events(client)) == 7
        emu.inject(no_usage=True)
        assert all("usage" not in c for c in _chunks(client))
        assert _chunks(client)[-1]["usage"]["total_tokens"] > 0  # the cache kept its usage


def test_each_request_shape_gets_its_own_stream() -> None:
    with (
        NugenEmulator(forms="reference", chat_reply=CannedReplies("one two", chunks=2)) as emu,
        _client(emu) as c,
    ):
        single = _chunks(c)
        double = _chunks(c, n=2)
        other_model = _chunks(c, model="other")
    assert len(single) == 2
    assert sorted(ch["choices"][0]["index"] for ch in double) == [0, 0, 1, 1]
    assert {ch["model"] for ch in other_model} == {"other"}


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="chunks"):
        CannedReplies("x", chunks=0)
    with pytest.raises(ValueError, match="Expecting"):
        CannedReplies(tool_call=("f", "{not json"))
    with pytest.raises(ValueError, match="text or a tool_call"):
        CannedReplies()
