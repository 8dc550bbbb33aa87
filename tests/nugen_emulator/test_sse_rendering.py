"""SSE streams: event format, chunking, finish_reason and usage placement per dialect."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import httpx

from .conftest import USER, chat, stream
from .test_model_behaviour import WEATHER

TOOL_ASK = [{"role": "user", "content": "Use get_weather for Boston in fahrenheit."}]


def _choice_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in chunks if c["choices"]]


def _joined(chunks: list[dict[str, Any]], key: str, index: int = 0) -> str:
    return "".join(
        c["choices"][0]["delta"].get(key) or ""
        for c in _choice_chunks(chunks)
        if c["choices"][0]["index"] == index
    )


def test_sse_wire_format(http: httpx.Client) -> None:
    body = {"model": "m", "messages": USER, "stream": True}
    reply = http.post("/chat/completions", json=body)
    assert reply.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert reply.headers["x-request-id"]
    # The live service sends one chunk after [DONE].
    assert reply.text.count("data: [DONE]\n\n") == 1
    assert reply.text.split("data: [DONE]\n\n")[1].count("data: ") == 1
    # Nothing but "data: ..." events separated by blank lines.
    for block in reply.text.split("\n\n")[:-1]:
        assert block.startswith("data: ")
        assert "\n" not in block


def test_reference_stream_matches_the_documented_example(http_reference: httpx.Client) -> None:
    chunks = stream(http_reference)
    assert len(chunks) > 3
    assert _joined(chunks, "content") == chat(http_reference)["choices"][0]["message"]["content"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    assert len({c["id"] for c in chunks}) == 1
    assert all("object" not in c for c in chunks)
    assert all(isinstance(c["created"], float) for c in chunks)
    finishes = [c["choices"][0]["finish_reason"] for c in chunks]
    assert finishes[:-1] == [None] * (len(chunks) - 1)
    assert finishes[-1] == "stop"
    # Usage always rides on the final chunk, with the last piece of content.
    assert [("usage" in c) for c in chunks] == [False] * (len(chunks) - 1) + [True]
    usage = chunks[-1]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert chunks[-1]["choices"][0]["delta"]["content"]


def test_openai_stream_usage_only_when_asked(http_openai: httpx.Client) -> None:
    without = stream(http_openai)
    assert all("usage" not in c for c in without)
    assert without[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert all(c["object"] == "chat.completion.chunk" for c in without)
    assert all(isinstance(c["created"], int) for c in without)

    with_usage = stream(http_openai, stream_options={"include_usage": True})
    assert with_usage[-1]["choices"] == []
    assert with_usage[-1]["usage"]["completion_tokens_details"] is None
    assert all("usage" not in c for c in with_usage[:-1])
    assert with_usage[-2]["choices"][0]["finish_reason"] == "stop"


def test_tool_call_arguments_arrive_in_fragments(http_reference: httpx.Client) -> None:
    chunks = stream(http_reference, messages=TOOL_ASK, tools=[WEATHER])
    whole = chat(http_reference, messages=TOOL_ASK, tools=[WEATHER])["choices"][0]["message"]
    fragments = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks]
    assert fragments[0]["id"].startswith("call_")
    assert fragments[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [f["function"]["arguments"] for f in fragments[1:]]
    assert len(pieces) > 3
    assert all("id" not in f and "name" not in f["function"] for f in fragments[1:])
    assert json.loads("".join(pieces)) == json.loads(
        whole["tool_calls"][0]["function"]["arguments"]
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_parallel_tool_calls_stream_by_index(http_reference: httpx.Client) -> None:
    messages = [{"role": "user", "content": "Use get_weather for Boston and get_time for Paris."}]
    city = {"type": "object", "properties": {"city": {"type": "string"}}}
    time_tool = {"type": "function", "function": {"name": "get_time", "parameters": city}}
    chunks = stream(
        http_reference, messages=messages, tools=[WEATHER, time_tool], parallel_tool_calls=True
    )
    arguments: dict[int, str] = defaultdict(str)
    names: dict[int, str] = {}
    for chunk in chunks:
        for call in chunk["choices"][0]["delta"]["tool_calls"]:
            if "name" in call["function"]:
                names[call["index"]] = call["function"]["name"]
            arguments[call["index"]] += call["function"]["arguments"]
    assert names == {0: "get_weather", 1: "get_time"}
    assert json.loads(arguments[1]) == {"city": "Paris"}


def test_choices_are_interleaved_and_each_finishes_once(http_reference: httpx.Client) -> None:
    chunks = stream(http_reference, n=2)
    order = [c["choices"][0]["index"] for c in chunks]
    assert order[:4] == [0, 1, 0, 1]
    for index in (0, 1):
        mine = [c for c in chunks if c["choices"][0]["index"] == index]
        assert mine[0]["choices"][0]["delta"]["role"] == "assistant"
        assert [c["choices"][0]["finish_reason"] for c in mine].count("stop") == 1
        assert mine[-1]["choices"][0]["finish_reason"] == "stop"
    assert _joined(chunks, "content", 1).startswith("(Alternative 2)")
    assert "usage" in chunks[-1]


def test_reasoning_streams_before_content(
    http_reference: httpx.Client, http_openai: httpx.Client
) -> None:
    nugen = stream(http_reference, reasoning={"effort": "low"})
    keys = [next(k for k in c["choices"][0]["delta"] if k != "role") for c in nugen]
    first_content = keys.index("content")
    assert set(keys[:first_content]) == {"reasoning_content"}
    assert set(keys[first_content:]) == {"content"}
    reply = chat(http_reference, reasoning={"effort": "low"})
    assert (
        _joined(nugen, "reasoning_content") == reply["choices"][0]["message"]["reasoning_content"]
    )
    assert nugen[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    openai = stream(http_openai, reasoning={"effort": "low"})
    assert _joined(openai, "reasoning") == _joined(nugen, "reasoning_content")


def test_vision_ignores_stream_and_answers_json(http: httpx.Client) -> None:
    reply = http.post("/chat/vision", json={"model": "v", "messages": USER, "stream": True})
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["choices"][0]["message"]["content"].startswith("You asked:")


def test_completions_stream(http: httpx.Client, http_openai: httpx.Client) -> None:
    body = {"model": "m", "prompt": "Once upon a time", "stream": True}
    text = http.post("/completions", json=body).text
    chunks = [json.loads(e) for e in text.split("data: ")[1:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == 'You asked: "Once upon a time".'
    assert "usage" in chunks[-1]
    body["stream_options"] = {"include_usage": True}
    text = http_openai.post("/completions", json=body).text
    assert json.loads(text.split("data: ")[-2])["choices"] == []
