"""NugenClient and AsyncNugenClient over a mocked transport: requests, retries, errors."""

from __future__ import annotations

import asyncio
import base64
import copy
import email.utils
import enum
import functools
import http
import json
import pickle
import re
import struct
import time
import warnings
from typing import Any

import httpx
import pytest

import nugen_client
from nugen_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncNugenClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    NugenClient,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from nugen_client._errors import make_status_error
from nugen_emulator import NugenEmulator
from tests.support.harness import API_KEY, USER, Harness, Reply, completion_body

OK = Reply(json=completion_body())

# ------------------------------------------------------------------------ request shape


def test_request_carries_only_what_the_caller_set(kind: str) -> None:
    h = Harness(kind, [OK])
    reply = h.chat(temperature=0.2, max_tokens=None, top_k=None)
    assert reply.choices[0].message.content == "Hi there"
    assert h.bodies == [{"model": "nugen-flash-instruct", "messages": USER, "temperature": 0.2}]
    request = h.requests[0]
    assert request.url == "https://api.example.test/api/v3/inference/chat/completions"
    assert request.method == "POST"


def test_an_unknown_keyword_is_sent_unless_it_looks_like_a_credential(kind: str) -> None:
    # Unknown keywords are body fields: a key given under a wrong name would be sent there.
    h = Harness(kind, [OK])
    h.chat(seed=3)
    assert h.bodies[0]["seed"] == 3
    for name in ("api_key", "openai_api_key", "accessToken", "max_token", "headers"):
        with pytest.raises(InvalidInputError, match=name) as caught:
            h.chat(**{name: "sk-secret"})
        assert "sk-secret" not in str(caught.value)
        with pytest.raises(InvalidInputError, match=name) as caught:
            h.chat(extra_body={name: "sk-secret"})
        assert "sk-secret" not in str(caught.value)
    # A call keyword's name is a body field inside extra_body: the header there is not sent.
    with pytest.raises(InvalidInputError, match="extra_headers"):
        h.chat(extra_body={"extra_headers": {"X-Api-Key": "sk-secret"}})
    assert len(h.requests) == 1


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ({"extra_headers": {"bad name": "x"}}, "invalid header name 'bad name'"),
        ({"seed": object()}, "request field 'seed' cannot be sent as JSON"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://"}}],
                    }
                ]
            },
            "image URL has no host",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,"}}
                        ],
                    }
                ]
            },
            "data URL holds no image bytes",
        ),
    ],
    ids=["header name", "unsendable", "no host", "no bytes"],
)
def test_a_call_that_cannot_be_sent_is_refused_before_any_request(
    kind: str, call: dict[str, Any], error: str
) -> None:
    h = Harness(kind, [OK])
    with pytest.raises(InvalidInputError, match=re.escape(error)):
        h.chat(**call)
    assert h.requests == []


@pytest.mark.parametrize("field", ["extra_body", "extra_headers"])
@pytest.mark.parametrize("value", ["abc", [("a", "1")], 5])
def test_extra_fields_that_are_not_dicts_are_refused(kind: str, field: str, value: Any) -> None:
    h = Harness(kind, [OK])
    with pytest.raises(InvalidInputError, match=f"{field} must be a dict"):
        h.chat(**{field: value})
    assert h.requests == []


def test_every_documented_parameter_reaches_the_body(kind: str) -> None:
    h = Harness(kind, [OK])
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    h.chat(
        max_tokens=50,
        prompt_truncate_len=1000,
        temperature=0,
        top_p=0.9,
        top_k=40,
        n=2,
        stop=["END"],
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        reasoning={"effort": "low", "max_tokens": 100, "exclude": False, "enabled": True},
        response_format={"type": "json_object"},
        extra_body={"custom_field": [1, 2]},
    )
    body = h.bodies[0]
    assert body["max_tokens"] == 50
    assert body["prompt_truncate_len"] == 1000
    assert body["temperature"] == 0
    assert body["top_p"] == 0.9
    assert body["top_k"] == 40
    assert body["n"] == 2
    assert body["stop"] == ["END"]
    assert body["tools"] == tools
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["reasoning"] == {
        "effort": "low",
        "max_tokens": 100,
        "exclude": False,
        "enabled": True,
    }
    assert body["response_format"] == {"type": "json_object"}
    assert body["custom_field"] == [1, 2]


def test_headers(kind: str) -> None:
    h = Harness(
        kind,
        [OK],
        session_id="client-session",
        provider="fwai",
        default_headers={"X-Team": "search"},
    )
    h.chat()
    h.chat(session_id="call-session", extra_headers={"X-Trace": "t1"})
    first, second = h.requests
    assert first.headers["authorization"] == f"Bearer {API_KEY}"
    assert first.headers["user-agent"].startswith(f"nugen-integrations/{nugen_client.__version__}")
    assert first.headers["x-session-id"] == "client-session"
    assert first.headers["x-provider"] == "fwai"
    assert first.headers["x-team"] == "search"
    assert first.headers["content-type"] == "application/json"
    assert first.headers["accept-encoding"] == "gzip, deflate"
    assert second.headers["x-session-id"] == "call-session"
    assert second.headers["x-trace"] == "t1"
    assert "x-trace" not in first.headers


