"""Raw-httpx access to the plugin's emulators: these tests must not depend on the client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nugen_emulator import NugenEmulator

USER = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def http(nugen_emulator: NugenEmulator) -> Iterator[httpx.Client]:
    """An httpx client for the nugen-dialect emulator, already authenticated."""
    with _client(nugen_emulator) as client:
        yield client


@pytest.fixture(scope="session")
def _reference_emulator() -> Iterator[NugenEmulator]:
    with NugenEmulator(forms="reference") as emulator:
        yield emulator


@pytest.fixture
def reference_emulator(_reference_emulator: NugenEmulator) -> NugenEmulator:
    """The nugen dialect with the reference pages' forms (``forms="reference"``)."""
    _reference_emulator.reset()
    return _reference_emulator


@pytest.fixture
def http_reference(reference_emulator: NugenEmulator) -> Iterator[httpx.Client]:
    """An httpx client for the reference-forms emulator, already authenticated."""
    with _client(reference_emulator) as client:
        yield client


@pytest.fixture
def http_openai(nugen_emulator_openai: NugenEmulator) -> Iterator[httpx.Client]:
    """The same for the openai-dialect emulator."""
    with _client(nugen_emulator_openai) as client:
        yield client


def chat(client: httpx.Client, **body: Any) -> dict[str, Any]:
    """POST /chat/completions and return the JSON reply, asserting a 200."""
    body.setdefault("model", "nugen-flash-instruct")
    body.setdefault("messages", USER)
    reply = client.post("/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def sse_events(text: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order (``[DONE]`` included)."""
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]


def stream_events(client: httpx.Client, **body: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """POST a streaming chat request; the parsed events before ``[DONE]`` (timing events
    included) and the raw events after it (checking there is a ``[DONE]``)."""
    body.setdefault("model", "nugen-flash-instruct")
    body.setdefault("messages", USER)
    body["stream"] = True
    reply = client.post("/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = sse_events(reply.text)
    done = events.index("[DONE]")
    return [json.loads(event) for event in events[:done]], events[done + 1 :]


def stream(client: httpx.Client, **body: Any) -> list[dict[str, Any]]:
    """POST a streaming chat request; the parsed chunks before ``[DONE]`` (the live
    dialect's timing events, which carry no ``choices``, left out)."""
    events, _ = stream_events(client, **body)
    return [event for event in events if "choices" in event]


def _client(emulator: NugenEmulator) -> httpx.Client:
    """An httpx client for ``emulator``, already authenticated."""
    return httpx.Client(
        base_url=emulator.base_url,
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        timeout=5.0,
    )
