"""A hand-run event loop (``run_until_complete`` then ``close()``, without
``shutdown_asyncgens()``) takes its connections with it, through both adapters: with a
64-descriptor limit, 60 such loops with one long-lived model object each make a call (a
call that left even one descriptor behind would run out before the last).

Each case runs in a fresh interpreter, which sets its own descriptor limit.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from nugen_emulator import NugenEmulator

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs the resource module")

PROGRAM = """
import asyncio, resource, sys

base_url, api_key, case = sys.argv[1:4]
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
kw = dict(api_key=api_key, base_url=base_url, max_retries=0)
if case == "ChatNugen.ainvoke":
    from langchain_nugen import ChatNugen

    model = ChatNugen(**kw)
    call = lambda: model.ainvoke("hi")
else:
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index_nugen import Nugen

    model = Nugen(**kw)
    call = lambda: model.achat([ChatMessage(role="user", content="hi")])
for _ in range(60):
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(call())
    finally:
        loop.close()
print("finished")
"""


@pytest.mark.parametrize("case", ["ChatNugen.ainvoke", "Nugen.achat"])
def test_hand_run_loops_do_not_exhaust_the_descriptors(emu: NugenEmulator, case: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, emu.base_url, emu.api_key, case],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.stdout.strip() == "finished", result.stderr
    assert "Traceback" not in result.stderr, result.stderr
