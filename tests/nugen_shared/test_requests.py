"""``nugen_shared.requests`` on its own: the functions both adapters call."""

from __future__ import annotations

import copy
import pickle
import re
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from nugen_client import InvalidInputError
from nugen_client.params import (
    ChatCompletionRequest,
    RequestOptions,
    check_no_credential_keywords,
    is_credential_header,
    redact_headers,
)
from nugen_shared.fields import ClientCache, ConnectionFields
from nugen_shared.requests import (
    _OPTIONS,
    CHAT_BODY_FIELDS,
    chat_request,
    completion_request,
    tool_choice_to_wire,
)

NAMED_A = {"type": "function", "function": {"name": "a"}}
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("choice", "names", "expected"),
    [
        (None, ["a"], None),
        (False, ["a"], None),
        ("auto", ["a"], "auto"),
        ("none", [], "none"),
        ("a", ["a", "b"], NAMED_A),
        (True, ["a"], NAMED_A),
        ("any", ["a"], NAMED_A),
        ("required", ["a"], NAMED_A),
        (True, ["a", "b"], "required"),
        ("any", ["a", "b"], "required"),
        (NAMED_A, ["a", "b"], NAMED_A),
        (NAMED_A, [], NAMED_A),  # nothing bound to check the name against
    ],
)
def test_tool_choice_forms(choice: Any, names: list[str], expected: Any) -> None:
    wire = tool_choice_to_wire(choice, names)
    assert wire == expected
    assert tool_choice_to_wire(wire, names) == expected  # its own result is a fixed point


def test_tool_choice_of_another_type_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="must be a str, bool or dict, got int"):
        tool_choice_to_wire(3, ["a"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("choice", "tools", "message"),
    [
        ("c", ["a", "b"], "'c' is not one of the bound tools (a, b)"),
        ("a", [], "no tools were given"),
        ({"type": "function", "function": {"name": "c"}}, ["a"], "'c' is not one of"),
    ],
)
def test_a_tool_choice_naming_no_bound_tool_is_refused_by_the_client(
    choice: Any, tools: list[str], message: str
) -> None:
    """Converted here, checked once by the client when it validates the request."""
    wire_tools = [{"type": "function", "function": {"name": name}} for name in tools]
    request = chat_request(
        MESSAGES, {"model": "m"}, {}, {"tools": wire_tools or None, "tool_choice": choice}
    )
    body = {k: v for k, v in request.items() if k in CHAT_BODY_FIELDS or k == "messages"}
    with pytest.raises(ValidationError, match=re.escape(message)):
        ChatCompletionRequest.model_validate(body)


def test_chat_request_layers_later_wins() -> None:
    fields = {"model": "m", "temperature": 0.5, "max_tokens": 10, "session_id": "s-field"}
    extra = {"max_tokens": 20, "user": "u"}
    call = {"temperature": 0.1, "seed": 3, "session_id": "s-call", "verbose": True}
    request = chat_request(MESSAGES, fields, extra, call, ignore={"verbose"})
    assert request["temperature"] == 0.1  # the call's keyword
    assert request["max_tokens"] == 10  # validated field; the extra body sends its own
    assert request["extra_body"] == {"max_tokens": 20, "user": "u", "seed": 3}
    assert request["session_id"] == "s-call"
    assert "verbose" not in request
    assert "verbose" not in request["extra_body"]
    # A call keyword replaces an extra body field of the same name (later wins).
    again = chat_request(MESSAGES, fields, extra, {"max_tokens": 5})
    assert again["max_tokens"] == 5
    assert "max_tokens" not in again["extra_body"]


@pytest.mark.parametrize("request_of", [chat_request, completion_request])
def test_a_misspelt_call_keyword_is_refused_in_both_frameworks_requests(request_of: Any) -> None:
    fields = {"model": "m", "temperature": None}
    payload = MESSAGES if request_of is chat_request else "hi"
    typos = [("temprature", "temperature"), ("sesion_id", "session_id"), ("message", "messages")]
    if request_of is completion_request:
        typos.append(("promt", "prompt"))
    for typo, meant in typos:
        with pytest.raises(InvalidInputError, match=f"did you mean '{meant}'"):
            request_of(payload, fields, {}, {typo: 1})
    # The framework's own keywords count as known; the extra body is sent as given, and so
    # are host fields that merely look like ours.
    with pytest.raises(InvalidInputError, match="did you mean 'tool_required'"):
        request_of(payload, fields, {}, {"tool_requird": True}, ignore={"tool_required"})
    extra = {"temprature": 1}
    call = {"models": ["a", "b"], "parallel_tool_calls": False, "seed": 3}
    request = request_of(payload, fields, extra, call, ignore={"allow_parallel_tool_calls"})
    assert request["extra_body"] == {**extra, **call}


@pytest.mark.parametrize(
    ("request_of", "payload", "names"),
    [(chat_request, MESSAGES, ["messages"]), (completion_request, "hi", ["prompt", "messages"])],
)
def test_the_calls_input_given_again_as_a_keyword_is_refused(
    request_of: Any, payload: Any, names: list[str]
) -> None:
    # Python refuses invoke("hi", messages=...) on its own; stream() and NugenLLM pass the
    # keyword on, where it must not vanish or replace the input in silence.
    for name in names:
        for layers in ({}, {name: "x"}), ({name: "x"}, {}):
            with pytest.raises(InvalidInputError, match=f"{name}= .*first argument"):
                request_of(payload, {"model": "m"}, *layers)


def test_the_layering_rule_handles_every_per_call_option_of_the_client() -> None:
    # One it did not know would be taken for the timeout (its last branch).
    assert set(RequestOptions.__annotations__) - {"on_retry"} == _OPTIONS


def test_a_provider_that_is_false_but_not_a_string_is_kept_for_the_client_to_refuse() -> None:
    for value in (0, False):
        assert chat_request(MESSAGES, {"model": "m"}, {}, {"provider": value})["provider"] is value
    for unset in (None, ""):
        assert "provider" not in chat_request(MESSAGES, {"model": "m"}, {}, {"provider": unset})


def test_chat_request_headers_timeout_and_endpoint() -> None:
    fields = {"model": "m", "provider": "p-field", "use_vision_endpoint": True}
    call = {"provider": "p-call", "extra_headers": {"X-Trace": "t"}, "timeout": None}
    request = chat_request(MESSAGES, fields, {}, call)
    assert request["provider"] == "p-call"
    assert request["extra_headers"] == {"X-Trace": "t"}
    assert request["endpoint"] == "vision"
    assert "timeout" not in request  # None per call: the model's own timeout
    assert chat_request(MESSAGES, fields, {}, {"timeout": 3.0})["timeout"] == 3.0


def test_chat_request_converts_tool_choice_against_its_tools() -> None:
    tools = [{"type": "function", "function": {"name": "a", "parameters": {}}}]
    request = chat_request(MESSAGES, {"model": "m"}, {}, {"tools": tools, "tool_choice": "any"})
    assert request["tool_choice"] == NAMED_A


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("X-Api-Key", True),
        ("api_key", True),
        ("X-Auth-Token", True),
        ("X-Client-Secret", True),
        ("Cookie", True),
        # Names with no telltale word: only an allowlist of safe names hides them.
        ("X-Authorization", True),
        ("X-Auth-Key", True),
        ("X-Access-Key", True),
        ("Ocp-Apim-Subscription-Key", True),
        ("Authorization-Extra", True),
        ("X-Trace", True),
        ("X-Session-ID", False),
        ("x-session-id", False),
        ("X-Provider", False),
        ("Content-Type", False),
        ("Accept", False),
        ("User-Agent", False),
    ],
)
def test_credential_header_names(name: str, secret: bool) -> None:
    assert is_credential_header(name) is secret
    assert (redact_headers({name: "v"})[name] == "***") is secret