def test_an_empty_header_value_is_sent_as_given(kind: str) -> None:
    h = Harness(kind, [OK, OK], default_headers={"X-Api-Key": ""})
    h.chat()
    h.chat(extra_headers={"X-Gateway-Token": ""})
    assert h.requests[0].headers["x-api-key"] == ""
    assert h.requests[1].headers["x-gateway-token"] == ""


def test_a_header_in_another_letter_case_replaces_ours(kind: str) -> None:
    # Header names are case-insensitive: a header given as "user-agent" or "x-session-id"
    # takes the place of the client's own, never goes out beside it.
    h = Harness(
        kind,
        [OK],
        session_id="client-session",
        default_headers={"user-agent": "my-app/1", "x-session-id": "default-session"},
    )
    h.chat()
    h.chat(session_id="call-session", extra_headers={"X-SESSION-ID": "extra-session"})
    h.stream(extra_headers={"accept": "application/x-ndjson"})
    first, second, third = h.requests
    assert first.headers.get_list("user-agent") == ["my-app/1"]
    assert first.headers.get_list("x-session-id") == ["default-session"]
    assert second.headers.get_list("x-session-id") == ["extra-session"]
    assert third.headers.get_list("accept") == ["application/x-ndjson"]
    # A stream's own Accept replaces a default one given in another letter case.
    h = Harness(kind, [OK], default_headers={"accept": "application/json"})
    h.stream()
    assert h.requests[0].headers.get_list("accept") == ["text/event-stream"]


def test_no_session_or_provider_header_unless_set(kind: str) -> None:
    h = Harness(kind, [OK])
    h.chat()
    assert "x-session-id" not in h.requests[0].headers
    assert "x-provider" not in h.requests[0].headers


@pytest.mark.parametrize("value", [0, False, 0.0])
def test_a_session_or_provider_that_is_false_but_not_a_string_is_refused(
    kind: str, value: object
) -> None:
    h = Harness(kind, [OK, OK])
    for option in ("session_id", "provider"):
        with pytest.raises(InvalidInputError, match=f"{option} must be a string"):
            h.chat(**{option: value})
        with pytest.raises(InvalidInputError, match=f"{option} must be a string"):
            Harness(kind, [OK], **{option: value})
    h.chat(session_id="", provider="")  # empty: none sent
    assert "x-session-id" not in h.requests[0].headers
    assert "x-provider" not in h.requests[0].headers


def test_vision_endpoint(kind: str) -> None:
    h = Harness(kind, [OK])
    h.chat(endpoint="vision", model="nugen-flash-vision")
    assert h.requests[0].url.path == "/api/v3/inference/chat/vision"


def test_stream_request_asks_for_usage(kind: str) -> None:
    from tests.support.harness import chunk, sse

    h = Harness(kind, [Reply.stream(sse(chunk("Hi", "stop")))])
    h.stream()
    assert h.bodies[0]["stream"] is True
    assert h.bodies[0]["stream_options"] == {"include_usage": True}
    assert h.requests[0].headers["accept"] == "text/event-stream"
    h2 = Harness(kind, [Reply.stream(sse(chunk("Hi", "stop")))])
    h2.stream(include_usage=False)
    assert "stream_options" not in h2.bodies[0]


def test_env_configuration(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUGEN_API_KEY", "env-key-12345")
    monkeypatch.setenv("NUGEN_BASE_URL", "https://env.example.test/v1/")
    h = Harness(kind, [OK], api_key=None, base_url=None)
    h.chat()
    assert h.requests[0].headers["authorization"] == "Bearer env-key-12345"
    assert str(h.requests[0].url) == "https://env.example.test/v1/chat/completions"


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUGEN_BASE_URL", raising=False)
    client = NugenClient(api_key="k" * 8)
    assert client.base_url == "https://api.nugen.in/api/v3/inference"


def test_missing_api_key_is_a_local_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUGEN_API_KEY", raising=False)
    with pytest.raises(InvalidInputError, match="NUGEN_API_KEY"):
        NugenClient()
    with pytest.raises(InvalidInputError, match="NUGEN_API_KEY"):
        AsyncNugenClient()


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://x",
        "not a url",
        "https://",
        # URLs httpx cannot parse: refused here, not by httpx (with its own error) at the
        # first call.
        "https://host:abc/v1",
        "https://[::1/v1",
        "https://xn--/v1",
        # urlsplit skips the space that httpx refuses (a connection error, retried) or
        # sends as %20 (a 404 naming another path): a pasted URL's stray blank.
        " https://api.example.com/v1",
        "https://api.example.com/v1 ",
        "https://api.example.com/v1\t",
    ],
)
def test_bad_base_url(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="base_url"):
        NugenClient(api_key="k" * 8, base_url=bad)


def test_an_unparsable_base_url_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidInputError, match="base_url") as caught:
        NugenClient(api_key="k" * 8, base_url="https://user:hunter22@[::1/v1")
    assert "hunter22" not in str(caught.value)


@pytest.mark.parametrize("cls", [NugenClient, AsyncNugenClient])
def test_a_pool_of_no_connections_is_refused(cls: type) -> None:
    # Every call would wait forever for a connection.
    with pytest.raises(InvalidInputError, match="max_connections"):
        cls(api_key="k" * 8, limits=httpx.Limits(max_connections=0))
    assert cls(api_key="k" * 8, limits=httpx.Limits(max_connections=None)).limits


