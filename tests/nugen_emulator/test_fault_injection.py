"""Every Fault, observed on the wire with raw httpx."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from nugen_emulator import Fault, NugenEmulator

from .conftest import USER, chat, sse_events

STREAM = {"model": "m", "messages": USER, "stream": True}
CHAT = {"model": "m", "messages": USER}


def _stream_text(client: httpx.Client, **extra: object) -> str:
    reply = client.post("/chat/completions", json={**STREAM, **extra})
    assert reply.status_code == 200
    return reply.text


def test_status_with_retry_after_then_success(
    http: httpx.Client, nugen_emulator: NugenEmulator
) -> None:
    armed = nugen_emulator.inject(Fault(status=429, headers={"Retry-After": "1"}), times=2)
    assert armed.status == 429
    assert nugen_emulator.pending_faults == 2
    first, second, third = (http.post("/chat/completions", json=CHAT) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["retry-after"] == "1"
    assert first.headers["x-request-id"]
    assert first.json() == {"detail": "Too Many Requests"}
    assert nugen_emulator.pending_faults == 0
    assert len(nugen_emulator.requests) == 3


def test_keyword_shortcut_and_openai_error_body(
    http_openai: httpx.Client, nugen_emulator_openai: NugenEmulator
) -> None:
    nugen_emulator_openai.inject(status=503)
    reply = http_openai.post("/chat/completions", json=CHAT)
    assert reply.status_code == 503
    assert reply.json()["error"] == {
        "message": "Service Unavailable",
        "type": "server_error",
        "param": None,
        "code": 503,
    }
    assert http_openai.post("/chat/completions", json=CHAT).status_code == 200


def test_inject_rejects_mixed_or_unknown_arguments(nugen_emulator: NugenEmulator) -> None:
    with pytest.raises(TypeError, match="either"):
        nugen_emulator.inject(Fault(status=500), status=502)
    with pytest.raises(TypeError, match="unknown"):
        nugen_emulator.inject(statuss=500)
    with pytest.raises(ValueError, match="times"):
        nugen_emulator.inject(status=500, times=0)


def test_faults_are_fifo_and_filtered_by_path(
    http: httpx.Client, nugen_emulator: NugenEmulator
) -> None:
    nugen_emulator.inject(status=500, path="/embeddings")
    nugen_emulator.inject(status=502)
    nugen_emulator.inject(status=503)
    # The chat request skips the embeddings-only fault and takes the oldest that matches.
    assert http.post("/chat/completions", json=CHAT).status_code == 502
    assert http.post("/embeddings", json={"model": "e", "input": "x"}).status_code == 500
    assert http.post("/embeddings", json={"model": "e", "input": "x"}).status_code == 503
    assert http.post("/embeddings", json={"model": "e", "input": "x"}).status_code == 200
    nugen_emulator.inject(status=500, times=5)
    nugen_emulator.reset()
    assert nugen_emulator.pending_faults == 0
    assert http.post("/chat/completions", json=CHAT).status_code == 200


def test_custom_bodies(http: httpx.Client, nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(status=400, body={"error": {"message": "bad"}})
    nugen_emulator.inject(status=200, body=b"{not json")
    nugen_emulator.inject(status=502, body="<html>Bad gateway</html>")
    assert http.post("/chat/completions", json=CHAT).json() == {"error": {"message": "bad"}}
    assert http.post("/chat/completions", json=CHAT).content == b"{not json"
    html = http.post("/chat/completions", json=CHAT)
    assert html.headers["content-type"].startswith("text/plain")
    assert html.text == "<html>Bad gateway</html>"


def test_a_fault_status_wins_over_auth_and_validation(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(status=500)
    reply = httpx.post(f"{nugen_emulator.base_url}/chat/completions", json={})
    assert reply.status_code == 500


def test_delay_provokes_a_read_timeout(http: httpx.Client, nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.post("/chat/completions", json=CHAT, timeout=0.1)
    nugen_emulator.inject(delay=0.1)
    started = time.monotonic()
    assert http.post("/chat/completions", json=CHAT).status_code == 200
    assert time.monotonic() - started >= 0.1


def test_cut_after_ends_the_stream_without_done(
    http: httpx.Client, nugen_emulator: NugenEmulator
) -> None:
    nugen_emulator.inject(cut_after=2)
    events = sse_events(_stream_text(http))
    # The live dialect opens with a timing event that is no chunk, then the two chunks.
    assert len(events) == 3
    assert "[DONE]" not in events
    assert "_timing" in json.loads(events[0])
    assert all(
        choice["finish_reason"] is None
        for event in events
        for choice in json.loads(event).get("choices", [])
    )


def test_reset_drops_the_connection(http: httpx.Client, nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(reset=True)
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|complete message"):
        http.post("/chat/completions", json=CHAT)
    nugen_emulator.inject(reset=True, cut_after=1)
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", "/chat/completions", json=STREAM) as reply,
    ):
        for _ in reply.iter_lines():
            pass
    # The emulator keeps serving on fresh connections.
    assert chat(http)["choices"]


def test_malformed_event_then_the_rest(http: httpx.Client, nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(malformed_after=1)
    events = sse_events(_stream_text(http))[1:]  # after the live timing event
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[1])
    assert "[DONE]" in events
    json.loads(events[0])
    json.loads(events[2])


def test_error_event_mid_stream(
    http: httpx.Client,
    http_openai: httpx.Client,
    nugen_emulator: NugenEmulator,
    nugen_emulator_openai: NugenEmulator,
) -> None:
    nugen_emulator.inject(error_event_after=2)
    events = sse_events(_stream_text(http))
    assert len(events) == 5  # the live timing event, two chunks, the error, [DONE]
    assert json.loads(events[3]) == {
        "error": {"message": "Internal error while streaming", "code": 500}
    }
    assert events[4] == "[DONE]"
    nugen_emulator_openai.inject(error_event_after=0, body={"error": {"message": "custom"}})
    events = sse_events(_stream_text(http_openai))
    assert json.loads(events[0]) == {"error": {"message": "custom"}}


def test_stall_pauses_between_events(http: httpx.Client, nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(stall_after=1, stall_seconds=0.5)
    with http.stream("POST", "/chat/completions", json=STREAM, timeout=0.2) as reply:
        lines = reply.iter_lines()
        first = next(line for line in lines if line)
        assert "_timing" in json.loads(first[len("data: ") :])  # not counted: no chunk
        chunk = next(line for line in lines if line)
        assert json.loads(chunk[len("data: ") :])["choices"][0]["delta"] == {"content": ""}
        with pytest.raises(httpx.ReadTimeout):
            next(line for line in lines if line)


def test_no_usage(
    http: httpx.Client, http_openai: httpx.Client, nugen_emulator: NugenEmulator
) -> None:
    nugen_emulator.inject(no_usage=True, times=3)
    assert chat(http)["usage"] is None
    events = sse_events(_stream_text(http))
    done = events.index("[DONE]")
    chunks = [json.loads(e) for e in events[:done]]
    assert all("usage" not in c for c in chunks)
    assert [c for c in chunks if "choices" in c][-1]["choices"][0]["finish_reason"] == "stop"
    assert json.loads(events[done + 1])["usage"] is None  # nor on the chunk after [DONE]
    assert http.post("/embeddings", json={"model": "e", "input": "x"}).json()["usage"] is None
