"""Client-side cost of the Nugen adapters, side by side with ChatOpenAI and OpenAILike.

    .venv/bin/python benchmarks/bench.py            # the full run (a few minutes)
    .venv/bin/python benchmarks/bench.py --smoke    # seconds: proves it runs (CI does this)

The emulator runs in a separate process (``benchmarks/_servers.py``) with canned replies,
so the CPU measured here (``time.process_time``: user + sys of this process) is the
client's alone. Sides are interleaved (A B A B ...) over several rounds and medians are
reported, with ratios against ChatOpenAI / OpenAILike and against the *floor*: raw httpx
(+ json.loads, or + httpx-sse) plus the framework's own machinery measured with a trivial
model that returns pre-built results. The floor is measured as one piece of code (the
trivial model fetching with raw httpx) and as its two parts added up: timed inside one
loop (per call), and each timed alone in a tight loop (NOTES.md, 8 and 11). Its stream
yields messages built before timing; a second stream floor builds each chunk's message from
its event, as any adapter must, and is reported beside it. Everything
lands in ``benchmarks/results/latest.json`` too.

The ingestion section (``ingestion.py``) is wall time instead: embedding a corpus against
an emulator with a service-like latency, ours against OpenAIEmbedding / OpenAIEmbeddings.

Needs the ``bench`` extra (langchain-openai, llama-index-llms-openai-like,
llama-index-embeddings-openai).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The repository root, for the socket watcher the load tests share (tests/support).
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

# benchmarks/ is the script's directory, so its modules import by name.
from _spawn import ServerProcess
from ingestion import ingestion

HERE = Path(__file__).resolve().parent
MODEL = "nugen-flash-instruct"
PROMPT = [{"role": "user", "content": "What is the capital of France?"}]


@dataclass(frozen=True)
class Sizes:
    rounds: int
    calls_per_round: int
    stream_chunks: int
    stream_rounds: int
    tool_fragments: tuple[int, int]
    concurrent: int
    concurrent_rounds: int
    ingestion_texts: int
    ingestion_rounds: int
    big_reply_bytes: int
    big_reply_chunks: int
    import_rounds: int


FULL = Sizes(
    rounds=10,
    calls_per_round=100,
    stream_chunks=2000,
    stream_rounds=5,
    tool_fragments=(500, 2000),
    concurrent=1000,
    concurrent_rounds=3,
    ingestion_texts=2000,
    ingestion_rounds=5,
    big_reply_bytes=10_000_000,
    big_reply_chunks=1000,
    import_rounds=8,
)
SMOKE = Sizes(
    rounds=2,
    calls_per_round=5,
    stream_chunks=50,
    stream_rounds=2,
    tool_fragments=(20, 80),
    concurrent=20,
    concurrent_rounds=1,
    ingestion_texts=300,
    ingestion_rounds=1,
    big_reply_bytes=200_000,
    big_reply_chunks=50,
    import_rounds=1,
)


# ----------------------------------------------------------------------------- servers


class Servers(ServerProcess):
    """Canned emulators (``canned.py``) in a child process; ``urls[name]``: their base URLs."""

    def __init__(self, sizes: Sizes) -> None:
        spec: dict[str, dict[str, Any]] = {
            "short": {"text": "The capital of France is Paris.", "chunks": 8},
            "stream": {"text": sizes.stream_chunks * 8, "chunks": sizes.stream_chunks},
            "big": {"text": sizes.big_reply_bytes, "chunks": sizes.big_reply_chunks},
        }
        for n in sizes.tool_fragments:
            arguments = json.dumps({"text": "x" * (n * 8)})
            spec[f"tool{n}"] = {"tool_call": ["record", arguments], "chunks": n}
        super().__init__(spec)


# ------------------------------------------------------------------------------- sides


def median_per_op(sides: dict[str, Callable[[], int]], rounds: int, label: str) -> dict[str, float]:
    """Interleave the sides for ``rounds`` rounds; each call returns how many operations it
    did. Returns the median CPU microseconds per operation of each side."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for fn in sides.values():  # warm-up: imports, pools, first-call caches
        fn()
    for _ in range(rounds):
        for name, fn in sides.items():
            # A collected, frozen heap: what a side leaves behind is not traced by a later
            # side's collections (without this, ratios swing 0.6x-1.8x between runs).
            gc.collect()
            gc.freeze()
            start = time.process_time()
            ops = fn()
            samples[name].append((time.process_time() - start) / ops * 1e6)
            gc.unfreeze()
    result = {name: statistics.median(values) for name, values in samples.items()}
    print(f"  {label}: " + ", ".join(f"{k}={v:.1f}us" for k, v in result.items()), flush=True)
    return result


