"""A consumer that raises inside ``async for`` over a stream leaves
nothing for asyncio to complain about at shutdown ("an error occurred during closing of
asynchronous generator"), through the client and both adapters.

The cases run in one fresh interpreter, each in an ``asyncio.run`` of its own: the
complaint is logged by ``asyncio.run``'s last step, so only a whole program shows it. Each
case's stderr is what the program wrote between its marker and the next one's.
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
