"""Tool calls as the agents of both frameworks receive them, against the emulator with a
scripted model reply, whole and streamed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.tools import tool
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.tools import FunctionTool

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen
from nugen_emulator import NugenEmulator
from nugen_emulator.replies import ChatCall, Choice, Generation, ToolCall

pytestmark = pytest.mark.emulator

# What models write when asked for code: a literal newline and tab inside a JSON string.
CODE_ARGUMENTS = '{"code": "print(1)\nprint(2)", "indent": "\t"}'
CODE_ARGS = {"code": "print(1)\nprint(2)", "indent": "\t"}


def run_code(code: str, indent: str) -> str:
    """Run a Python snippet."""
    return f"ran {len(code.splitlines())} lines"


def writes_code(call: ChatCall) -> Generation | None:
    """Calls run_code once, then lets the emulator's model answer the tool result."""
    if call.messages[-1]["role"] != "user":
        return None
    calls = [ToolCall(name="run_code", arguments=CODE_ARGUMENTS, id="call_1")]
    return Generation([Choice(None, "tool_calls", calls)], call.prompt_tokens)


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
def test_arguments_with_raw_newlines_run_in_both_frameworks(
    nugen_emulator: NugenEmulator, streaming: bool
) -> None:
    """``ChatOpenAI`` runs such a call: ChatNugen must not file it under
    ``invalid_tool_calls``, nor must ``Nugen`` refuse it."""
    nugen_emulator.chat_reply = writes_code
    connection = {"base_url": nugen_emulator.base_url, "api_key": nugen_emulator.api_key}

    model = ChatNugen(**connection, streaming=streaming).bind_tools([tool(run_code)])
    message = model.invoke("Write and run a two-line script.")
    assert message.invalid_tool_calls == []
    assert [(call["name"], call["args"]) for call in message.tool_calls] == [
        ("run_code", CODE_ARGS)
    ]

    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(run_code)], llm=Nugen(**connection), streaming=streaming
    )

    async def run() -> Any:
        return await agent.run("Write and run a two-line script.")

    result = asyncio.run(run())
    assert [(call.tool_name, call.tool_kwargs) for call in result.tool_calls] == [
        ("run_code", CODE_ARGS)
    ]
    assert result.tool_calls[0].tool_output.content == "ran 2 lines"
