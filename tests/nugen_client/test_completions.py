"""Text completions (``POST /completions``) through both clients, against the emulator.

The same rules as chat: only what is set is sent, local validation before any request,
retries, the error classes, timeouts, per-call headers and stream completeness.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import nugen_client
from nugen_client import AsyncNugenClient, NugenClient
from nugen_client.types import TextCompletion, TextCompletionChunk, response_timing
from nugen_emulator import NugenEmulator
from nugen_shared.requests import completion_request

PROMPT = "To infinity, and"
ANSWER = 'You asked: "To infinity, and".'


def sync_client(emulator: NugenEmulator, **kwargs: Any) -> NugenClient:
    return NugenClient(api_key=emulator.api_key, base_url=emulator.base_url, **kwargs)


def async_client(emulator: NugenEmulator, **kwargs: Any) -> AsyncNugenClient:
    return AsyncNugenClient(api_key=emulator.api_key, base_url=emulator.base_url, **kwargs)


def complete(emulator: NugenEmulator, *, is_async: bool, stream: bool, **params: Any) -> str:
    """The text of one completion, by whichever of the four ways is asked for."""
    params.setdefault("model", "qwen-v2p5-0p5b-instruct")
    params.setdefault("prompt", PROMPT)
    if not is_async:
        with sync_client(emulator, max_retries=params.pop("max_retries", 2)) as client:
            if stream:
                return "".join(
                    c.choices[0].text for c in client.stream_completion(**params) if c.choices
                )
            return client.completion(**params).choices[0].text

    async def run() -> str:
        async with async_client(emulator, max_retries=params.pop("max_retries", 2)) as client:
            if stream:
                pieces = [c async for c in client.stream_completion(**params)]
                return "".join(c.choices[0].text for c in pieces if c.choices)
            return (await client.completion(**params)).choices[0].text

    return asyncio.run(run())


WAYS = [
    pytest.param(False, False, id="sync"),
    pytest.param(True, False, id="async"),
    pytest.param(False, True, id="sync-stream"),
    pytest.param(True, True, id="async-stream"),
]


@pytest.mark.parametrize(("is_async", "stream"), WAYS)
def test_completion_text_and_body(
    nugen_emulator: NugenEmulator, is_async: bool, stream: bool
) -> None:
    text = complete(nugen_emulator, is_async=is_async, stream=stream, max_tokens=50, top_k=5)
    assert text == ANSWER
    request = nugen_emulator.last_request
    assert request is not None
    assert request.path == "/api/v3/inference/completions"
    expected: dict[str, Any] = {
        "model": "qwen-v2p5-0p5b-instruct",
        "prompt": PROMPT,
        "max_tokens": 50,
        "top_k": 5,
    }
    if stream:
        expected |= {"stream": True, "stream_options": {"include_usage": True}}
    assert request.body == expected


def test_an_empty_list_of_prompts_is_refused_saying_so(nugen_emulator: NugenEmulator) -> None:
    with (
        sync_client(nugen_emulator) as client,
        pytest.raises(nugen_client.InvalidInputError) as info,
    ):
        client.completion(model="m", prompt=[])
    assert "prompt: List should have at least 1 item" in str(info.value)
    assert "constrained" not in str(info.value)
    assert nugen_emulator.requests == []


def test_stream_true_is_refused_naming_the_stream_method(nugen_emulator: NugenEmulator) -> None:
    with (
        sync_client(nugen_emulator) as client,
        pytest.raises(nugen_client.InvalidInputError, match="stream_completion"),
    ):
        client.completion(model="m", prompt=PROMPT, stream=True)
    assert nugen_emulator.requests == []


def test_live_answer_shape(nugen_emulator: NugenEmulator) -> None:
    with sync_client(nugen_emulator) as client:
        reply = client.completion(model="qwen-v2p5-0p5b-instruct", prompt=PROMPT)
    assert isinstance(reply, TextCompletion)
    assert reply.object == "text_completion"
    assert reply.id.startswith("chatcmpl-")
    assert reply.created == int(reply.created or 0)
    choice = reply.choices[0]
    assert (choice.index, choice.finish_reason, choice.logprobs) == (0, "stop", None)
    assert reply.usage is not None
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    timing = response_timing(reply)
    assert timing is not None
    assert set(timing) == {"ttft_seconds", "throughput_tokens_per_second", "total_seconds"}


def test_stream_ends_with_usage_and_timing(nugen_emulator: NugenEmulator) -> None:
    with sync_client(nugen_emulator) as client:
        chunks = list(client.stream_completion(model="m", prompt="one two three"))
    assert all(isinstance(chunk, TextCompletionChunk) for chunk in chunks)
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1
    last = chunks[-1]
    assert last.usage is not None
    assert last.usage.completion_tokens > 0
    assert response_timing(last) is not None
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_dialect_gets_only_what_was_set(nugen_emulator_openai: NugenEmulator) -> None:
    with sync_client(nugen_emulator_openai) as client:
        reply = client.completion(model="Qwen/Qwen2.5-VL-7B-Instruct", prompt="Hi there")
        chunks = list(client.stream_completion(model="Qwen/Qwen2.5-VL-7B-Instruct", prompt="Hi"))
    assert reply.choices[0].text.startswith("You asked:")
    bodies = [r.body for r in nugen_emulator_openai.requests]
    assert bodies[0] == {"model": "Qwen/Qwen2.5-VL-7B-Instruct", "prompt": "Hi there"}
    # Usage arrives on a last chunk without choices, because stream_options asked for it.
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None


def test_headers_per_call_and_per_client(nugen_emulator: NugenEmulator) -> None:
    with sync_client(nugen_emulator, provider="nugen-infer-align", session_id="s0") as client:
        client.completion(model="m", prompt="a", session_id="s1", extra_headers={"X-Trace": "t"})
        list(client.stream_completion(model="m", prompt="a"))
    first, second = nugen_emulator.requests
    assert first.headers["x-session-id"] == "s1"
    assert first.headers["x-trace"] == "t"
    assert first.headers["x-provider"] == "nugen-infer-align"
    assert second.headers["x-session-id"] == "s0"
    assert second.headers["accept"] == "text/event-stream"


def test_extra_body_is_merged(nugen_emulator: NugenEmulator) -> None:
    with sync_client(nugen_emulator) as client:
        client.completion(model="m", prompt="a", extra_body={"echo": False})
    assert nugen_emulator.requests[0].body == {"model": "m", "prompt": "a", "echo": False}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"prompt": []}, "prompt"),
        ({"prompt": ["a", ""]}, "prompt"),
        ({"top_p": 1.5}, "top_p"),
        ({"model": ""}, "model"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_bad_input_fails_before_any_request(
    nugen_emulator: NugenEmulator, params: dict[str, Any], field: str, stream: bool
) -> None:
    call = {"model": "m", "prompt": "a", **params}
    with sync_client(nugen_emulator) as client:
        method = client.stream_completion if stream else client.completion
        with pytest.raises(ValueError, match=field):
            method(**call)
    assert nugen_emulator.requests == []


def test_missing_prompt_is_a_422(nugen_emulator: NugenEmulator) -> None:
    response = httpx.post(
        nugen_emulator.base_url + "/completions",
        json={"model": "m"},
        headers={"Authorization": f"Bearer {nugen_emulator.api_key}"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "prompt"]


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("is_async", "stream"), WAYS)
def test_retries_then_succeeds(nugen_emulator: NugenEmulator, is_async: bool, stream: bool) -> None:
    nugen_emulator.inject(status=429, headers={"Retry-After": "0"}, times=2)
    assert complete(nugen_emulator, is_async=is_async, stream=stream) == ANSWER
    assert len(nugen_emulator.requests) == 3


STATUS_ERRORS = [
    (401, nugen_client.AuthenticationError),
    (404, nugen_client.NotFoundError),
    (422, nugen_client.UnprocessableEntityError),
    (429, nugen_client.RateLimitError),
    (503, nugen_client.InternalServerError),
]


@pytest.mark.parametrize(("is_async", "stream"), WAYS)
@pytest.mark.parametrize(("status", "error"), STATUS_ERRORS)
def test_status_errors(
    nugen_emulator: NugenEmulator,
    is_async: bool,
    stream: bool,
    status: int,
    error: type[nugen_client.APIStatusError],
) -> None:
    nugen_emulator.inject(status=status, headers={"Retry-After": "0"})
    with pytest.raises(error) as raised:
        complete(nugen_emulator, is_async=is_async, stream=stream, max_retries=0)
    assert raised.value.status_code == status
    assert raised.value.request_id is not None
    assert nugen_emulator.api_key not in str(raised.value)


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"cut_after": 2}, nugen_client.StreamInterruptedError),
        ({"cut_after": 2, "reset": True}, nugen_client.StreamInterruptedError),
        ({"malformed_after": 2}, nugen_client.APIResponseValidationError),
        ({"error_event_after": 2}, nugen_client.InternalServerError),
    ],
)
def test_stream_faults(
    nugen_emulator: NugenEmulator,
    is_async: bool,
    fault: dict[str, Any],
    error: type[nugen_client.NugenError],
) -> None:
    nugen_emulator.inject(**fault)
    with pytest.raises(error):
        complete(nugen_emulator, is_async=is_async, stream=True, max_retries=0)


@pytest.mark.parametrize(("is_async", "stream"), WAYS)
def test_timeout(nugen_emulator: NugenEmulator, is_async: bool, stream: bool) -> None:
    nugen_emulator.inject(delay=1.0)
    with pytest.raises(nugen_client.APITimeoutError):
        complete(nugen_emulator, is_async=is_async, stream=stream, max_retries=0, timeout=0.2)


@pytest.mark.parametrize("is_async", [False, True])
def test_json_answer_to_a_stream_request(nugen_emulator: NugenEmulator, is_async: bool) -> None:
    body = {
        "id": "x",
        "object": "text_completion",
        "model": "m",
        "choices": [{"index": 0, "text": "whole", "finish_reason": "length"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    nugen_emulator.inject(status=200, body=body)
    assert complete(nugen_emulator, is_async=is_async, stream=True) == "whole"


def test_a_response_without_choices_is_refused(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(status=200, body={"id": "x", "choices": []})
    with (
        sync_client(nugen_emulator) as client,
        pytest.raises(nugen_client.APIResponseValidationError, match="no choices"),
    ):
        client.completion(model="m", prompt="a")


# ------------------------------------------------------------------------ request rule


def test_completion_request_layers() -> None:
    request = completion_request(
        "Hi",
        {
            "model": "m",
            "temperature": 0.5,
            "max_tokens": None,
            "session_id": "s",
            "reasoning": None,
        },
        {"echo": True, "temperature": 2.0},
        {"temperature": 0.1, "provider": "p", "use_vision_endpoint": True, "formatted": True},
        ignore={"formatted"},
    )
    assert request == {
        "model": "m",
        "temperature": 0.1,
        "max_tokens": None,
        "prompt": "Hi",
        "session_id": "s",
        "provider": "p",
        "extra_body": {"echo": True},
    }


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_several_prompts_get_n_choices_each_by_index(
    nugen_emulator: NugenEmulator, is_async: bool
) -> None:
    params: dict[str, Any] = {"model": "m", "prompt": ("one two", "three"), "n": 2}

    async def run() -> TextCompletion:
        async with async_client(nugen_emulator) as client:
            return await client.completion(**params)

    if is_async:
        answer = asyncio.run(run())
    else:
        with sync_client(nugen_emulator) as client:
            answer = client.completion(**params)
    assert [c.index for c in answer.choices] == [0, 1, 2, 3]
    assert '"three"' in answer.choices[2].text
    sent = nugen_emulator.last_request
    assert sent is not None
    assert sent.body["prompt"] == ["one two", "three"]


def test_max_tokens_zero_is_accepted(nugen_emulator: NugenEmulator) -> None:
    with sync_client(nugen_emulator) as client:
        answer = client.completion(model="m", prompt=PROMPT, max_tokens=0)
    assert answer.choices[0].text == ""
    sent = nugen_emulator.last_request
    assert sent is not None
    assert sent.body["max_tokens"] == 0


def test_a_choice_missing_for_a_prompt_is_an_error(nugen_emulator: NugenEmulator) -> None:
    body = {"choices": [{"index": 0, "text": "x"}, {"index": 2, "text": "y"}]}
    nugen_emulator.inject(status=200, body=body)
    with (
        sync_client(nugen_emulator) as client,
        pytest.raises(nugen_client.APIResponseValidationError, match=r"indexes \[0, 2\]"),
    ):
        client.completion(model="m", prompt=["a", "b"])
