"""LlamaIndex: a FunctionAgent that calls two tools, with its events streamed."""

import asyncio

from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ToolCall, ToolCallResult
from llama_index.core.tools import FunctionTool

from llama_index_nugen import Nugen


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


agent = FunctionAgent(
    tools=[FunctionTool.from_defaults(add), FunctionTool.from_defaults(multiply)],
    llm=Nugen(temperature=0),  # function calling is on for every Nugen chat model
    system_prompt="You are a careful calculator. Use the tools for arithmetic.",
)


async def main() -> None:
    handler = agent.run("Use add to add 2 and 3, then use multiply to multiply the sum by 4.")
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            print(f"<- {event.tool_name}: {event.tool_output.content}")
        elif isinstance(event, ToolCall):
            print(f"-> {event.tool_name}({event.tool_kwargs})")
        elif isinstance(event, AgentStream) and event.delta:
            print(event.delta, end="", flush=True)  # the answer, token by token
    result = await handler  # the AgentOutput: response, tool_calls, raw
    print(f"\n({len(result.tool_calls)} tool calls)")


asyncio.run(main())