@pytest.mark.parametrize("cls", [NugenClient, AsyncNugenClient])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", "10"),
        ("timeout", float("nan")),
        ("timeout", True),
        ("deadline", "5"),
        ("max_retries", "2"),
        ("max_retries", 1.5),
    ],
)
def test_settings_that_are_not_numbers_are_refused_naming_them(
    cls: type, name: str, value: object
) -> None:
    with pytest.raises(InvalidInputError, match=name):
        cls(api_key="k" * 8, **{name: value})


# --------------------------------------------------------------------- local validation


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"messages": []}, ["messages"]),
        ({"temperature": 2.5}, ["temperature"]),
        ({"temperature": -0.1}, ["temperature"]),
        ({"model": ""}, ["model"]),
        ({"messages": [{"role": "user", "content": "x", "name": "has space"}]}, ["name"]),
        ({"messages": [{"role": "user", "content": "x", "name": "n" * 65}]}, ["name"]),
        ({"messages": [{"role": "robot", "content": "x"}]}, ["role"]),
        ({"messages": [{"role": "tool", "content": "x"}]}, ["tool_call_id"]),
        ({"messages": [{"role": "user"}]}, ["content"]),
        ({"messages": [{"role": "assistant"}]}, ["content or tool_calls"]),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}],
                    }
                ]
            },
            ["image_url.url", "https://"],
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}
                        ],
                    }
                ]
            },
            ["base64"],
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:text/plain;base64,aGk="},
                            }
                        ],
                    }
                ]
            },
            ["not an image"],
        ),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, ["input_audio"]),
        ({"reasoning": {"effort": "extreme"}}, ["reasoning.effort"]),
        ({"reasoning": {"efort": "high"}}, ["reasoning.efort"]),
        ({"top_p": 1.5}, ["top_p"]),
        ({"n": 0}, ["n"]),
        ({"max_tokens": 0}, ["max_tokens"]),
        ({"tool_choice": "required"}, ["no tools"]),
        (
            {
                "tools": [{"type": "function", "function": {"name": "a"}}],
                "tool_choice": {"type": "function", "function": {"name": "b"}},
            },
            ["'b' is not one of the bound tools (a)"],
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name!"}}]},
            ["tools[0].function.name"],
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "a"}}], "tool_choice": "a"},
            ["tool_choice: Input should be 'auto', 'none' or 'required'"],
        ),
        ({"reasoning": {"Effort": "high"}}, ["reasoning.Effort: Extra inputs are not permitted"]),
    ],
)
def test_bad_input_is_refused_before_any_request(kind: str, kwargs: dict, names: list[str]) -> None:
    h = Harness(kind, [OK])
    with pytest.raises(InvalidInputError) as info:
        h.chat(**kwargs)
    assert isinstance(info.value, ValueError)
    for name in names:
        assert name in str(info.value)
    assert h.requests == []


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"timeout": "5"}, ["timeout"]),
        ({"on_retry": 5}, ["on_retry"]),
        ({"stream": True}, ["stream_chat_completion"]),
    ],
)
def test_bad_call_options_are_refused_before_any_request(
    kind: str, kwargs: dict, names: list[str]
) -> None:
    h = Harness(kind, [Reply(status=503, json={}), OK])
    with pytest.raises(InvalidInputError) as info:
        h.chat(**kwargs)
    for name in names:
        assert name in str(info.value)
    assert h.requests == []


async def _async_on_retry(state: Any) -> None:
    return None


class _AsyncHandler:
    async def __call__(self, state: Any) -> None:
        return None

    async def on_retry(self, state: Any) -> None:
        return None


@pytest.mark.parametrize(
    "on_retry",
    [
        _async_on_retry,
        _AsyncHandler().on_retry,
        _AsyncHandler(),
        functools.partial(_async_on_retry),
    ],
    ids=["async-def", "async-method", "async-call", "partial"],
)
def test_the_sync_client_refuses_an_async_on_retry_before_any_request(on_retry: Any) -> None:
    h = Harness("sync", [Reply(status=503, json={}), OK])
    with pytest.raises(InvalidInputError, match=r"on_retry .*async def.*AsyncNugenClient"):
        h.chat(on_retry=on_retry)
    with pytest.raises(InvalidInputError, match="AsyncNugenClient"):
        h.client.stream_chat_completion(model="m", messages=USER, on_retry=on_retry)
    assert h.requests == []
    # The async client awaits it.
    h = Harness("async", [Reply(status=503, json={}), OK])
    assert h.chat(on_retry=on_retry).choices
    assert len(h.requests) == 2


def test_the_sync_client_refuses_an_async_sleep() -> None:
    with pytest.raises(InvalidInputError, match=r"sleep .*AsyncNugenClient"):
        NugenClient(api_key="k" * 8, base_url="https://x.test", sleep=_async_on_retry)
    AsyncNugenClient(api_key="k" * 8, base_url="https://x.test", sleep=_async_on_retry)


def test_the_async_client_takes_a_plain_sleep_as_it_takes_a_plain_on_retry() -> None:
    # Either kind of function passes the constructor's check: a plain one must not fail
    # at the first retry, after a request already failed, with "NoneType can't be used in
    # 'await' expression".
    slept: list[float] = []
    h = Harness("async", [Reply(status=503, json={}, headers={"retry-after": "0"}), OK])
    h.client = AsyncNugenClient(
        api_key="k" * 8,
        base_url="https://x.test",
        http_client=h.client._injected,
        sleep=slept.append,
    )
    assert h.chat().choices
    assert slept == [0.0]


