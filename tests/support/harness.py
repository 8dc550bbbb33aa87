"""Run the same test body against NugenClient and AsyncNugenClient over httpx.MockTransport.

``Harness.chat`` / ``stream`` / ``embed`` call the client of the chosen kind and return plain
results, so every behaviour is asserted once and checked on both transports. Handlers
return ``Reply`` objects; streamed bodies are delivered in pieces of ``piece`` bytes
(1 = byte by byte) as a sync or async byte stream to match the client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from nugen_client import AsyncNugenClient, NugenClient
from nugen_client.types import ChatCompletion, ChatCompletionChunk, EmbeddingResponse

API_KEY = "sk-test-SECRET-0123456789"
BASE_URL = "https://api.example.test/api/v3/inference"
USER = [{"role": "user", "content": "Hello"}]


def completion_body(content: str = "Hi there", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "nugen-1",
        "created": 1704123600.0,
        "model": "nugen-flash-instruct",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    body.update(extra)
    return body


def sse(*events: Any, done: bool = True, newline: str = "\n") -> bytes:
    lines = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        lines.append(f"data: {data}{newline}{newline}")
    if done:
        lines.append(f"data: [DONE]{newline}{newline}")
    return "".join(lines).encode()


def chunk(content: str | None = None, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    if content is not None:
        delta["content"] = content
    body: dict[str, Any] = {
        "id": "nugen-1",
        "created": 1704123600.0,
        "model": "nugen-flash-instruct",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return body


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    piece: int = 0  # >0: stream the body in pieces of this many bytes
    raise_exc: BaseException | None = None

    @staticmethod
    def stream(body: bytes, piece: int = 0, **headers: str) -> Reply:
        return Reply(
            body=body, headers={"content-type": "text/event-stream", **headers}, piece=piece
        )


Handler = Callable[[httpx.Request], Reply]


class _SyncPieces(httpx.SyncByteStream):
    def __init__(self, body: bytes, piece: int, fail: BaseException | None) -> None:
        self.body, self.piece, self.fail = body, piece, fail

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self.body), self.piece):
            yield self.body[i : i + self.piece]
        if self.fail is not None:
            raise self.fail


class _AsyncPieces(httpx.AsyncByteStream):
    def __init__(self, body: bytes, piece: int, fail: BaseException | None) -> None:
        self.body, self.piece, self.fail = body, piece, fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.body), self.piece):
            yield self.body[i : i + self.piece]
        if self.fail is not None:
            raise self.fail


class Harness:
    """One client of the given kind, its recorded requests and recorded retry sleeps."""

    def __init__(self, kind: str, handler: Handler | list[Reply], **client_kwargs: Any) -> None:
        self.kind = kind
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        replies = list(handler) if isinstance(handler, list) else None

        def route(request: httpx.Request) -> Reply:
            if replies is not None:
                return replies.pop(0) if len(replies) > 1 else replies[0]
            assert callable(handler)
            return handler(request)

        def respond(request: httpx.Request) -> httpx.Response:
            request.read()
            self.requests.append(request)
            reply = route(request)
            if reply.raise_exc is not None and reply.body is None:
                raise reply.raise_exc
            if reply.piece:
                assert reply.body is not None
                stream: Any = (
                    _SyncPieces(reply.body, reply.piece, reply.raise_exc)
                    if kind == "sync"
                    else _AsyncPieces(reply.body, reply.piece, reply.raise_exc)
                )
                return httpx.Response(reply.status, headers=reply.headers, stream=stream)
            if reply.json is not None:
                return httpx.Response(reply.status, headers=reply.headers, json=reply.json)
            return httpx.Response(reply.status, headers=reply.headers, content=reply.body or b"")

        transport = httpx.MockTransport(respond)
        client_kwargs.setdefault("api_key", API_KEY)
        client_kwargs.setdefault("base_url", BASE_URL)
        if kind == "sync":
            client_kwargs.setdefault("sleep", self.sleeps.append)
            self.client: NugenClient | AsyncNugenClient = NugenClient(
                http_client=httpx.Client(transport=transport), **client_kwargs
            )
        else:

            async def record_sleep(seconds: float) -> None:
                self.sleeps.append(seconds)

            client_kwargs.setdefault("sleep", record_sleep)
            self.client = AsyncNugenClient(
                http_client=httpx.AsyncClient(transport=transport), **client_kwargs
            )

    @property
    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]

    def chat(self, **kwargs: Any) -> ChatCompletion:
        kwargs.setdefault("model", "nugen-flash-instruct")
        kwargs.setdefault("messages", USER)
        if isinstance(self.client, NugenClient):
            return self.client.chat_completion(**kwargs)
        return asyncio.run(self.client.chat_completion(**kwargs))

    def stream(self, **kwargs: Any) -> list[ChatCompletionChunk]:
        kwargs.setdefault("model", "nugen-flash-instruct")
        kwargs.setdefault("messages", USER)
        client = self.client
        if isinstance(client, NugenClient):
            return list(client.stream_chat_completion(**kwargs))

        async def collect() -> list[ChatCompletionChunk]:
            assert isinstance(client, AsyncNugenClient)
            return [c async for c in client.stream_chat_completion(**kwargs)]

        return asyncio.run(collect())

    def stream_until_error(self, **kwargs: Any) -> tuple[list[ChatCompletionChunk], BaseException]:
        """Chunks received before the stream raised, and what it raised."""
        got: list[ChatCompletionChunk] = []
        kwargs.setdefault("model", "nugen-flash-instruct")
        kwargs.setdefault("messages", USER)
        client = self.client
        try:
            if isinstance(client, NugenClient):
                for c in client.stream_chat_completion(**kwargs):
                    got.append(c)
            else:

                async def collect() -> None:
                    assert isinstance(client, AsyncNugenClient)
                    async for c in client.stream_chat_completion(**kwargs):
                        got.append(c)

                asyncio.run(collect())
        except Exception as exc:  # the test asserts on the type
            return got, exc
        raise AssertionError(f"the stream did not raise; got {len(got)} chunks")

    def embed(self, **kwargs: Any) -> EmbeddingResponse:
        kwargs.setdefault("model", "nugen-flash-embed")
        if isinstance(self.client, NugenClient):
            return self.client.embeddings(**kwargs)
        return asyncio.run(self.client.embeddings(**kwargs))