def repeat(fn: Callable[[], Any], n: int) -> Callable[[], int]:
    """A side that calls ``fn`` ``n`` times (``n`` operations)."""

    def run() -> int:
        for _ in range(n):
            fn()
        return n

    return run


def count(iterator: Callable[[], Any]) -> Callable[[], int]:
    """A side that drains a stream (one operation per item)."""

    def run() -> int:
        return sum(1 for _ in iterator())

    return run


def first_token(stream: Callable[[], Iterator[Any]], n: int) -> Callable[[], int]:
    """``n`` streams opened, read up to their first piece, and closed: the CPU that comes
    before the first token (the request and the first chunk; the rest is not read)."""

    def run() -> int:
        # Closing the framework's generator leaves OpenAILike's inner openai stream to the
        # garbage collector; a collection that runs while httpcore holds its pool lock then
        # deadlocks in httpcore (a known bug of httpcore's sync pool). So no collection runs
        # here: median_per_op collects before each round, outside any lock.
        gc.disable()
        try:
            for _ in range(n):
                pieces = stream()
                next(pieces)
                pieces.close()  # type: ignore[attr-defined]
        finally:
            gc.enable()
        return n

    return run


class InterleavedParts:
    """The per-call floor as its two parts added up, each part timed inside one loop: raw
    httpx fetches, then the trivial model answers, call after call. Timed this way each part
    runs in the cache state a real call leaves it in; timed alone in a tight loop, the
    trivial model runs much hotter than it can inside any adapter (NOTES.md, 8)."""

    def __init__(self, fetch: Callable[[], Any], model: Callable[[], Any], n: int) -> None:
        self.fetch, self.model, self.n = fetch, model, n
        self.samples: dict[str, list[float]] = {"net": [], "model": []}

    def __call__(self) -> int:
        clock = time.process_time
        net = model = 0.0
        for _ in range(self.n):
            start = clock()
            self.fetch()
            fetched = clock()
            self.model()
            net += fetched - start
            model += clock() - fetched
        self.samples["net"].append(net / self.n * 1e6)
        self.samples["model"].append(model / self.n * 1e6)
        return self.n

    def medians(self) -> dict[str, float]:
        """Median microseconds per call of each part (the warm-up round left out)."""
        return {
            f"floor_parts_{part}": statistics.median(values[1:] or values)
            for part, values in self.samples.items()
        }


def per_tool_fragment(
    servers: Servers,
    sizes: Sizes,
    sides: Callable[[str, int], dict[str, Callable[[], int]]],
) -> dict[str, dict[str, float]]:
    """A tool call whose arguments stream in N fragments, for each N: CPU per fragment of
    each side ``sides(url, N)`` makes (assembly is linear if it does not grow with N)."""
    return {
        str(n): median_per_op(
            sides(servers.urls[f"tool{n}"], n),
            sizes.stream_rounds,
            f"tool call in {n} fragments, per fragment",
        )
        for n in sizes.tool_fragments
    }


class RawHttp:
    """The floor's network half: plain httpx (+ json.loads) and httpx-sse."""

    def __init__(self, key: str) -> None:
        import httpx

        self.http = httpx.Client()
        self.headers = {"Authorization": f"Bearer {key}"}
        self.body = {"model": MODEL, "messages": PROMPT}

    def post(self, url: str) -> Any:
        """One chat call: POST, then json.loads."""
        response = self.http.post(url + "/chat/completions", json=self.body, headers=self.headers)
        return json.loads(response.content)

    def events(self, url: str) -> Iterator[Any]:
        """One streamed chat: each event's JSON."""
        from httpx_sse import connect_sse

        body = {**self.body, "stream": True}
        with connect_sse(
            self.http, "POST", url + "/chat/completions", json=body, headers=self.headers
        ) as source:
            for event in source.iter_sse():
                if event.data != "[DONE]":
                    yield json.loads(event.data)

    def call(self, url: str, n: int) -> Callable[[], int]:
        def run() -> int:
            for _ in range(n):
                self.post(url)
            return n

        return run

    def stream(self, url: str) -> Callable[[], int]:
        return count(lambda: self.events(url))

    def close(self) -> None:
        self.http.close()