def test_stream_input_is_validated_when_called_not_when_iterated() -> None:
    client = NugenClient(api_key="k" * 8, base_url="https://x.test")
    with pytest.raises(InvalidInputError):
        client.stream_chat_completion(model="m", messages=[])
    aclient = AsyncNugenClient(api_key="k" * 8, base_url="https://x.test")
    with pytest.raises(InvalidInputError):
        aclient.stream_chat_completion(model="m", messages=[])


def test_data_urls_in_any_letter_case_are_sent_in_lower_case(kind: str) -> None:
    h = Harness(kind, [OK])
    urls = ["DATA:IMAGE/PNG;base64,iVBORw0KGgo=", "data:image/png;BASE64,iVBORw0KGgo="]
    content = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    h.chat(messages=[{"role": "user", "content": content}])
    sent = [part["image_url"]["url"] for part in h.bodies[0]["messages"][0]["content"]]
    assert sent == ["data:image/png;base64,iVBORw0KGgo="] * 2


def test_line_wrapped_base64_is_sent_unwrapped_and_garbage_still_refused(kind: str) -> None:
    h = Harness(kind, [OK])
    wrapped = "data:image/png;base64,iVBORw0K\r\n  Ggo=\n"
    h.chat(
        messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": wrapped}}]}
        ]
    )
    assert h.bodies[0]["messages"][0]["content"][0]["image_url"]["url"] == (
        "data:image/png;base64,iVBORw0KGgo="
    )
    for junk in ("iVBORw0K*Ggo=", "iVBORw0K\u00a0Ggo="):
        part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{junk}"}}
        with pytest.raises(InvalidInputError, match="not valid base64"):
            h.chat(messages=[{"role": "user", "content": [part]}])


def test_valid_images_pass(kind: str) -> None:
    h = Harness(kind, [OK])
    png = "data:image/png;base64,iVBORw0KGgo="
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": png}},
    ]
    h.chat(messages=[{"role": "user", "content": content}])
    assert h.bodies[0]["messages"][0]["content"] == content


def test_callers_messages_are_not_mutated(kind: str) -> None:
    h = Harness(kind, [OK])
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    snapshot = json.dumps(messages)
    h.chat(messages=messages, extra_body={"x": 1})
    assert json.dumps(messages) == snapshot


# -------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
    ],
)
def test_status_codes_map_to_the_contract_classes(kind: str, status: int, cls: type) -> None:
    h = Harness(
        kind,
        [Reply(status=status, json={"detail": "nope"}, headers={"x-request-id": "req-9"})],
        max_retries=0,
    )
    with pytest.raises(cls) as info:
        h.chat()
    error = info.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.body == {"detail": "nope"}
    assert error.request_id == "req-9"
    assert "nope" in str(error)
    assert "req-9" in str(error)


def test_422_detail_list_names_each_field(kind: str) -> None:
    detail = [
        {
            "loc": ["body", "messages", 0, "name"],
            "msg": "string does not match regex",
            "type": "value_error",
        },
        {
            "loc": ["body", "temperature"],
            "msg": "ensure this value is less than or equal to 2",
            "type": "x",
        },
    ]
    h = Harness(kind, [Reply(status=422, json={"detail": detail})])
    with pytest.raises(UnprocessableEntityError) as info:
        h.chat()
    message = str(info.value)
    assert "body.messages.0.name: string does not match regex" in message
    assert "body.temperature: ensure this value is less than or equal to 2" in message
    assert len(h.requests) == 1  # never retried


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "model overloaded", "type": "server_error"}}, "model overloaded"),
        ({"detail": "Invalid API key"}, "Invalid API key"),
        ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
    ],
)
def test_error_body_shapes(kind: str, body: object, expected: str) -> None:
    reply = (
        Reply(status=400, json=body)
        if isinstance(body, dict)
        else Reply(status=400, body=str(body).encode())
    )
    h = Harness(kind, [reply])
    with pytest.raises(BadRequestError, match=expected.replace("<", ".").replace(">", ".")):
        h.chat()


def test_api_key_never_in_error_text(kind: str) -> None:
    echoed = {"detail": f"key {API_KEY} is revoked"}
    h = Harness(kind, [Reply(status=401, json=echoed)])
    with pytest.raises(AuthenticationError) as info:
        h.chat()
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)
    assert API_KEY not in json.dumps(info.value.body)
    assert "revoked" in str(info.value)


def test_malformed_success_body(kind: str) -> None:
    h = Harness(
        kind, [Reply(body=b"this is not json", headers={"content-type": "application/json"})]
    )
    with pytest.raises(nugen_client.APIResponseValidationError, match="ChatCompletion"):
        h.chat()


def test_response_without_choices_is_an_error(kind: str) -> None:
    h = Harness(kind, [Reply(json={"id": "x", "choices": []})])
    with pytest.raises(nugen_client.APIResponseValidationError, match="no choices"):
        h.chat()