class Model(ConnectionFields):
    pass


def test_connection_fields_pickle_the_key_but_not_the_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NUGEN_API_KEY", raising=False)
    model = Model(api_key="k-1", default_headers={"X-Api-Key": "h-1"})
    model._sync_client()
    clone = pickle.loads(pickle.dumps(model))
    assert clone.api_key == SecretStr("k-1")
    assert clone._clients.built_sync_client is None
    assert copy.deepcopy(model)._clients.built_sync_client is None
    assert copy.copy(model)._clients is not model._clients
    assert "k-1" not in repr(clone)
    assert "h-1" not in repr(clone)
    assert "api_key" not in model.model_dump()
    assert model.model_dump()["default_headers"] == {"X-Api-Key": "***"}


def test_the_client_cache_rebuilds_only_on_a_changed_setting() -> None:
    model = Model(api_key="k-1")
    first = model._sync_client()
    assert model._sync_client() is first
    model.session_id = "s-1"  # sent per call: no new client
    assert model._sync_client() is first
    model.timeout = 5
    assert model._sync_client() is not first
    assert model._async_client() is model._async_client()
    assert isinstance(model._clients, ClientCache)


def test_default_headers_changed_in_place_rebuild_the_clients() -> None:
    model = Model(api_key="k-1", default_headers={})
    first = model._sync_client()
    assert model._sync_client() is first  # an empty dict is no change
    assert model.default_headers is not None
    model.default_headers["X-Team"] = "a"
    second = model._sync_client()
    assert second is not first
    assert model._sync_client() is second


@pytest.mark.parametrize(
    "name",
    [
        "nugen_api_key",
        "openai_api_key",
        "apiKey",
        "api-key",
        "api_token",
        "accessToken",
        "client_secret",
        "password",
        "subscription_key",
        "auth",
        "credentials",
    ],
)
def test_credential_like_keywords_are_refused_naming_api_key(name: str) -> None:
    with pytest.raises(InvalidInputError, match="api_key") as raised:
        check_no_credential_keywords([name])
    assert repr(name) in str(raised.value)


@pytest.mark.parametrize(
    "name", ["api_key", "max_tokens", "prompt_cache_key", "top_k", "tool_choice", "session_id"]
)
def test_other_keywords_pass(name: str) -> None:
    check_no_credential_keywords([name])
