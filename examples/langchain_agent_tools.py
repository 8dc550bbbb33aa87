"""LangChain: an agent (langchain.agents.create_agent) that needs two tools for one task.

Needs the `langchain` package as well as the extra:
    pip install "nugen-integrations[langchain]" langchain
"""

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from langchain_nugen import ChatNugen


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is 18 degrees Celsius and sunny in {city}."  # demo data


@tool
def celsius_to_fahrenheit(celsius: float) -> str:
    """Convert a temperature from degrees Celsius to degrees Fahrenheit."""
    return f"{celsius * 9 / 5 + 32:.1f} degrees Fahrenheit"


# init_chat_model("nugen:...") cannot work (LangChain's provider list is closed to
# third-party packages): pass a ChatNugen instance wherever a model is expected.
agent = create_agent(
    ChatNugen(temperature=0),
    tools=[get_weather, celsius_to_fahrenheit],
    system_prompt="Use the tools, then answer in one sentence.",
)

task = (
    "What is the weather in 'Paris', in Fahrenheit? "
    "Use get_weather, then celsius_to_fahrenheit on the temperature it reports."
)
# stream_mode="updates" yields after each step: tool calls and results as they happen.
for update in agent.stream({"messages": [("user", task)]}, stream_mode="updates"):
    for step in update.values():
        for message in step["messages"]:
            if isinstance(message, AIMessage) and message.tool_calls:
                for call in message.tool_calls:
                    print(f"-> {call['name']}({call['args']})")
            elif isinstance(message, ToolMessage):
                print(f"<- {message.name}: {message.text}")
            else:
                print("answer:", message.text)