# ------------------------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_then_succeed(kind: str, status: int) -> None:
    h = Harness(
        kind, [Reply(status=status, json={"detail": "busy"}), Reply(status=status, json={}), OK]
    )
    reply = h.chat()
    assert reply.choices[0].message.content == "Hi there"
    assert len(h.requests) == 3
    assert len(h.sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_never_retried(kind: str, status: int) -> None:
    h = Harness(kind, [Reply(status=status, json={"detail": "no"}), OK])
    with pytest.raises(APIStatusError):
        h.chat()
    assert len(h.requests) == 1
    assert h.sleeps == []


def test_exhausted_retries_raise_the_last_error(kind: str) -> None:
    h = Harness(
        kind,
        [
            Reply(
                status=429,
                json={"detail": "slow down"},
                headers={"x-request-id": "r-1", "retry-after": "1"},
            )
        ],
        max_retries=3,
    )
    with pytest.raises(RateLimitError) as info:
        h.chat()
    assert len(h.requests) == 4
    assert h.sleeps == [1.0, 1.0, 1.0]
    assert info.value.status_code == 429
    assert info.value.body == {"detail": "slow down"}
    assert info.value.request_id == "r-1"


def test_retry_after_http_date(kind: str) -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    h = Harness(kind, [Reply(status=503, json={}, headers={"retry-after": when}), OK])
    h.chat()
    assert len(h.sleeps) == 1
    assert 3.0 <= h.sleeps[0] <= 5.0


def test_retry_after_is_capped(kind: str) -> None:
    h = Harness(kind, [Reply(status=429, json={}, headers={"retry-after": "86400"}), OK])
    h.chat()
    assert h.sleeps == [60.0]


def test_backoff_grows_exponentially_with_jitter(kind: str) -> None:
    h = Harness(kind, [Reply(status=500, json={})], max_retries=4)
    with pytest.raises(InternalServerError):
        h.chat()
    assert len(h.sleeps) == 4
    for attempt, delay in enumerate(h.sleeps):
        base = min(0.5 * 2**attempt, 8.0)
        assert base / 2 <= delay <= base


def test_max_retries_zero(kind: str) -> None:
    h = Harness(kind, [Reply(status=503, json={}), OK], max_retries=0)
    with pytest.raises(InternalServerError):
        h.chat()
    assert len(h.requests) == 1


def test_connection_errors_are_retried(kind: str) -> None:
    h = Harness(kind, [Reply(raise_exc=httpx.ConnectError("refused")), OK])
    assert h.chat().choices[0].message.content == "Hi there"
    assert len(h.requests) == 2


def test_connection_error_after_retries(kind: str) -> None:
    h = Harness(kind, [Reply(raise_exc=httpx.ConnectError("refused"))])
    with pytest.raises(APIConnectionError, match="refused") as info:
        h.chat()
    assert not isinstance(info.value, APITimeoutError)
    assert len(h.requests) == 3


@pytest.mark.parametrize("link", ["__cause__", "__context__"])
def test_a_connection_error_without_a_message_names_its_cause(kind: str, link: str) -> None:
    # What httpx raises (async) when the server reset a kept-alive connection: no message
    # of its own, the reason only in its cause (explicit, or the error being handled).
    error = httpx.ReadError("")
    setattr(error, link, ConnectionResetError(104, "Connection reset by peer"))
    h = Harness(kind, [Reply(raise_exc=error)], max_retries=0)
    with pytest.raises(APIConnectionError, match=r"\(ReadError: .*Connection reset by peer\)"):
        h.chat()


def test_a_connection_error_never_shows_the_key(kind: str) -> None:
    h = Harness(kind, [Reply(raise_exc=httpx.ConnectError(f"proxy refused {API_KEY}"))])
    with pytest.raises(APIConnectionError) as info:
        h.chat()
    assert "proxy refused" in str(info.value)
    assert API_KEY not in str(info.value)


def test_timeouts_raise_api_timeout_error(kind: str) -> None:
    h = Harness(kind, [Reply(raise_exc=httpx.ReadTimeout("slow"))], max_retries=1)
    with pytest.raises(APITimeoutError):
        h.chat()
    assert len(h.requests) == 2


def test_on_retry_callback_gets_tenacity_state(kind: str) -> None:
    # What OnRetry's docstring promises: the failed attempt, its error, the coming wait.
    seen = []
    h = Harness(kind, [Reply(status=429, json={}, headers={"retry-after": "1.5"}), OK])
    h.chat(
        on_retry=lambda state: seen.append(
            (state.attempt_number, type(state.outcome.exception()), state.upcoming_sleep)
        )
    )
    assert seen == [(1, RateLimitError, 1.5)]


def test_the_retry_loop_starts_only_after_a_retryable_failure(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    loops = []
    real = nugen_client._client.retrying

    def counted(*args: Any) -> Any:
        loops.append(args)
        return real(*args)

    monkeypatch.setattr(nugen_client._client, "retrying", counted)
    Harness(kind, [OK]).chat()
    with pytest.raises(nugen_client.BadRequestError):
        Harness(kind, [Reply(status=400, json={})]).chat()
    assert loops == []
    seen = []
    h = Harness(kind, [Reply(status=503, json={}), Reply(status=503, json={}), OK])
    h.chat(on_retry=lambda state: seen.append(state.attempt_number))
    assert len(loops) == 1
    assert seen == [1, 2]
    assert len(h.requests) == 3


def test_per_call_timeout_reaches_the_request(kind: str) -> None:
    h = Harness(kind, [OK])
    h.chat(timeout=3.5)
    assert h.requests[0].extensions["timeout"]["read"] == 3.5


# ----------------------------------------------------------------------------- embeddings


def test_embeddings_in_input_order(kind: str) -> None:
    body = {
        "data": [{"embedding": [0.0, 1.0], "index": 1}, {"embedding": [1.0, 0.0], "index": 0}],
        "model": "nugen-flash-embed",
        "usage": {"total_tokens": 4},
    }
    h = Harness(kind, [Reply(json=body)])
    result = h.embed(input=["a", "b"], dimensions=2)
    assert result.embeddings == [[1.0, 0.0], [0.0, 1.0]]
    assert h.bodies[0] == {"model": "nugen-flash-embed", "input": ["a", "b"], "dimensions": 2}
    assert h.requests[0].url.path.endswith("/embeddings")


def test_embeddings_count_mismatch_is_an_error(kind: str) -> None:
    body = {"data": [{"embedding": [0.0], "index": 0}], "model": "m"}
    h = Harness(kind, [Reply(json=body)])
    with pytest.raises(nugen_client.APIResponseValidationError, match="asked for 2"):
        h.embed(input=["a", "b"])


def test_base64_embeddings_are_read_as_vectors(kind: str) -> None:
    # encoding_format="base64" (what the OpenAI SDK asks for): little-endian float32.
    packed = [base64.b64encode(struct.pack("<3f", *v)).decode() for v in ([0.5, -1, 0], [2, 0, 1])]
    body = {"data": [{"embedding": packed[1], "index": 1}, {"embedding": packed[0], "index": 0}]}
    h = Harness(kind, [Reply(json=body)])
    result = h.embed(input=["a", "b"], encoding_format="base64")
    assert result.embeddings == [[0.5, -1.0, 0.0], [2.0, 0.0, 1.0]]
    assert h.bodies[0]["encoding_format"] == "base64"


def test_base64_embeddings_of_a_broken_length_are_refused(kind: str) -> None:
    body = {"data": [{"embedding": "AAAAAAA=", "index": 0}], "model": "m"}  # 5 bytes
    h = Harness(kind, [Reply(json=body)])
    with pytest.raises(nugen_client.APIResponseValidationError, match="embedding"):
        h.embed(input="a")


def test_embeddings_validation(kind: str) -> None:
    h = Harness(kind, [OK])
    with pytest.raises(InvalidInputError, match="input"):
        h.embed(input=[])
    with pytest.raises(InvalidInputError, match="dimensions"):
        h.embed(input="a", dimensions=0)
    assert h.requests == []


# ------------------------------------------------------------------ lifecycle and secrets


def test_repr_and_str_hide_the_key() -> None:
    client = NugenClient(api_key=API_KEY, base_url="https://x.test")
    aclient = AsyncNugenClient(api_key=API_KEY, base_url="https://x.test")
    for obj in (client, aclient, client.api_key):
        assert API_KEY not in repr(obj)
        assert API_KEY not in str(obj)
    assert client.api_key.get_secret_value() == API_KEY


def test_debug_logs_redact_the_key(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="nugen_client")
    h = Harness(kind, [Reply(status=429, json={"detail": API_KEY}), OK])
    h.chat()
    assert caplog.records, "expected debug and retry log lines"
    assert API_KEY not in caplog.text
    assert "***" in caplog.text


@pytest.mark.parametrize("cls", [NugenClient, AsyncNugenClient])
def test_plain_http_to_a_remote_host_is_refused(cls: type) -> None:
    with pytest.raises(InvalidInputError, match="allow_insecure_http") as info:
        cls(api_key="k" * 8, base_url="http://insecure.example.test/v1")
    assert "k" * 8 not in str(info.value)


def test_plain_http_opt_in_warns_once() -> None:
    nugen_client._input._warned_hosts.discard("insecure.example.test")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        NugenClient(
            api_key="k" * 8, base_url="http://insecure.example.test/v1", allow_insecure_http=True
        )
        NugenClient(
            api_key="k" * 8, base_url="http://insecure.example.test/v1", allow_insecure_http=True
        )
        NugenClient(api_key="k" * 8, base_url="http://127.0.0.1:8000/v1")
        NugenClient(api_key="k" * 8, base_url="http://localhost:8000/v1")
        NugenClient(api_key="k" * 8, base_url="http://[::1]:8000/v1")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert "insecure.example.test" in messages[0]


def _chat_on_the_clients_own_pool(kind: str, emulator: NugenEmulator) -> None:
    options = {"api_key": emulator.api_key, "base_url": emulator.base_url, "max_retries": 0}
    if kind == "sync":
        with NugenClient(**options) as client:
            client.chat_completion(model="m", messages=USER)
        return

    async def call() -> None:
        async with AsyncNugenClient(**options) as client:
            await client.chat_completion(model="m", messages=USER)

    asyncio.run(call())


def test_redirects_are_not_followed_so_the_key_stays_home(
    kind: str, nugen_emulator: NugenEmulator, nugen_emulator_openai: NugenEmulator
) -> None:
    """The client's own pool (no injected ``http_client``) against two real loopback
    servers: the first redirects to the second, which would answer if it were asked."""
    elsewhere = f"{nugen_emulator_openai.base_url}/chat/completions"
    nugen_emulator.inject(status=307, headers={"Location": elsewhere})
    with pytest.raises(APIStatusError) as info:
        _chat_on_the_clients_own_pool(kind, nugen_emulator)
    assert info.value.status_code == 307
    assert f"redirects to {elsewhere}" in str(info.value)  # where to point base_url
    assert [request.path for request in nugen_emulator.requests] == [
        "/api/v3/inference/chat/completions"
    ]
    assert nugen_emulator_openai.requests == []


def test_the_clients_own_pool_keeps_no_cookies(nugen_emulator: NugenEmulator) -> None:
    """Its requests never carry cookies, so none is taken from an answer either."""
    cookie = {"Set-Cookie": "sid=abc; Path=/"}
    nugen_emulator.inject(status=200, body=completion_body(), headers=cookie, times=2)
    options = {"api_key": nugen_emulator.api_key, "base_url": nugen_emulator.base_url}
    with NugenClient(**options) as client:
        client.chat_completion(model="m", messages=USER)
        client.chat_completion(model="m", messages=USER)
        assert not client._client().cookies
    assert [r.headers.get("cookie") for r in nugen_emulator.requests] == [None, None]


def test_injected_client_that_follows_redirects_drops_the_key_cross_origin() -> None:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.example.test":
            return httpx.Response(307, headers={"location": "https://elsewhere.example.test/x"})
        return httpx.Response(200, json=completion_body())

    http = httpx.Client(transport=httpx.MockTransport(respond), follow_redirects=True)
    client = NugenClient(api_key=API_KEY, base_url="https://api.example.test/v1", http_client=http)
    client.chat_completion(model="m", messages=USER)
    assert seen[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert seen[1].url.host == "elsewhere.example.test"
    assert "authorization" not in seen[1].headers


def test_injected_http_client_is_used_and_not_closed() -> None:
    calls = []
    http = httpx.Client(
        transport=httpx.MockTransport(
            lambda r: calls.append(r) or httpx.Response(200, json=completion_body())
        )
    )
    with NugenClient(api_key="k" * 8, base_url="https://x.test", http_client=http) as client:
        client.chat_completion(model="m", messages=USER)
    assert len(calls) == 1
    assert not http.is_closed
    http.close()


def test_owned_client_is_reused_and_closed() -> None:
    client = NugenClient(api_key="k" * 8, base_url="https://x.test")
    first = client._client()
    assert client._client() is first
    client.close()
    assert first.is_closed


async def test_async_injected_client_is_not_closed() -> None:
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=completion_body()))
    )
    async with AsyncNugenClient(
        api_key="k" * 8, base_url="https://x.test", http_client=http
    ) as client:
        await client.chat_completion(model="m", messages=USER)
    assert not http.is_closed
    await http.aclose()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([[0, [1.0]], [1, [2.0]], [0, [3.0]], [1, [4.0]]], "indices must be 0..3"),
        ([[0, [1.0]], [0, [2.0]]], "indices must be 0..1"),
        ([[1, [1.0]], [2, [2.0]]], "indices must be 0..1"),
        ([[0, [1.0]], [1, [2.0, 3.0]]], "differ in length"),
        ([[0, [1.0]], [1, [float("nan")]]], "finite"),
        ([[0, [1.0]], [1, [float("inf")]]], "finite"),
        ([[0, []], [1, []]], "empty"),
        # Read as 1.0 and 1.5 by a lax parse: a wrong vector, not an answer.
        ([[0, [1.0]], [1, [True]]], r"data\[1\]\.embedding\[0\]: Input should be a valid number"),
        ([[0, [1.0]], [1, ["1.5"]]], r"data\[1\]\.embedding\[0\]: Input should be a valid number"),
        # None: the item has no index.
        (
            [[None, [1.0]], [None, [2.0]]],
            "0..1 each once; 2 of them have no index",
        ),
        ([[0, [1.0]], [None, [2.0]]], "0..1 each once; 1 of them have no index"),
    ],
)
def test_vectors_that_cannot_be_matched_to_their_texts_are_refused(
    kind: str, data: list[list[Any]], problem: str
) -> None:
    items = [{"embedding": vector, "index": index} for index, vector in data]
    body = {
        "data": [{k: v for k, v in item.items() if v is not None} for item in items],
        "model": "m",
    }
    # Python's encoder writes NaN and Infinity as JSON parsers (and hosts) do.
    h = Harness(kind, [Reply(body=json.dumps(body).encode())])
    with pytest.raises(nugen_client.APIResponseValidationError, match=problem):
        h.embed(input=[str(n) for n in range(len(data))])