def langchain_floor(
    result: Any,
    stream_messages: list[Any],
    post: Callable[[str], Any],
    events: Callable[[str], Iterator[dict[str, Any]]],
) -> Any:
    """The naive LangChain floor: a trivial ``BaseChatModel`` whose answers are ``result``
    and ``stream_messages`` (an adapter's own output), pre-built, so it measures what
    LangChain itself costs to deliver exactly that (a bare ``AIMessage("x")`` would skip its
    usage and metadata work).

    With ``target`` set it first fetches the reply with ``post(target)`` /
    ``events(target)`` (raw httpx) and throws it away, so the floor is measured as one piece
    of code, the way an adapter runs; with ``naive`` it builds each chunk's message from its
    event instead (:func:`naive_chunk`), as any adapter must.
    """
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

    prebuilt = [AIMessageChunk(**m.model_dump(exclude={"type", "id"})) for m in stream_messages]

    class Floor(BaseChatModel):
        target: str | None = None
        naive: bool = False

        @property
        def _llm_type(self) -> str:
            return "floor"

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            if self.target is not None:
                post(self.target)
            message = AIMessage(**result.model_dump(exclude={"type", "id"}))
            return ChatResult(generations=[ChatGeneration(message=message)])

        def _stream(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> Iterator[ChatGenerationChunk]:
            source = events(self.target) if self.target is not None else iter(prebuilt)
            for i, event in enumerate(source):
                message = naive_chunk(event) if self.naive else prebuilt[i % len(prebuilt)]
                yield ChatGenerationChunk(message=message, text=message.text)

    return Floor


def naive_chunk(event: dict[str, Any]) -> Any:
    """What the simplest correct adapter does per event: its text, and the finish reason and
    usage where the event has them, in a message built for it."""
    from langchain_core.messages import AIMessageChunk

    choices, usage = event.get("choices"), event.get("usage")
    delta = choices[0]["delta"] if choices else {}
    metadata = {"finish_reason": choices[0].get("finish_reason")} if choices else {}
    return AIMessageChunk(
        content=delta.get("content") or "",
        response_metadata=metadata if metadata.get("finish_reason") else {},
        usage_metadata=(
            {
                "input_tokens": usage["prompt_tokens"],
                "output_tokens": usage["completion_tokens"],
                "total_tokens": usage["total_tokens"],
            }
            if usage
            else None
        ),
    )


def langchain_sides(servers: Servers, sizes: Sizes) -> dict[str, Any]:
    from langchain_openai import ChatOpenAI

    from langchain_nugen import ChatNugen

    key = servers.api_key
    short, stream = servers.urls["short"], servers.urls["stream"]
    nugen = ChatNugen(model=MODEL, base_url=short, api_key=key)
    nugen_stream = ChatNugen(model=MODEL, base_url=stream, api_key=key)
    raw = RawHttp(key)
    # The floor replays ChatNugen's own output, pre-built: what LangChain itself costs to
    # deliver exactly this result (a bare AIMessage("x") would skip its usage/metadata work).
    Floor = langchain_floor(
        nugen.invoke(PROMPT), list(nugen_stream.stream(PROMPT)), raw.post, raw.events
    )

    floor = Floor()
    floor_http, floor_http_stream = Floor(target=short), Floor(target=stream)
    naive_floor_stream = Floor(target=stream, naive=True)
    openai = ChatOpenAI(model=MODEL, base_url=short, api_key=key, stream_usage=True)  # type: ignore[arg-type]
    openai_stream = ChatOpenAI(model=MODEL, base_url=stream, api_key=key, stream_usage=True)  # type: ignore[arg-type]
    n = sizes.calls_per_round

    print("LangChain", flush=True)
    parts = InterleavedParts(lambda: raw.post(short), lambda: floor.invoke(PROMPT), n)
    per_call = median_per_op(
        {
            "httpx": raw.call(short, n),
            "floor_model": repeat(lambda: floor.invoke(PROMPT), n),
            "floor": repeat(lambda: floor_http.invoke(PROMPT), n),
            "floor_parts": parts,
            "ChatOpenAI": repeat(lambda: openai.invoke(PROMPT), n),
            "ChatNugen": repeat(lambda: nugen.invoke(PROMPT), n),
        },
        sizes.rounds,
        "CPU per invoke",
    )
    per_call.update(parts.medians())
    per_chunk = median_per_op(
        {
            "httpx_sse": raw.stream(stream),
            "floor_model": count(lambda: floor.stream(PROMPT)),
            "floor": count(lambda: floor_http_stream.stream(PROMPT)),
            "naive_floor": count(lambda: naive_floor_stream.stream(PROMPT)),
            "ChatOpenAI": count(lambda: openai_stream.stream(PROMPT)),
            "ChatNugen": count(lambda: nugen_stream.stream(PROMPT)),
        },
        sizes.stream_rounds,
        "CPU per streamed chunk",
    )

    first = median_per_op(
        {
            "httpx_sse": first_token(lambda: raw.events(short), n),
            "floor": first_token(lambda: floor_http.stream(PROMPT), n),
            "ChatOpenAI": first_token(lambda: openai.stream(PROMPT), n),
            "ChatNugen": first_token(lambda: nugen.stream(PROMPT), n),
        },
        sizes.rounds,
        "CPU to the first streamed token",
    )

    # A tool call whose arguments arrive in N fragments. "stream" is ChatNugen's own work
    # per fragment; "invoke" (streaming=True) also assembles the call, with the shared
    # accumulator; "lc_sum" is the caller summing chunks with AIMessageChunk.__add__,
    # LangChain's own aggregation, which re-parses the partial arguments on every add.
    def tool_sides(url: str, n: int) -> dict[str, Callable[[], int]]:
        streamer = ChatNugen(model=MODEL, base_url=url, api_key=key)
        assembler = ChatNugen(model=MODEL, base_url=url, api_key=key, streaming=True)

        def tool_stream() -> int:
            for _ in streamer.stream(PROMPT):
                pass
            return n

        def tool_invoke() -> int:
            message = assembler.invoke(PROMPT)
            assert message.tool_calls, "the tool call did not assemble"
            return n

        def tool_lc_sum() -> int:
            merged: Any = None
            for chunk in streamer.stream(PROMPT):
                merged = chunk if merged is None else merged + chunk
            assert merged is not None, "no chunks"
            assert merged.tool_calls, "the tool call did not assemble"
            return n

        return {"stream": tool_stream, "invoke": tool_invoke, "lc_sum": tool_lc_sum}

    tool = per_tool_fragment(servers, sizes, tool_sides)
    raw.close()

    # A model object made and called once, as a script or a request handler would: what
    # building its client costs (ChatOpenAI shares one default client per process).
    first_calls = max(n // 10, 2)
    first_call = median_per_op(
        {
            "ChatOpenAI": repeat(
                lambda: ChatOpenAI(model=MODEL, base_url=short, api_key=key).invoke(PROMPT),  # type: ignore[arg-type]
                first_calls,
            ),
            "ChatNugen": repeat(
                lambda: ChatNugen(model=MODEL, base_url=short, api_key=key).invoke(PROMPT),
                first_calls,
            ),
        },
        sizes.rounds,
        "CPU per new model object's first invoke",
    )
    return {
        "per_call_us": per_call,
        "per_chunk_us": per_chunk,
        "tool_fragment_us": tool,
        "first_call_us": first_call,
        "first_token_us": first,
    }


def llama_index_sides(servers: Servers, sizes: Sizes) -> dict[str, Any]:
    from llama_index.core.base.llms.types import (
        ChatMessage,
        CompletionResponse,
        CompletionResponseGen,
        LLMMetadata,
    )
    from llama_index.core.llms import CustomLLM
    from llama_index.llms.openai_like import OpenAILike

    from llama_index_nugen import Nugen

    key = servers.api_key
    short, stream = servers.urls["short"], servers.urls["stream"]
    messages = [ChatMessage(role="user", content=PROMPT[0]["content"])]
    nugen = Nugen(model=MODEL, base_url=short, api_key=key)
    nugen_stream = Nugen(model=MODEL, base_url=stream, api_key=key)
    # The floor replays Nugen's own text, pre-built, through LlamaIndex's CustomLLM path.
    text = nugen.chat(messages).message.content or ""
    deltas = [r.delta or "" for r in nugen_stream.stream_chat(messages)]

    class Floor(CustomLLM):
        """LlamaIndex's own machinery with nothing to do: returns pre-built results (with
        ``url`` set, after fetching the reply with raw httpx, as in the LangChain floor)."""

        url: str | None = None

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(is_chat_model=False)

        def complete(
            self, prompt: str, formatted: bool = False, **kwargs: Any
        ) -> CompletionResponse:
            if self.url:
                raw.post(self.url)
            return CompletionResponse(text=text)

        def stream_complete(
            self, prompt: str, formatted: bool = False, **kwargs: Any
        ) -> CompletionResponseGen:
            events = raw.events(self.url) if self.url else iter(deltas)
            for i, _ in enumerate(events):
                yield CompletionResponse(text="", delta=deltas[i % len(deltas)])

    raw = RawHttp(key)
    floor = Floor()
    floor_http, floor_http_stream = Floor(url=short), Floor(url=stream)
    like = OpenAILike(
        model=MODEL, api_base=short, api_key=key, is_chat_model=True, is_function_calling_model=True
    )
    like_stream = OpenAILike(model=MODEL, api_base=stream, api_key=key, is_chat_model=True)
    n = sizes.calls_per_round

    print("LlamaIndex", flush=True)
    parts = InterleavedParts(lambda: raw.post(short), lambda: floor.chat(messages), n)
    per_call = median_per_op(
        {
            "httpx": raw.call(short, n),
            "floor_model": repeat(lambda: floor.chat(messages), n),
            "floor": repeat(lambda: floor_http.chat(messages), n),
            "floor_parts": parts,
            "OpenAILike": repeat(lambda: like.chat(messages), n),
            "Nugen": repeat(lambda: nugen.chat(messages), n),
        },
        sizes.rounds,
        "CPU per chat",
    )
    per_call.update(parts.medians())
    per_chunk = median_per_op(
        {
            "httpx_sse": raw.stream(stream),
            "floor_model": count(lambda: floor.stream_chat(messages)),
            "floor": count(lambda: floor_http_stream.stream_chat(messages)),
            "OpenAILike": count(lambda: like_stream.stream_chat(messages)),
            "Nugen": count(lambda: nugen_stream.stream_chat(messages)),
        },
        sizes.stream_rounds,
        "CPU per streamed chunk",
    )

    first = median_per_op(
        {
            "httpx_sse": first_token(lambda: raw.events(short), n),
            "floor": first_token(lambda: floor_http.stream_chat(messages), n),
            "OpenAILike": first_token(lambda: like.stream_chat(messages), n),
            "Nugen": first_token(lambda: nugen.stream_chat(messages), n),
        },
        sizes.rounds,
        "CPU to the first streamed token",
    )

    # The same streamed tool call in N fragments: every step carries the call so far, so
    # the arguments are rejoined on each fragment (as OpenAILike does); this must stay flat.
    def tool_sides(url: str, n: int) -> dict[str, Callable[[], int]]:
        streamer = Nugen(model=MODEL, base_url=url, api_key=key)

        def tool_stream() -> int:
            last = deque(streamer.stream_chat(messages), maxlen=1)[0]
            assert last.message.additional_kwargs.get("tool_calls"), "no tool call"
            return n

        return {"stream": tool_stream}

    tool = per_tool_fragment(servers, sizes, tool_sides)
    raw.close()
    return {
        "per_call_us": per_call,
        "per_chunk_us": per_chunk,
        "tool_fragment_us": tool,
        "first_token_us": first,
    }


# --------------------------------------------------------------------------- concurrency


async def _concurrent(call: Callable[[], Any], n: int, port: int, *, watch: bool) -> dict[str, Any]:
    """``n`` calls at once. With ``watch``, also the peak of open connections to ``port``
    (sampling costs this loop CPU, so watched rounds are not timed)."""
    from tests.support.sockets import watch_client_sockets

    async with contextlib.AsyncExitStack() as stack:
        sockets = await stack.enter_async_context(watch_client_sockets(port)) if watch else None
        start, cpu = time.perf_counter(), time.process_time()
        results = await asyncio.gather(*(call() for _ in range(n)), return_exceptions=True)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    errors = [r for r in results if isinstance(r, BaseException)]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "errors": len(errors),
        "first_error": repr(errors[0])[:200] if errors else None,
        # Only sockets this side opened (earlier sides' may still be open, or closing).
        "peak_sockets": sockets.peak if sockets else 0,
    }


def concurrency(servers: Servers, sizes: Sizes) -> dict[str, Any]:
    from langchain_openai import ChatOpenAI
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    from langchain_nugen import ChatNugen
    from llama_index_nugen import Nugen

    key, url = servers.api_key, servers.urls["short"]
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    messages = [ChatMessage(role="user", content="hi")]
    sides = {
        "ChatOpenAI.ainvoke": (lambda m: lambda: m.ainvoke(PROMPT))(
            ChatOpenAI(model=MODEL, base_url=url, api_key=key)  # type: ignore[arg-type]
        ),
        "ChatNugen.ainvoke": (lambda m: lambda: m.ainvoke(PROMPT))(
            ChatNugen(model=MODEL, base_url=url, api_key=key)
        ),
        "OpenAILike.achat": (lambda m: lambda: m.achat(messages))(
            OpenAILike(model=MODEL, api_base=url, api_key=key, is_chat_model=True)
        ),
        "Nugen.achat": (lambda m: lambda: m.achat(messages))(
            Nugen(model=MODEL, base_url=url, api_key=key)
        ),
    }
    print(
        f"Concurrency ({sizes.concurrent} concurrent calls, medians of "
        f"{sizes.concurrent_rounds} interleaved rounds; then one round counting connections)",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for _ in range(sizes.concurrent_rounds):
        for name, call in sides.items():
            runs[name].append(asyncio.run(_concurrent(call, sizes.concurrent, port, watch=False)))
    out = {}
    for name, call in sides.items():
        watched = asyncio.run(_concurrent(call, sizes.concurrent, port, watch=True))
        timed = runs[name]
        errors = [r["first_error"] for r in [*timed, watched] if r["errors"]]
        out[name] = {
            "wall_s": round(statistics.median(r["wall_s"] for r in timed), 3),
            "client_cpu_s": round(statistics.median(r["cpu_s"] for r in timed), 3),
            "errors": sum(r["errors"] for r in [*timed, watched]),
            "first_error": errors[0] if errors else None,
            "peak_sockets": watched["peak_sockets"],
        }
        print(f"  {name}: {out[name]}", flush=True)
    return out


# -------------------------------------------------------------------------------- memory

_MEMORY_CHILD = r"""
import json, sys, tracemalloc
side, url, key = sys.argv[1:4]
model = "nugen-flash-instruct"
prompt = [{"role": "user", "content": "Tell me everything."}]
if side == "ChatNugen":
    from langchain_nugen import ChatNugen
    llm = ChatNugen(model=model, base_url=url, api_key=key, timeout=120)
    run = lambda: sum(len(c.content) for c in llm.stream(prompt))
elif side == "ChatOpenAI":
    from langchain_openai import ChatOpenAI
    llm = ChatOpenAI(model=model, base_url=url, api_key=key, timeout=120)
    run = lambda: sum(len(c.content) for c in llm.stream(prompt))
else:
    from llama_index.core.base.llms.types import ChatMessage
    msgs = [ChatMessage(role="user", content="Tell me everything.")]
    if side == "Nugen":
        from llama_index_nugen import Nugen
        llm = Nugen(model=model, base_url=url, api_key=key, timeout=120)
    else:
        from llama_index.llms.openai_like import OpenAILike
        llm = OpenAILike(model=model, api_base=url, api_key=key, is_chat_model=True, timeout=120)
    run = lambda: sum(len(r.delta or "") for r in llm.stream_chat(msgs))
run()  # warm-up: lazy imports and first-call caches are not the stream's memory
tracemalloc.start()
received = run()
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"received_bytes": received, "peak_traced_mb": round(peak / 1e6, 1)}))
"""


def memory(servers: Servers, sizes: Sizes) -> dict[str, Any]:
    print(
        f"Peak Python memory (tracemalloc) while streaming a {sizes.big_reply_bytes / 1e6:.1f} MB"
        " reply and discarding the chunks",
        flush=True,
    )
    out = {}
    for side in ("ChatOpenAI", "ChatNugen", "OpenAILike", "Nugen"):
        proc = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, side, servers.urls["big"], servers.api_key],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            out[side] = {"error": proc.stderr.strip().splitlines()[-1:]}
        else:
            out[side] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {side}: {out[side]}", flush=True)
    return out


# --------------------------------------------------------------------------- import time


def import_times(sizes: Sizes) -> dict[str, float]:
    # Packages as imported, then the classes a program actually uses: langchain_core and
    # langchain_nugen load their classes lazily, so "import X" alone says little.
    modules = {
        "langchain_core.language_models": "import langchain_core.language_models",
        "langchain_openai": "import langchain_openai",
        "langchain_nugen": "import langchain_nugen",
        "BaseChatModel": "from langchain_core.language_models import BaseChatModel",
        "ChatOpenAI": "from langchain_openai import ChatOpenAI",
        "ChatNugen": "from langchain_nugen import ChatNugen",
        "llama_index.core.llms": "import llama_index.core.llms",
        "llama_index.llms.openai_like": "import llama_index.llms.openai_like",
        "llama_index_nugen": "import llama_index_nugen",
        "FunctionCallingLLM": (
            "from llama_index.core.llms.function_calling import FunctionCallingLLM"
        ),
        "OpenAILike": "from llama_index.llms.openai_like import OpenAILike",
        "Nugen": "from llama_index_nugen import Nugen",
        "nugen_client": "import nugen_client",
    }
    # httpx 0.28 imports its command-line client (click, rich, pygments: ~35 ms) whenever
    # those happen to be installed, as they are here (dev tools). The frameworks' own
    # classes import no httpx, so the same imports are also timed with those three hidden.
    no_cli = "import sys; sys.modules.update(click=None, rich=None, pygments=None); "
    for name in ("BaseChatModel", "ChatNugen", "FunctionCallingLLM", "Nugen"):
        modules[f"{name} (no httpx CLI)"] = no_cli + modules[name]
    # CPython keeps its frames in 16 KiB chunks, one mapped when a call crosses into it and
    # unmapped when that call returns: an import whose busiest loops straddle a chunk's end
    # maps and unmaps thousands of times, so how deep the import starts moves its time by up
    # to a fifth (BaseChatModel's alone, a few frames deeper, is that much slower or
    # faster). Each round starts every import at its own offset into a chunk (a first frame
    # of 0 to 2,047 unused local slots of 8 bytes, evenly spread over the rounds); the
    # median is over those offsets.
    code = (
        "import time\ndef timed():\n    if False:\n        {pad} = 0\n"
        "    t = time.perf_counter(); {m}; return time.perf_counter() - t\nprint(timed())"
    )
    samples: dict[str, list[float]] = {name: [] for name in modules}
    for round_ in range(sizes.import_rounds):
        pad = " = ".join(f"v{i}" for i in range(round_ * 2048 // sizes.import_rounds)) or "v"
        for name, module in modules.items():
            out = subprocess.run(
                [sys.executable, "-c", code.format(m=module, pad=pad)],
                capture_output=True,
                text=True,
                check=True,
            )
            samples[name].append(float(out.stdout) * 1000)
    result = {name: round(statistics.median(v), 1) for name, v in samples.items()}
    print(
        "Import time (ms, fresh interpreter): " + ", ".join(f"{k}={v}" for k, v in result.items()),
        flush=True,
    )
    return result


# ----------------------------------------------------------------------------- summary


def ratios(results: dict[str, Any]) -> dict[str, float]:
    lc, li, imp = results["langchain"], results["llama_index"], results["imports"]
    r = {
        "import langchain_nugen / langchain_core.language_models": (
            imp["langchain_nugen"] / imp["langchain_core.language_models"]
        ),
        "import llama_index_nugen / llama_index.core.llms": (
            imp["llama_index_nugen"] / imp["llama_index.core.llms"]
        ),
        "from langchain_nugen import ChatNugen / ...import BaseChatModel": (
            imp["ChatNugen"] / imp["BaseChatModel"]
        ),
        "(same, with httpx's optional CLI packages hidden) ChatNugen / BaseChatModel": (
            imp["ChatNugen (no httpx CLI)"] / imp["BaseChatModel (no httpx CLI)"]
        ),
        "from langchain_nugen import ChatNugen / from langchain_openai import ChatOpenAI": (
            imp["ChatNugen"] / imp["ChatOpenAI"]
        ),
        "from llama_index_nugen import Nugen / ...import FunctionCallingLLM": (
            imp["Nugen"] / imp["FunctionCallingLLM"]
        ),
        "(same, with httpx's optional CLI packages hidden) Nugen / FunctionCallingLLM": (
            imp["Nugen (no httpx CLI)"] / imp["FunctionCallingLLM (no httpx CLI)"]
        ),
        "from llama_index_nugen import Nugen / ...import OpenAILike": (
            imp["Nugen"] / imp["OpenAILike"]
        ),
    }
    # Per call and per chunk, against the other library and against the floor: the trivial
    # model fetching with raw httpx, measured as one piece of code; per call also as its two
    # parts timed inside one loop and added. The parts each measured alone in a tight loop
    # and added are shown too: they run hotter in cache than any real adapter can.
    for section, unit, ours, theirs in (
        (lc, "per_call_us", "ChatNugen", "ChatOpenAI"),
        (li, "per_call_us", "Nugen", "OpenAILike"),
        (lc, "per_chunk_us", "ChatNugen", "ChatOpenAI"),
        (li, "per_chunk_us", "Nugen", "OpenAILike"),
    ):
        what = "CPU per call" if unit == "per_call_us" else "CPU per streamed chunk"
        cpu = section[unit]
        net = "httpx" if unit == "per_call_us" else "httpx_sse"
        r[f"{ours} / {theirs} ({what})"] = cpu[ours] / cpu[theirs]
        r[f"{ours} / floor ({what})"] = cpu[ours] / cpu["floor"]
        if "naive_floor" in cpu:  # the stream floor's messages are built before timing
            r[f"{ours} / floor building each chunk's message ({what})"] = (
                cpu[ours] / cpu["naive_floor"]
            )
        if "floor_parts_net" in cpu:
            r[f"{ours} / floor as its two parts timed in one loop ({what})"] = cpu[ours] / (
                cpu["floor_parts_net"] + cpu["floor_parts_model"]
            )
        r[f"{ours} / floor as its two parts each timed alone ({what})"] = cpu[ours] / (
            cpu[net] + cpu["floor_model"]
        )
    small, large = (str(n) for n in sorted(int(k) for k in lc["tool_fragment_us"]))
    for side, what in (
        ("stream", "ChatNugen.stream"),
        ("invoke", "ChatNugen(streaming=True).invoke"),
    ):
        r[f"{what}: cost per tool-call fragment, {large} vs {small} fragments (1.0 = linear)"] = (
            lc["tool_fragment_us"][large][side] / lc["tool_fragment_us"][small][side]
        )
    r["ChatNugen / ChatOpenAI (CPU of a new model object's first call)"] = (
        lc["first_call_us"]["ChatNugen"] / lc["first_call_us"]["ChatOpenAI"]
    )
    # Time to the first token: what an adapter adds to raw httpx-sse's, against what the
    # floor adds (at most 1.0).
    for section, ours in ((lc, "ChatNugen"), (li, "Nugen")):
        ttft = section["first_token_us"]
        r[f"{ours}: CPU to the first token above httpx-sse's / the floor's above it"] = (
            ttft[ours] - ttft["httpx_sse"]
        ) / (ttft["floor"] - ttft["httpx_sse"])
    r[f"(LangChain's own chunk '+', for contrast: {large} vs {small} fragments)"] = (
        lc["tool_fragment_us"][large]["lc_sum"] / lc["tool_fragment_us"][small]["lc_sum"]
    )
    r[f"Nugen.stream_chat: cost per tool-call fragment, {large} vs {small} (1.0 = linear)"] = (
        li["tool_fragment_us"][large]["stream"] / li["tool_fragment_us"][small]["stream"]
    )
    # Three significant figures, not two decimals: an import ratio of 0.004 stays 0.004
    # instead of rounding to 0.
    return {k: float(f"{v:.3g}") for k, v in r.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes: proves the benchmark runs"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument(
        "--only",
        action="append",
        choices=["imports", "langchain", "llama_index", "concurrency"],
        help="run this section (repeatable; no overall ratios): the rows a change is "
        "expected to move",
    )
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    started = time.perf_counter()
    results: dict[str, Any] = {"sizes": sizes.__dict__, "python": sys.version.split()[0]}
    sections = set(args.only or ("imports", "langchain", "llama_index", "concurrency"))
    if "imports" in sections:
        results["imports"] = import_times(sizes)
    servers = Servers(sizes)
    try:
        if "langchain" in sections:
            results["langchain"] = langchain_sides(servers, sizes)
        if "llama_index" in sections:
            results["llama_index"] = llama_index_sides(servers, sizes)
        if "concurrency" in sections:
            results["concurrency"] = concurrency(servers, sizes)
        if args.only is None:
            results["memory"] = memory(servers, sizes)
    finally:
        servers.close()
    if args.only is None:
        # Wall time against a latency emulator of its own (ingestion.py).
        results["ingestion"] = ingestion(sizes.ingestion_texts, sizes.ingestion_rounds)
    if {"imports", "langchain", "llama_index"} <= sections:
        results["ratios"] = ratios(results) | results.get("ingestion", {}).get("ratios", {})
        print("\nRatios (lower is better):")
        for name, value in results["ratios"].items():
            print(f"  {value:6.2f}  {name}")
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(f"\nfinished in {results['seconds']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
