"""The nugen dialect answers in the live service's shapes by default (docs/emulator.md)."""

from __future__ import annotations

import json

import httpx
import pytest

from nugen_emulator import NugenEmulator

from .conftest import USER, chat, sse_events, stream_events
from .test_model_behaviour import WEATHER

NULL_SDK_FIELDS = ("refusal", "annotations", "audio", "function_call")


def test_a_whole_answer_has_timing_confidence_and_the_null_sdk_fields(http: httpx.Client) -> None:
    aligned = chat(http, model="nugen-legal")
    assert list(aligned) == [
        "id",
        "choices",
        "created",
        "model",
        "object",
        "service_tier",
        "system_fingerprint",
        "usage",
        "timing",
        "confidence",
    ]
    assert aligned["id"].startswith("chatcmpl-")
    assert isinstance(aligned["created"], int)
    assert aligned["object"] == "chat.completion"
    assert 50 <= aligned["confidence"] < 100
    assert "confidence_score" not in aligned
    timing = aligned["timing"]
    assert set(timing) == {"ttft_seconds", "throughput_tokens_per_second", "total_seconds"}
    assert 0 < timing["ttft_seconds"] <= timing["total_seconds"]
    message = aligned["choices"][0]["message"]
    assert all(message[key] is None for key in NULL_SDK_FIELDS)
    assert message["tool_calls"] is None
    assert aligned["choices"][0]["logprobs"] is None
    assert aligned["usage"]["prompt_tokens_details"] is None
    # Other models: confidence is null, not absent.
    assert chat(http, model="nugen-flash-instruct")["confidence"] is None
    vision = http.post("/chat/vision", json={"model": "nugen-lvm-legal", "messages": USER})
    assert isinstance(vision.json()["created"], int)
    assert vision.json()["confidence"] is not None


def test_timing_is_deterministic(http: httpx.Client) -> None:
    assert chat(http)["timing"] == chat(http)["timing"]


