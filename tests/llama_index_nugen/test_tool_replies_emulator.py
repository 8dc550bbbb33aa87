"""What users of LlamaIndex's tool and structured-output helpers get when the model's tool
call cannot be used, against the emulator with a scripted reply."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from llama_index.core.agent.workflow import AgentOutput, FunctionAgent
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from llama_index_nugen import Nugen
from nugen_client import APIResponseValidationError
from nugen_emulator.replies import ChatCall, Choice, Generation, ToolCall

if TYPE_CHECKING:
    from nugen_emulator import NugenEmulator


class City(BaseModel):
    name: str
    country: str


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def calls_an_unknown_tool(call: ChatCall) -> Generation:
    arguments = '{"name": "Paris", "country": "France", "a": 1, "b": 2}'
    choice = Choice(
        content=None,
        finish_reason="tool_calls",
        tool_calls=[ToolCall(name="lookup", arguments=arguments, id="call_1")],
    )
    return Generation([choice], call.prompt_tokens)


def _run(llm: Nugen, is_async: bool, name: str, *args: Any, **kwargs: Any) -> object:
    """``llm.<name>(...)``, or its async form ``a<name>`` run to completion."""
    if is_async:
        return asyncio.run(getattr(llm, f"a{name}")(*args, **kwargs))
    return getattr(llm, name)(*args, **kwargs)


@pytest.mark.parametrize("is_async", [False, True])
def test_a_call_of_a_tool_that_was_not_given_is_named(
    nugen_emulator: NugenEmulator, is_async: bool
) -> None:
    nugen_emulator.chat_reply = calls_an_unknown_tool
    llm = Nugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    prompt = PromptTemplate("Name a city in {country}.")
    with pytest.raises(APIResponseValidationError, match=r"'lookup'.*\('City'\)"):
        _run(llm, is_async, "structured_predict", City, prompt, country="France")
    tools = [FunctionTool.from_defaults(add)]
    with pytest.raises(APIResponseValidationError, match=r"'lookup'.*\('add'\)"):
        _run(llm, is_async, "predict_and_call", tools, "Add 1 and 2.")


@pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")
@pytest.mark.parametrize("streaming", [False, True])
def test_an_agent_tells_the_model_it_called_an_unknown_tool(
    nugen_emulator: NugenEmulator, streaming: bool
) -> None:
    """A ``FunctionAgent`` answers a call of a tool it does not have with an error result
    the model can correct, as with ``OpenAILike``; the call must not end the run."""

    def misnames_then_answers(call: ChatCall) -> Generation | None:
        return calls_an_unknown_tool(call) if call.messages[-1]["role"] == "user" else None

    nugen_emulator.chat_reply = misnames_then_answers
    llm = Nugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=llm, streaming=streaming)

    async def run() -> AgentOutput:
        return await agent.run("Add 1 and 2.")

    output = asyncio.run(run())
    unknown, retried = output.tool_calls  # the emulator's model then calls add itself
    assert unknown.tool_name == "lookup"
    assert unknown.tool_output.is_error
    assert "Tool lookup not found" in unknown.tool_output.content
    assert retried.tool_name == "add"
    assert not retried.tool_output.is_error
