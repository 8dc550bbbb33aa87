"""LlamaIndex's ``ReActAgent`` driven by the emulator: tools described in the prompt only.

A ReAct agent sends no ``tools`` field; the emulator reads the tool list from the system
header and answers in the Thought / Action / Action Input format, then ``Answer:`` after
the observation.
"""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.agent.workflow import AgentOutput, ReActAgent
from llama_index.core.tools import FunctionTool

from llama_index_nugen import Nugen
from nugen_emulator import NugenEmulator

# The workflow machinery inspects the agent (pydantic's deprecated attributes) and calls
# its own deprecated ``ctx.is_running``: llama-index's warnings, nothing of ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect"),
    pytest.mark.filterwarnings("ignore:is_running called from within a step:DeprecationWarning"),
]


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_react_agent_calls_the_tool_and_answers(nugen_emulator: NugenEmulator) -> None:
    llm = Nugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    tools = [FunctionTool.from_defaults(multiply), FunctionTool.from_defaults(add)]
    agent = ReActAgent(tools=tools, llm=llm)

    async def run() -> AgentOutput:
        output = await agent.run(user_msg="Use multiply: what is 6 times 7?")
        assert isinstance(output, AgentOutput)
        return output

    output = asyncio.run(run())

    assert [(call.tool_name, call.tool_kwargs) for call in output.tool_calls] == [
        ("multiply", {"a": 6, "b": 7})
    ]
    assert output.tool_calls[0].tool_output.content == "42"
    assert output.response.content == "42"
    bodies = [request.body for request in nugen_emulator.requests]
    assert len(bodies) == 2  # the action, then the answer after the observation
    assert all("tools" not in body for body in bodies)
    assert bodies[-1]["messages"][-1]["content"] == "Observation: 42"


def weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"sunny in {city}"


def local_time(city: str) -> str:
    """Get the local time in a city."""
    return f"noon in {city}"


def test_react_agent_gives_each_action_its_own_arguments(nugen_emulator: NugenEmulator) -> None:
    """LlamaIndex writes an earlier step's ``Action Input`` as a Python dict
    (``{'city': 'Oslo'}``): the emulator must still read it as taken, as it does for tool
    calls, so the second action gets the other city."""
    llm = Nugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    tools = [FunctionTool.from_defaults(weather), FunctionTool.from_defaults(local_time)]
    agent = ReActAgent(tools=tools, llm=llm)

    async def run() -> AgentOutput:
        return await agent.run(user_msg="Use weather for 'Oslo', then local_time for 'Rome'.")

    output = asyncio.run(run())

    assert [(call.tool_name, call.tool_kwargs) for call in output.tool_calls] == [
        ("weather", {"city": "Oslo"}),
        ("local_time", {"city": "Rome"}),
    ]
    assert "Action Input: {'city': 'Oslo'}" in str(nugen_emulator.requests[1].body)
