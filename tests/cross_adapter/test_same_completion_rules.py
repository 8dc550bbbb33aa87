"""One rule for text completions: the same case through ``NugenLLM`` and
``Nugen(is_chat_model=False)`` puts the same ``/completions`` request on the wire.

Each case runs through LangChain ``invoke`` / ``ainvoke`` and LlamaIndex ``complete`` /
``acomplete``; the four requests must have the same path, JSON body and Nugen headers, and
the body must hold what the case expects. The streaming forms agree as well.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from langchain_nugen import NugenLLM
from llama_index_nugen import Nugen
from nugen_emulator import NugenEmulator, RecordedRequest

pytestmark = pytest.mark.emulator

NUGEN_HEADERS = ("x-session-id", "x-provider", "x-trace")
PROMPT = "To infinity, and"


@dataclass(frozen=True)
class Case:
    id: str
    init: dict[str, Any] = field(default_factory=dict)
    extra_body: dict[str, Any] = field(default_factory=dict)
    call: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("nothing-set", body={"model": "m", "prompt": PROMPT}),
    Case(
        "sampling-fields",
        init={"temperature": 0.2, "max_tokens": 30, "top_p": 0.9, "top_k": 4, "stop": ["\n"]},
        body={
            "model": "m",
            "prompt": PROMPT,
            "temperature": 0.2,
            "max_tokens": 30,
            "top_p": 0.9,
            "top_k": 4,
            "stop": ["\n"],
        },
    ),
    Case(
        "call-wins-over-fields-and-extra-body",
        init={"temperature": 0.2, "session_id": "model-session", "provider": "fwai"},
        extra_body={"echo": True, "temperature": 1.5},
        call={"temperature": 0.7, "session_id": "call-session", "extra_headers": {"X-Trace": "t"}},
        body={"model": "m", "prompt": PROMPT, "temperature": 0.7, "echo": True},
        headers={"x-session-id": "call-session", "x-provider": "fwai", "x-trace": "t"},
    ),
    Case(
        "unknown-call-keyword-is-sent-as-is",
        call={"frequency_penalty": 0.5, "prompt_truncate_len": 300},
        body={"model": "m", "prompt": PROMPT, "frequency_penalty": 0.5, "prompt_truncate_len": 300},
    ),
]


def nugen_headers(request: RecordedRequest) -> dict[str, str]:
    return {name: request.headers[name] for name in NUGEN_HEADERS if name in request.headers}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_same_request_from_both_adapters(nugen_emulator: NugenEmulator, case: Case) -> None:
    connection = {"base_url": nugen_emulator.base_url, "api_key": nugen_emulator.api_key}
    lc = NugenLLM(model="m", model_kwargs=dict(case.extra_body), **connection, **case.init)
    li = Nugen(
        model="m",
        is_chat_model=False,
        additional_kwargs=dict(case.extra_body),
        **connection,
        **case.init,
    )
    lc.invoke(PROMPT, **case.call)
    asyncio.run(lc.ainvoke(PROMPT, **case.call))
    li.complete(PROMPT, **case.call)
    asyncio.run(li.acomplete(PROMPT, **case.call))
    requests = nugen_emulator.requests
    assert len(requests) == 4
    for request in requests:
        assert request.path == "/api/v3/inference/completions"
        assert request.body == case.body
        assert nugen_headers(request) == case.headers


def test_streams_agree(nugen_emulator: NugenEmulator) -> None:
    connection = {"base_url": nugen_emulator.base_url, "api_key": nugen_emulator.api_key}
    lc_text = "".join(NugenLLM(model="m", max_tokens=9, **connection).stream(PROMPT))
    li_responses = list(
        Nugen(model="m", max_tokens=9, is_chat_model=False, **connection).stream_complete(PROMPT)
    )
    assert lc_text == li_responses[-1].text
    first, second = (r.body for r in nugen_emulator.requests)
    assert (
        first
        == second
        == {
            "model": "m",
            "prompt": PROMPT,
            "max_tokens": 9,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
