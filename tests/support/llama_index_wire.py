"""Wire-format builders and a respx-mocked service for the llama_index_nugen unit tests."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx

from nugen_client.types import ChatCompletion, ChatCompletionChunk

API_KEY = "sk-unit-SECRET-0123456789"
BASE_URL = "https://api.example.test/api/v3/inference"
CHAT_URL = BASE_URL + "/chat/completions"
VISION_URL = BASE_URL + "/chat/vision"
EMBED_URL = BASE_URL + "/embeddings"


def _image(kind: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(buffer, kind)
    return buffer.getvalue()


# Real (tiny) images: LlamaIndex opens some with PIL, and the emulator reports their size.
PNG = _image("PNG")
JPEG = _image("JPEG")


def completion_body(
    content: str | None = "Hi there",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    reasoning: str | None = None,
    finish_reason: str = "stop",
    usage: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    body: dict[str, Any] = {
        "id": "nugen-1",
        "created": 1704123600.0,
        "model": "nugen-flash-instruct",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage
        if usage is not None
        else {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    body.update(extra)
    return body


def completion(**kwargs: Any) -> ChatCompletion:
    return ChatCompletion.model_validate(completion_body(**kwargs))


def tool_call(name: str, arguments: str, call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def chunk_body(
    content: str | None = None,
    *,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    choices: bool = True,
    **delta: Any,
) -> dict[str, Any]:
    if content is not None:
        delta["content"] = content
    body: dict[str, Any] = {
        "id": "nugen-1",
        "created": 1704123600.0,
        "model": "nugen-flash-instruct",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else [],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def chunk(content: str | None = None, **kwargs: Any) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(chunk_body(content, **kwargs))


def text_chunks(*pieces: str, usage: bool = True) -> list[dict[str, Any]]:
    """Chunk bodies for a text answer, with the role on the first one and usage on the last."""
    bodies = [chunk_body(piece) for piece in pieces]
    bodies[0]["choices"][0]["delta"]["role"] = "assistant"
    bodies[-1]["choices"][0]["finish_reason"] = "stop"
    if usage:
        bodies[-1]["usage"] = {
            "prompt_tokens": 3,
            "completion_tokens": len(pieces),
            "total_tokens": 3 + len(pieces),
        }
    return bodies


def sse(bodies: list[dict[str, Any]], *, done: bool = True) -> bytes:
    events = [f"data: {json.dumps(body)}\n\n" for body in bodies]
    if done:
        events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def sse_response(bodies: list[dict[str, Any]], *, done: bool = True) -> httpx.Response:
    return httpx.Response(
        200, content=sse(bodies, done=done), headers={"content-type": "text/event-stream"}
    )


def body_of(request: httpx.Request) -> dict[str, Any]:
    return json.loads(request.content)  # type: ignore[no-any-return]
