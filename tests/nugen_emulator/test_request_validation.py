"""Bad requests get the service's documented errors (FastAPI 422 detail lists, 401)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nugen_emulator import NugenEmulator

from .conftest import USER, chat

PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kg"
    "AAAABJRU5ErkJggg=="
)
TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def _detail(client: httpx.Client, body: Any, path: str = "/chat/completions") -> list[Any]:
    reply = client.post(path, json=body)
    assert reply.status_code == 422, reply.text
    assert reply.headers["x-request-id"]
    detail: list[Any] = reply.json()["detail"]
    return detail


def _locs(detail: list[Any]) -> list[list[Any]]:
    return [item["loc"] for item in detail]


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"messages": USER}, ["body", "model"], "missing"),
        ({"model": "m"}, ["body", "messages"], "missing"),
        ({"model": "m", "messages": []}, ["body", "messages"], "too_short"),
        ({"model": "m", "messages": "hi"}, ["body", "messages"], "list_type"),
        ({"model": 3, "messages": USER}, ["body", "model"], "string_type"),
        (
            {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
            ["body", "messages", 0, "role"],
            "literal_error",
        ),
        (
            {"model": "m", "messages": [{"role": "user"}]},
            ["body", "messages", 0, "content"],
            "missing",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x", "name": "John Doe"}]},
            ["body", "messages", 0, "name"],
            "string_pattern_mismatch",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x", "name": "a" * 65}]},
            ["body", "messages", 0, "name"],
            "string_pattern_mismatch",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "42"}]},
            ["body", "messages", 0, "tool_call_id"],
            "missing",
        ),
        (
            {"model": "m", "messages": USER, "temperature": 2.5},
            ["body", "temperature"],
            "less_than_equal",
        ),
        (
            {"model": "m", "messages": USER, "temperature": -0.1},
            ["body", "temperature"],
            "greater_than_equal",
        ),
        (
            {"model": "m", "messages": USER, "temperature": "hot"},
            ["body", "temperature"],
            "float_parsing",
        ),
        (
            {"model": "m", "messages": USER, "max_tokens": 0},
            ["body", "max_tokens"],
            "greater_than_equal",
        ),
        ({"model": "m", "messages": USER, "n": 0}, ["body", "n"], "greater_than_equal"),
        ({"model": "m", "messages": USER, "top_p": 1.5}, ["body", "top_p"], "less_than_equal"),
        ({"model": "m", "messages": USER, "stream": "maybe"}, ["body", "stream"], "bool_parsing"),
        (
            {"model": "m", "messages": USER, "tools": [{"type": "function", "function": {}}]},
            ["body", "tools", 0, "function", "name"],
            "missing",
        ),
        (
            {"model": "m", "messages": USER, "tools": [{"function": {"name": "has space"}}]},
            ["body", "tools", 0, "function", "name"],
            "string_pattern_mismatch",
        ),
        (
            {"model": "m", "messages": USER, "tools": [TOOL], "tool_choice": "sometimes"},
            ["body", "tool_choice"],
            "literal_error",
        ),
        (
            {
                "model": "m",
                "messages": USER,
                "tools": [TOOL],
                "tool_choice": {"type": "function", "function": {"name": "get_time"}},
            },
            ["body", "tool_choice"],
            "value_error",
        ),
        (
            {"model": "m", "messages": USER, "tool_choice": "required"},
            ["body", "tool_choice"],
            "value_error",
        ),
        (
            {"model": "m", "messages": USER, "tools": [TOOL], "tool_choice": 5},
            ["body", "tool_choice"],
            "dict_type",
        ),
        (
            {"model": "m", "messages": USER, "tools": [TOOL], "tool_choice": ["get_weather"]},
            ["body", "tool_choice"],
            "dict_type",
        ),
        (
            {
                "model": "m",
                "messages": USER,
                "tools": [{"type": "function", "function": {"name": "f", "parameters": ["x"]}}],
            },
            ["body", "tools", 0, "function", "parameters"],
            "dict_type",
        ),
        (
            {
                "model": "m",
                "messages": USER,
                "tools": [
                    {"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}
                ],
            },
            ["body", "tools", 0, "function", "parameters"],
            "value_error",
        ),
        (
            {"model": "m", "messages": USER, "response_format": {"type": "json_schema"}},
            ["body", "response_format", "json_schema"],
            "missing",
        ),
        (
            {"model": "m", "messages": USER, "response_format": {"type": "xml"}},
            ["body", "response_format", "type"],
            "literal_error",
        ),
        (
            {"model": "m", "messages": USER, "reasoning": {"effort": "extreme"}},
            ["body", "reasoning", "effort"],
            "literal_error",
        ),
    ],
)
def test_bad_bodies_get_a_fastapi_422(
    http: httpx.Client, body: dict[str, Any], loc: list[Any], kind: str
) -> None:
    detail = _detail(http, body)
    assert [item["type"] for item in detail if item["loc"] == loc] == [kind], detail
    assert all(isinstance(item["msg"], str) and item["msg"] for item in detail)


def test_every_problem_is_reported_at_once(http: httpx.Client) -> None:
    detail = _detail(
        http,
        {"messages": [{"role": "user", "content": "x", "name": "bad name"}], "temperature": 3},
    )
    assert _locs(detail) == [
        ["body", "model"],
        ["body", "messages", 0, "name"],
        ["body", "temperature"],
    ]
    assert detail[1]["msg"] == "String should match pattern '^[A-Za-z0-9_]{1,64}$'"
    assert detail[2]["msg"] == "Input should be less than or equal to 2"


def test_a_long_input_is_echoed_cut_to_1000_characters(http: httpx.Client) -> None:
    name = "a b" * 1000  # invalid (a space), 3,000 characters
    detail = _detail(
        http, {"model": "m", "messages": [{"role": "user", "content": "x", "name": name}]}
    )
    assert _locs(detail) == [["body", "messages", 0, "name"]]
    assert detail[0]["input"] == name[:1000] + "..."
    short = "a b"
    detail = _detail(
        http, {"model": "m", "messages": [{"role": "user", "content": "x", "name": short}]}
    )
    assert detail[0]["input"] == short


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/cat.png", "https"),
        ("ftp://example.com/cat.png", "https"),
        ("data:image/png;base64,@@@not-base64@@@", "decode"),
        ("data:image/png;base64,", "empty"),
        ("data:image/png," + PNG_1PX, "data:<mime>;base64"),
        ("data:application/pdf;base64," + PNG_1PX, "image"),
    ],
)
def test_image_urls_must_be_https_or_decodable_data(
    http: httpx.Client, url: str, reason: str
) -> None:
    content = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": url}}]
    detail = _detail(http, {"model": "m", "messages": [{"role": "user", "content": content}]})
    assert _locs(detail) == [["body", "messages", 0, "content", 1, "image_url", "url"]]
    assert detail[0]["type"] == "value_error"
    assert reason in detail[0]["msg"]


def test_unsupported_content_parts_are_rejected(http: httpx.Client) -> None:
    content = [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]
    detail = _detail(http, {"model": "m", "messages": [{"role": "user", "content": content}]})
    assert detail[0]["type"] == "union_tag_invalid"
    assert "'input_audio'" in detail[0]["msg"]


def test_valid_edge_cases_are_accepted(http: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "hello", "name": "example_user"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "sunny"}]},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
            ],
        },
    ]
    # Lax coercion like pydantic: the provider's own example sends max_tokens as a string.
    reply = chat(
        http,
        messages=messages,
        tools=[TOOL],
        tool_choice="auto",
        max_tokens="2000",
        temperature=0,
        stop="zzz",
        undocumented_field={"ignored": True},
        stream_options={"include_usage": True},  # undocumented for Nugen: ignored
    )
    assert reply["choices"][0]["finish_reason"] == "stop"


def test_invalid_json_and_empty_body(http: httpx.Client) -> None:
    reply = http.post("/chat/completions", content=b"{broken")
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["type"] == "json_invalid"
    reply = http.post("/chat/completions", content=b"")
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body"]


def test_embeddings_and_completions_are_validated(http: httpx.Client) -> None:
    assert _locs(_detail(http, {"model": "e"}, "/embeddings")) == [["body", "input"]]
    assert _locs(_detail(http, {"model": "e", "input": []}, "/embeddings")) == [["body", "input"]]
    detail = _detail(http, {"model": "e", "input": ["a", 3], "dimensions": 0}, "/embeddings")
    assert _locs(detail) == [["body", "input", 1], ["body", "dimensions"]]
    assert _locs(_detail(http, {"model": "m"}, "/completions")) == [["body", "prompt"]]


def test_a_prompt_of_token_ids_is_answered_as_documented(http: httpx.Client) -> None:
    # The reference's prompt forms: a list of token ids, or a list of such lists.
    one = http.post("/completions", json={"model": "m", "prompt": [11, 12, 13]})
    assert one.status_code == 200
    assert [c["text"] for c in one.json()["choices"]] == ['You asked: "11 12 13".']
    assert one.json()["usage"]["prompt_tokens"] == 3
    two = http.post("/completions", json={"model": "m", "prompt": [[11], [12, 13]]})
    assert [c["text"] for c in two.json()["choices"]] == ['You asked: "11".', 'You asked: "12 13".']
    for bad, loc in (([11, "x"], 1), ([11, -1], 1), ([[11], []], 1), ([True], 0)):
        detail = _detail(http, {"model": "m", "prompt": bad}, "/completions")
        assert ["body", "prompt", loc] in _locs(detail)


def test_vision_ignores_undocumented_fields(http: httpx.Client) -> None:
    # tools are not part of /chat/vision's documented body: a bad one is not even looked at.
    body = {"model": "nugen-flash-vision", "messages": USER, "tools": "nonsense"}
    assert http.post("/chat/vision", json=body).status_code == 200
    assert _locs(_detail(http, {"model": "v", "messages": []}, "/chat/vision")) == [
        ["body", "messages"]
    ]


def test_wrong_or_missing_key_is_401(nugen_emulator: NugenEmulator) -> None:
    url = f"{nugen_emulator.base_url}/chat/completions"
    body = {"model": "m", "messages": USER}
    missing = httpx.post(url, json=body)
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer nope"})
    basic = httpx.post(url, json=body, headers={"Authorization": "Basic test-key"})
    assert (missing.status_code, wrong.status_code, basic.status_code) == (401, 401, 401)
    assert missing.json() == {"detail": "Not authenticated"}
    assert wrong.json() == {"detail": "Invalid API key"}
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert wrong.headers["x-request-id"]
    # Authentication comes before validation: a bad body with a bad key is still a 401.
    assert httpx.post(url, json={}, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_api_key_none_accepts_anyone() -> None:
    with NugenEmulator(api_key=None) as emu:
        reply = httpx.post(
            f"{emu.base_url}/chat/completions", json={"model": "m", "messages": USER}
        )
    assert reply.status_code == 200


def test_openai_dialect_errors(http_openai: httpx.Client) -> None:
    reply = http_openai.post("/chat/completions", json={"model": "m", "messages": []})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == 400
    assert error["param"] == "messages"
    assert "at least 1 item" in error["message"]
    # vLLM-style hosts refuse stream_options on a non-streaming request (the Nugen service
    # does not document the field, so the nugen dialect ignores it).
    options = {"model": "m", "messages": USER, "stream_options": {"include_usage": True}}
    refused = http_openai.post("/chat/completions", json=options)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "stream_options"
    unauthorized = httpx.post(str(http_openai.base_url).rstrip("/") + "/chat/completions", json={})
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["type"] == "authentication_error"
    # No vision endpoint on an OpenAI-compatible host.
    missing = http_openai.post("/chat/vision", json={"model": "m", "messages": USER})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Not Found"


def test_unknown_paths_and_methods(http: httpx.Client, nugen_emulator: NugenEmulator) -> None:
    not_found = http.post("/chat/nothing", json={})
    assert (not_found.status_code, not_found.json()) == (404, {"detail": "Not Found"})
    assert not_found.headers["x-request-id"].startswith("req_")
    wrong_method = http.get("/chat/completions")
    assert (wrong_method.status_code, wrong_method.json()) == (
        405,
        {"detail": "Method Not Allowed"},
    )
    # Both are in the request log, to help debug a wrong base_url.
    assert [(r.method, r.path.rsplit("/", 2)[-2:]) for r in nugen_emulator.requests] == [
        ("POST", ["chat", "nothing"]),
        ("GET", ["chat", "completions"]),
    ]


def test_an_empty_string_to_embed_is_a_422(http: httpx.Client) -> None:
    # The reference: the input "cannot be an empty string", alone or in a list.
    detail = _detail(http, {"model": "e", "input": ""}, "/embeddings")
    assert detail == [
        {
            "type": "string_too_short",
            "loc": ["body", "input"],
            "msg": "String should have at least 1 character",
            "input": "",
            "ctx": {"min_length": 1},
        }
    ]
    detail = _detail(http, {"model": "e", "input": ["a", "", " "]}, "/embeddings")
    assert _locs(detail) == [["body", "input", 1]]
    # A text completion's prompt may be empty.
    assert http.post("/completions", json={"model": "m", "prompt": ""}).status_code == 200