def test_a_single_vector_needs_no_index(kind: str) -> None:
    body = {"data": [{"embedding": [1, 2.0]}], "model": "m"}  # a whole number is a number
    assert Harness(kind, [Reply(json=body)]).embed(input="a").embeddings == [[1.0, 2.0]]


def test_an_empty_text_is_refused_before_any_request(kind: str) -> None:
    h = Harness(kind, [OK])
    with pytest.raises(InvalidInputError, match=r"input\[1\] is an empty string"):
        h.embed(input=["a", ""])
    with pytest.raises(InvalidInputError, match="empty string"):
        h.embed(input="")
    assert h.requests == []


@pytest.mark.parametrize("count", [-1, 2.5, "many"])
def test_token_counts_that_are_not_whole_and_non_negative_are_refused(
    kind: str, count: object
) -> None:
    body = completion_body()
    body["usage"] = {"prompt_tokens": count, "completion_tokens": 1, "total_tokens": 2}
    h = Harness(kind, [Reply(json=body)])
    with pytest.raises(nugen_client.APIResponseValidationError, match="prompt_tokens"):
        h.chat()


def test_large_and_null_token_counts_are_read(kind: str) -> None:
    body = completion_body()
    body["usage"] = {"prompt_tokens": 10**12, "completion_tokens": None, "total_tokens": 10**12}
    usage = Harness(kind, [Reply(json=body)]).chat().usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (10**12, 0)


