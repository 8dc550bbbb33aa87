"""ChatNugen's per-call and per-chunk work, with no network: counted and profiled.

    .venv/bin/python benchmarks/profile_chat.py                  # calls and CPU per op
    .venv/bin/python benchmarks/profile_chat.py --profile stream # cProfile of one side

The canned answers (a short reply, and a stream of ``--chunks`` chunks with usage) are
fetched once from the benchmark's emulator, then replayed from every ``httpx`` transport
in this process, a network read's worth (64 KiB) at a time, so the figures hold only
client work. Python calls per operation (``sys.setprofile``) do not move with the
machine's load; CPU per operation (``time.process_time``, best of ``--rounds``, sides
interleaved) does. Sides: raw httpx (+ json.loads / httpx-sse), ``NugenClient``, the
LangChain floor (a trivial ``BaseChatModel`` over raw httpx, as in ``bench.py``) and
``ChatNugen``. NOTES.md, sections 22 and 24.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from _spawn import ServerProcess
from bench import count, first_token, langchain_floor, repeat

MODEL = "nugen-flash-instruct"
PROMPT = [{"role": "user", "content": "What is the capital of France?"}]
READ = 65_536  # what httpcore asks of a socket per read
BASE = "http://127.0.0.1:9/v1"  # never connected to: every transport is replayed
SHORT = "short-stream"  # the model name that gets the short stream


PROFILED = {
    "invoke": "per invoke",
    "stream": "per streamed chunk",
    "first": "to the first streamed token",
}


class _Replayed(httpx.SyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        body = self.body
        for start in range(0, len(body), READ):
            yield body[start : start + READ]


def capture(chunks: int) -> dict[str, tuple[dict[str, str], bytes]]:
    """The emulator's answers (headers, body): ``"whole"`` to a chat request, ``"stream"`` to
    a streamed one of ``chunks`` chunks, ``"short"`` to a streamed one of 8 chunks."""
    servers = ServerProcess(
        {
            "short": {"text": "The capital of France is Paris.", "chunks": 8},
            "stream": {"text": chunks * 8, "chunks": chunks},
        }
    )
    try:
        answers = {}
        with httpx.Client(headers={"Authorization": f"Bearer {servers.api_key}"}) as http:
            for key, name in (("whole", "short"), ("stream", "stream"), ("short", "short")):
                body: dict[str, Any] = {"model": MODEL, "messages": PROMPT}
                if key != "whole":
                    body.update(stream=True, stream_options={"include_usage": True})
                response = http.post(servers.urls[name] + "/chat/completions", json=body)
                response.raise_for_status()
                headers = {
                    k: v
                    for k, v in response.headers.items()
                    if k.lower() in ("content-type", "x-request-id")
                }
                answers[key] = (headers, response.content)
        return answers
    finally:
        servers.close()


def replay(answers: dict[str, tuple[dict[str, str], bytes]]) -> None:
    """Every httpx transport in this process answers with the captured bodies (the short
    stream to requests for the model ``SHORT``)."""

    def handle_request(self: Any, request: httpx.Request) -> httpx.Response:
        content = request.read().replace(b" ", b"")
        key = "whole"
        if b'"stream":true' in content:
            key = "short" if SHORT.encode() in content else "stream"
        headers, body = answers[key]
        return httpx.Response(200, headers=headers, stream=_Replayed(body))

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]


Table = dict[str, Callable[[], int]]


def sides() -> dict[str, Table]:
    """Each kind of operation's sides; a side runs some operations and says how many."""
    from httpx_sse import connect_sse

    from langchain_nugen import ChatNugen
    from nugen_client import NugenClient

    key = "bench-key"
    http = httpx.Client()
    headers = {"Authorization": f"Bearer {key}"}
    url = BASE + "/chat/completions"

    def raw_post(model: str = MODEL) -> Any:
        return json.loads(http.post(url, json={"model": model, "messages": PROMPT}).content)

    def raw_events(model: str = MODEL) -> Iterator[Any]:
        body = {"model": model, "messages": PROMPT, "stream": True}
        with connect_sse(http, "POST", url, json=body, headers=headers) as source:
            for event in source.iter_sse():
                if event.data != "[DONE]":
                    yield json.loads(event.data)

    nugen = ChatNugen(model=MODEL, base_url=BASE, api_key=key)
    client = NugenClient(base_url=BASE, api_key=key)
    # bench.py's floor; its target is the model name, which picks the replayed stream.
    Floor = langchain_floor(nugen.invoke(PROMPT), list(nugen.stream(PROMPT)), raw_post, raw_events)
    floor, short_floor = Floor(target=MODEL), Floor(target=SHORT)
    short_nugen = ChatNugen(model=SHORT, base_url=BASE, api_key=key)

    per_call = {
        "httpx": repeat(raw_post, 20),
        "NugenClient": repeat(lambda: client.chat_completion(model=MODEL, messages=PROMPT), 20),
        "floor": repeat(lambda: floor.invoke(PROMPT), 20),
        "ChatNugen": repeat(lambda: nugen.invoke(PROMPT), 20),
    }
    per_chunk = {
        "httpx_sse": count(raw_events),
        "NugenClient": count(lambda: client.stream_chat_completion(model=MODEL, messages=PROMPT)),
        "floor": count(lambda: floor.stream(PROMPT)),
        "ChatNugen": count(lambda: nugen.stream(PROMPT)),
    }
    to_first_token = {
        "httpx_sse": first_token(lambda: raw_events(SHORT), 20),
        "NugenClient": first_token(
            lambda: iter(client.stream_chat_completion(model=SHORT, messages=PROMPT)), 20
        ),
        "floor": first_token(lambda: short_floor.stream(PROMPT), 20),
        "ChatNugen": first_token(lambda: short_nugen.stream(PROMPT), 20),
    }
    return {
        "per invoke": per_call,
        "per streamed chunk": per_chunk,
        "to the first streamed token": to_first_token,
    }


def python_calls(fn: Callable[[], int]) -> float:
    """Python function calls per operation of ``fn``."""
    calls = 0

    def tally(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(tally)
    try:
        ops = fn()
    finally:
        sys.setprofile(None)
    return calls / ops


def cpu(table: dict[str, Callable[[], int]], rounds: int) -> dict[str, float]:
    """Best CPU microseconds per operation of each side, the sides interleaved."""
    best = {name: float("inf") for name in table}
    for _ in range(rounds):
        for name, fn in table.items():
            gc.collect()
            gc.freeze()
            start = time.process_time()
            ops = fn()
            best[name] = min(best[name], (time.process_time() - start) / ops * 1e6)
            gc.unfreeze()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", choices=tuple(PROFILED))
    parser.add_argument("--side", default="ChatNugen")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=10, help="runs of the profiled side")
    args = parser.parse_args()
    replay(capture(args.chunks))
    tables = sides()
    for table in tables.values():
        for fn in table.values():
            fn()  # warm-up: first-use model builds, pools
    if args.profile:
        fn = tables[PROFILED[args.profile]][args.side]
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        ops = sum(fn() for _ in range(args.repeat))
        profiler.disable()
        print(f"{ops} operations")
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.lines)
        return
    for label, table in tables.items():
        calls = {name: python_calls(fn) for name, fn in table.items()}
        times = cpu(table, args.rounds)
        print(label)
        for name in table:
            print(f"  {name:12} {calls[name]:8.1f} Python calls {times[name]:9.1f} us")


if __name__ == "__main__":
    main()
