"""Issue 15, item 4: a consumer that raises inside ``async for`` over a stream leaves
nothing for asyncio to complain about at shutdown ("an error occurred during closing of
asynchronous generator"), through the client and both adapters.

Each case runs in a fresh interpreter: the complaint is logged by ``asyncio.run``'s last
step, so only a whole program shows it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from nugen_emulator import NugenEmulator

PROGRAM = """
import asyncio, logging, sys
logging.basicConfig(level=logging.ERROR)
from llama_index.core.base.llms.types import ChatMessage
from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen
from nugen_client import AsyncNugenClient

base_url, api_key, case = sys.argv[1:4]
kw = dict(api_key=api_key, base_url=base_url, max_retries=0)
PROMPT = "tell me a long story about a cat and a dog"

async def stream():
    if case == "Nugen.astream_chat":
        return await Nugen(**kw).astream_chat([ChatMessage(role="user", content=PROMPT)])
    if case == "Nugen.astream_complete":
        return await Nugen(**kw).astream_complete(PROMPT)
    if case == "ChatNugen.astream":
        return ChatNugen(**kw).astream(PROMPT)
    return AsyncNugenClient(**kw).stream_chat_completion(
        model="nugen-flash-instruct", messages=[{"role": "user", "content": PROMPT}]
    )

async def main():
    try:
        async for _ in await stream():
            raise KeyError("the consumer failed")
    except KeyError:
        pass

asyncio.run(main())
print("finished")
"""

CASES = [
    "Nugen.astream_chat",
    "Nugen.astream_complete",
    "ChatNugen.astream",
    "AsyncNugenClient.stream_chat_completion",
]


@pytest.mark.parametrize("case", CASES)
def test_a_consumer_exception_inside_async_for_leaves_a_clean_shutdown(
    emu: NugenEmulator, case: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, emu.base_url, emu.api_key, case],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.strip() == "finished", result.stderr
    assert "error occurred during closing of asynchronous generator" not in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