def test_an_answer_of_the_text_endpoint_is_refused_on_chat(kind: str) -> None:
    body = {"id": "x", "choices": [{"index": 0, "text": "Hello", "finish_reason": "stop"}]}
    h = Harness(kind, [Reply(json=body)])
    with pytest.raises(nugen_client.APIResponseValidationError, match="another endpoint"):
        h.chat()


@pytest.mark.parametrize(
    "extra",
    [
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"response_format": {"type": "json_object"}},
        # Not among its fields either: the reply would run past the stop sequence.
        {"stop": ["Observation:"]},
    ],
)
def test_the_vision_endpoint_takes_no_tools(kind: str, extra: dict[str, Any]) -> None:
    h = Harness(kind, [OK])
    with pytest.raises(InvalidInputError, match="chat endpoint"):
        h.chat(endpoint="vision", model="nugen-flash-vision", **extra)
    assert h.requests == []


def test_a_tool_schema_that_contains_itself_is_refused_naming_the_tool(kind: str) -> None:
    parameters: dict[str, Any] = {"type": "object", "properties": {}}
    parameters["properties"]["child"] = parameters
    tool = {"type": "function", "function": {"name": "tree", "parameters": parameters}}
    h = Harness(kind, [OK])
    with pytest.raises(InvalidInputError, match=r"tool 'tree'.*circular"):
        h.chat(tools=[tool])
    assert h.requests == []