def test_the_stream_follows_the_live_sequence(http: httpx.Client) -> None:
    events, after_done = stream_events(http, model="nugen-legal")
    assert events[0] == {"_timing": {"gpu_processing_seconds": 0.0112}}
    assert events[-1]["object"] == "timing"
    assert set(events[-1]["timing"]) == {
        "ttft_seconds",
        "throughput_tokens_per_second",
        "total_seconds",
    }
    chunks = events[1:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(isinstance(c["created"], int) for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"content": ""}
    assert {"content": ""} in deltas[2:-1]  # an empty delta mid-stream
    assert deltas[-1] == {}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks]
    assert finishes == [None] * (len(chunks) - 1) + ["stop"]
    assert [("usage" in c) for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert 50 <= chunks[-1]["confidence"] < 100
    text = "".join(d.get("content", "") for d in deltas)
    assert text == chat(http, model="nugen-legal")["choices"][0]["message"]["content"]
    # One more chunk after [DONE]: no choices, the usage again.
    assert len(after_done) == 1
    trailer = json.loads(after_done[0])
    assert trailer["choices"] == []
    assert trailer["usage"] == chunks[-1]["usage"]
    assert trailer["id"] == chunks[0]["id"]


def test_tool_calls_and_choices_stream_in_the_live_sequence(http: httpx.Client) -> None:
    ask = [{"role": "user", "content": "Use get_weather for Boston."}]
    whole = chat(http, messages=ask, tools=[WEATHER])["choices"][0]["message"]["tool_calls"]
    events, _ = stream_events(http, messages=ask, tools=[WEATHER])
    chunks = [e for e in events if "choices" in e]
    fragments = [call for c in chunks for call in c["choices"][0]["delta"].get("tool_calls", ())]
    assert fragments[0]["function"]["name"] == "get_weather"
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    assert json.loads(arguments) == json.loads(whole[0]["function"]["arguments"])
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    events, _ = stream_events(http, n=2)
    finishes = [
        (c["choices"][0]["index"], c["choices"][0]["finish_reason"])
        for c in events
        if "choices" in c and c["choices"][0]["finish_reason"]
    ]
    assert finishes == [(0, "stop"), (1, "stop")]


def test_a_live_stream_cut_by_max_tokens_says_stop_the_reference_forms_say_length(
    http: httpx.Client, http_reference: httpx.Client, http_openai: httpx.Client
) -> None:
    # The live service ends a stream that max_tokens cut with finish_reason "stop".
    def finishes(client: httpx.Client) -> list[str]:
        chunks = [e for e in stream_events(client, max_tokens=3, n=2)[0] if "choices" in e]
        return [c["finish_reason"] for e in chunks for c in e["choices"] if c["finish_reason"]]

    assert finishes(http) == ["stop", "stop"]
    assert finishes(http_reference) == ["length", "length"]
    assert finishes(http_openai) == ["length", "length"]
    # A whole answer still says "length".
    assert chat(http, max_tokens=3)["choices"][0]["finish_reason"] == "length"


def test_a_served_model_name_differs_from_the_requested_one() -> None:
    served = {"llama-v3p2-3b-reasoning": "llama-3.2-3b-reasoning"}
    with NugenEmulator(served_model=lambda name: served.get(name, name)) as emu:
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        with httpx.Client(base_url=emu.base_url, headers=headers, timeout=5.0) as client:
            assert chat(client, model="llama-v3p2-3b-reasoning")["model"] == (
                "llama-3.2-3b-reasoning"
            )
            events, after_done = stream_events(client, model="llama-v3p2-3b-reasoning")
            assert {e["model"] for e in events if "choices" in e} == {"llama-3.2-3b-reasoning"}
            assert json.loads(after_done[0])["model"] == "llama-3.2-3b-reasoning"
            assert chat(client, model="other")["model"] == "other"
    with NugenEmulator(served_model="backend-x") as emu:
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        with httpx.Client(base_url=emu.base_url, headers=headers, timeout=5.0) as client:
            assert chat(client, model="anything")["model"] == "backend-x"


def test_reference_forms_and_the_openai_dialect_send_no_live_extras(
    http_reference: httpx.Client, http_openai: httpx.Client
) -> None:
    body = {"model": "m", "messages": USER, "stream": True}
    for client in (http_reference, http_openai):
        text = client.post("/chat/completions", json=body).text
        assert text.endswith("data: [DONE]\n\n")
        assert "timing" not in text
        assert "timing" not in chat(client)
        assert "confidence" not in chat(client, model="nugen-legal")
    assert sse_events(text)[-1] == "[DONE]"


def test_live_embeddings_carry_the_live_envelope(http: httpx.Client) -> None:
    body = http.post("/embeddings", json={"model": "qwen3-embedding-8b", "input": "x"}).json()
    assert body["object"] == "list"
    assert body["id"].startswith("nugen-")
    assert isinstance(body["created"], float)
    assert body["model"] == "qwen3-embedding-8b"
    assert body["data"][0]["index"] == 0
    assert "usage" not in body  # the live service sends none on embeddings


def test_reference_embeddings_keep_the_documented_usage(http_reference: httpx.Client) -> None:
    body = http_reference.post("/embeddings", json={"model": "m", "input": "two words"}).json()
    assert body["usage"] == {"total_tokens": 2}


def test_forms_must_be_known() -> None:
    with pytest.raises(ValueError, match="forms must be 'live' or 'reference'"):
        NugenEmulator(forms="beta")  # type: ignore[arg-type]


@pytest.mark.parametrize("forms", ["live", "reference"])
def test_a_whole_number_created_keeps_each_forms_json_type(forms: str) -> None:
    # created=1700000000 (an int) pins the time; the documented float stays a float.
    with NugenEmulator(forms=forms, created=1700000000) as emu:  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        with httpx.Client(base_url=emu.base_url, headers=headers) as client:
            body = {"model": "m", "messages": USER}
            answer = client.post("/chat/completions", json=body).json()
            vision = client.post("/chat/vision", json=body).json()
            embedded = client.post("/embeddings", json={"model": "m", "input": "x"}).json()
    if forms == "live":
        assert isinstance(answer["created"], int)
        assert isinstance(embedded["created"], float)
    else:
        assert isinstance(answer["created"], float)
        assert isinstance(vision["created"], float)
    assert answer["created"] == 1700000000
