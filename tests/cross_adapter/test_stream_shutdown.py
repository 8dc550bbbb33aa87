"""A consumer that raises inside ``async for`` over a stream leaves
nothing for asyncio to complain about at shutdown ("an error occurred during closing of
asynchronous generator"), through the client and both adapters; a sync stream dropped
unfinished frees its connection at once, not when the garbage collector finds it.

The cases run in one fresh interpreter, each in an ``asyncio.run`` of its own: the
complaint is logged by ``asyncio.run``'s last step, so only a whole program shows it. Each
case's stderr is what the program wrote between its marker and the next one's.
"""

from __future__ import annotations

import gc
import subprocess
import sys

import httpcore
import pytest
from llama_index.core.base.llms.types import ChatMessage

from langchain_nugen import ChatNugen, NugenLLM
from llama_index_nugen import Nugen
from nugen_client import NugenClient
from nugen_emulator import NugenEmulator

PROGRAM = """
import asyncio, logging, sys
logging.basicConfig(level=logging.ERROR)
from llama_index.core.base.llms.types import ChatMessage
from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen
from nugen_client import AsyncNugenClient

base_url, api_key, *cases = sys.argv[1:]
kw = dict(api_key=api_key, base_url=base_url, max_retries=0)
PROMPT = "tell me a long story about a cat and a dog"

async def stream(case):
    if case == "Nugen.astream_chat":
        return await Nugen(**kw).astream_chat([ChatMessage(role="user", content=PROMPT)])
    if case == "Nugen.astream_complete":
        return await Nugen(**kw).astream_complete(PROMPT)
    if case == "ChatNugen.astream":
        return ChatNugen(**kw).astream(PROMPT)
    return AsyncNugenClient(**kw).stream_chat_completion(
        model="nugen-flash-instruct", messages=[{"role": "user", "content": PROMPT}]
    )

async def main(case):
    try:
        async for _ in await stream(case):
            raise KeyError("the consumer failed")
    except KeyError:
        pass

for case in cases:
    print(f"== {case}", file=sys.stderr, flush=True)
    asyncio.run(main(case))
    print(f"finished {case}", flush=True)
print("== exit", file=sys.stderr, flush=True)
"""

CASES = [
    "Nugen.astream_chat",
    "Nugen.astream_complete",
    "ChatNugen.astream",
    "AsyncNugenClient.stream_chat_completion",
]


pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def stderr_by_case() -> dict[str, str]:
    """Each case's stderr (from its marker to the next), plus the interpreter's last words
    after all cases: a complaint there cannot be told apart, so it counts against each."""
    with NugenEmulator() as emu:
        result = subprocess.run(
            [sys.executable, "-c", PROGRAM, emu.base_url, emu.api_key, *CASES],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finished = result.stdout.splitlines()
    sections = dict(
        part.split("\n", 1) if "\n" in part else (part, "")
        for part in result.stderr.split("== ")[1:]
    )
    return {
        case: sections.get(case, f"never started:\n{result.stderr}")
        + sections.get("exit", "never exited")
        + ("" if f"finished {case}" in finished else f"never finished:\n{result.stderr}")
        for case in CASES
    }


@pytest.mark.parametrize("case", CASES)
def test_a_consumer_exception_inside_async_for_leaves_a_clean_shutdown(
    stderr_by_case: dict[str, str], case: str
) -> None:
    stderr = stderr_by_case[case]
    assert "never" not in stderr, stderr
    assert "error occurred during closing of asynchronous generator" not in stderr, stderr
    assert "Traceback" not in stderr, stderr


PROMPT = "tell me a long story about a cat and a dog"
SYNC_STREAMS = {
    "ChatNugen.stream": lambda kw: ChatNugen(**kw).stream(PROMPT),
    "NugenLLM.stream": lambda kw: NugenLLM(**kw).stream(PROMPT),
    "Nugen.stream_chat": lambda kw: Nugen(**kw).stream_chat(
        [ChatMessage(role="user", content=PROMPT)]
    ),
    "Nugen.stream_complete": lambda kw: Nugen(**kw).stream_complete(PROMPT),
    "NugenClient.stream_chat_completion": lambda kw: NugenClient(**kw).stream_chat_completion(
        model="nugen-flash-instruct", messages=[{"role": "user", "content": PROMPT}]
    ),
}


@pytest.mark.parametrize("case", SYNC_STREAMS)
def test_a_sync_stream_dropped_unfinished_frees_its_connection_without_the_collector(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stream left to the garbage collector is closed wherever a collection runs, which
    # may be inside httpcore's pool lock, on the thread that holds it: httpcore then
    # deadlocks. So a dropped stream must give its connection back at once, by itself.
    collecting, closed_by = [False], []
    gc.collect()  # streams other tests left to the collector are not this one's

    def on_gc(phase: str, _info: object) -> None:
        collecting[0] = phase == "start"

    close = httpcore._sync.connection_pool.PoolByteStream.close

    def recorded_close(self: object) -> None:
        closed_by.append("collector" if collecting[0] else "drop")
        close(self)

    monkeypatch.setattr(httpcore._sync.connection_pool.PoolByteStream, "close", recorded_close)
    gc.callbacks.append(on_gc)
    gc.disable()
    try:
        with NugenEmulator() as emu:
            pieces = SYNC_STREAMS[case]({"api_key": emu.api_key, "base_url": emu.base_url})
            next(iter(pieces))
            del pieces
            assert set(closed_by) == {"drop"}, closed_by  # freed when dropped
            gc.collect()
    finally:
        gc.enable()
        gc.callbacks.remove(on_gc)
    assert set(closed_by) == {"drop"}, closed_by