# Python 3.13's names for four statuses (the older ones stay as aliases).
_RENAMED_STATUSES = enum.IntEnum(
    "HTTPStatus",
    [
        ("CONTENT_TOO_LARGE", 413),
        ("URI_TOO_LONG", 414),
        ("RANGE_NOT_SATISFIABLE", 416),
        ("IM_A_TEAPOT", 418),
        ("UNPROCESSABLE_CONTENT", 422),
    ],
)


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (413, "413 Request Entity Too Large"),
        (414, "414 Request-URI Too Long"),
        (416, "416 Requested Range Not Satisfiable"),
        (418, "418 I'm a teapot"),
        (422, "422 Unprocessable Entity"),
        (520, "520 Error"),
        (599, "599 Error"),
    ],
)
def test_status_phrases_do_not_depend_on_the_interpreter(
    monkeypatch: pytest.MonkeyPatch, status: int, phrase: str
) -> None:
    monkeypatch.setattr(http, "HTTPStatus", _RENAMED_STATUSES)
    error = make_status_error(status, {"detail": "nope"})
    assert str(error) == f"{phrase}: nope"


@pytest.mark.parametrize("cls", [NugenClient, AsyncNugenClient])
def test_a_client_refuses_pickling_saying_what_to_do(cls: type) -> None:
    client = cls(api_key="k" * 8, base_url="https://x.test")
    for copy_it in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="create one in each worker process"):
            copy_it(client)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(json={"choices": "none"}, headers={"x-request-id": f"req-5 {API_KEY}"}),
        Reply(json={"choices": []}, headers={"x-request-id": f"req-5 {API_KEY}"}),
        Reply(body=b"x" * 2000, headers={"x-request-id": f"req-5 {API_KEY}"}),
    ],
    ids=["malformed", "no choices", "too large"],
)
def test_an_answer_that_cannot_be_read_carries_the_request_id(kind: str, reply: Reply) -> None:
    # A user reporting the bad answer to the service needs it, as with a status error.
    h = Harness(kind, [reply], max_response_bytes=1000)
    with pytest.raises(nugen_client.APIResponseValidationError) as caught:
        h.chat()
    assert caught.value.request_id == "req-5 ***"
    assert str(caught.value).endswith(" [request id: req-5 ***]")
    assert API_KEY not in str(caught.value)


def test_an_error_without_a_response_has_no_request_id(kind: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Harness(kind, [OK]).chat(extra_body="x")
    assert caught.value.request_id is None


@pytest.mark.parametrize(
    ("fail", "cls"),
    [(httpx.ReadError("reset"), APIConnectionError), (httpx.ReadTimeout("slow"), APITimeoutError)],
)
def test_an_answer_whose_body_breaks_carries_the_request_id(
    kind: str, fail: Exception, cls: type
) -> None:
    body = json.dumps(completion_body()).encode()
    headers = {"content-type": "application/json", "x-request-id": f"req-6 {API_KEY}"}
    h = Harness(kind, [Reply(body=body, headers=headers, piece=10, raise_exc=fail)], max_retries=0)
    with pytest.raises(cls) as caught:
        h.chat()
    assert caught.value.request_id == "req-6 ***"
    assert str(caught.value).endswith(" [request id: req-6 ***]")
