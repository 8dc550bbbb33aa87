"""The five parts of the demo: each one is what you would write in your own app.

Every model here is built without connection arguments: ``ChatNugen``, ``Nugen``,
``NugenMultiModal``, ``NugenEmbedding`` and ``NugenRerank`` read ``NUGEN_API_KEY`` and
``NUGEN_BASE_URL`` from the environment (the demo points those at its embedded emulator
when you have no key).
"""

from __future__ import annotations

import base64
import textwrap
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool, tool
from llama_index.core import VectorStoreIndex
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.core.llms import ChatMessage, ImageBlock
from llama_index.core.node_parser import MarkdownNodeParser
from llama_index.core.prompts import PromptTemplate
from llama_index.core.schema import Document
from pydantic import BaseModel, Field

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen, NugenEmbedding, NugenMultiModal, NugenRerank
from nugen_demo._output import say, streamed_line
from nugen_demo._readme import load_readme

# Wikimedia Commons' PNG demonstration image. Only the live service fetches it; the
# emulator just notes which host it is on, so the demo needs no network there.
IMAGE_URL = (
    "https://upload.wikimedia.org/wikipedia/commons/4/47/PNG_transparency_demonstration_1.png"
)


# -- 1. LangChain: a streamed answer, its usage and confidence score -----------------------


def streamed_chat() -> None:
    # nugen-legal is domain-aligned: the service adds a confidence score to its answers.
    model = ChatNugen(model="nugen-legal", temperature=0.2)
    question = "In two sentences: what does a force majeure clause do?"
    answer: AIMessageChunk | None = None
    with streamed_line("answer") as show:
        for chunk in model.stream(question):
            show(chunk.text)  # each token as it arrives
            answer = chunk if answer is None else answer + chunk  # chunks add up
    assert answer is not None
    # Only the last chunk carries usage and response metadata; the sum has them all.
    say("usage", str(answer.usage_metadata))
    say("confidence score", str(answer.response_metadata.get("confidence_score")))


# -- 2. LangChain: an agent that needs two tools -------------------------------------------


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city (demo data)."""
    return f"It is 18 degrees Celsius and sunny in {city}."


@tool
def celsius_to_fahrenheit(celsius: float) -> str:
    """Convert a temperature from degrees Celsius to degrees Fahrenheit."""
    return f"{celsius * 9 / 5 + 32:.1f} degrees Fahrenheit"


AGENT_TASK = (
    "What is the weather in 'Paris', in Fahrenheit? "
    "Use get_weather, then celsius_to_fahrenheit on the temperature it reports."
)


def agent_with_tools() -> None:
    model = ChatNugen(temperature=0)
    tools: list[BaseTool] = [get_weather, celsius_to_fahrenheit]
    say("task", AGENT_TASK)
    answer: str | None = None
    try:
        from langchain.agents import create_agent  # the `langchain` package, not -core
    except ImportError:
        answer = _agent_loop_by_hand(model, tools, AGENT_TASK)
    else:
        agent = create_agent(model, tools=tools, system_prompt="Use the tools; answer briefly.")
        # stream_mode="updates" yields after every step, so each tool call and result
        # shows up the moment it happens rather than when the whole run is over.
        task = HumanMessage(AGENT_TASK)
        for update in agent.stream({"messages": [task]}, stream_mode="updates"):
            for step in update.values():
                for message in (step or {}).get("messages", []):
                    answer = _show_agent_message(message) or answer
    say("answer", answer or "(no answer)")


def _show_agent_message(message: BaseMessage) -> str | None:
    """Print a tool call or a tool result; return the text of a final answer."""
    if isinstance(message, AIMessage) and message.tool_calls:
        for call in message.tool_calls:
            arguments = ", ".join(f"{k}={v!r}" for k, v in call["args"].items())
            say("calls", f"{call['name']}({arguments})")
        return None
    if isinstance(message, AIMessage):
        return message.text
    say(f"{getattr(message, 'name', None) or 'tool'} returned", message.text)
    return None


def _agent_loop_by_hand(model: ChatNugen, tools: Sequence[BaseTool], task: str) -> str:
    """create_agent's loop in langchain-core alone, for installs without `langchain`."""
    say("note", "the `langchain` package is not installed, so this runs the agent loop by hand")
    by_name = {t.name: t for t in tools}
    with_tools = model.bind_tools(tools)
    messages: list[BaseMessage] = [HumanMessage(task)]
    for _ in range(8):  # a bound on steps, like create_agent's recursion limit
        reply = with_tools.invoke(messages)
        messages.append(reply)
        _show_agent_message(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            return reply.text
        for call in reply.tool_calls:
            result: BaseMessage = by_name[call["name"]].invoke(call)  # a ToolMessage
            _show_agent_message(result)
            messages.append(result)
    return "(gave up after 8 steps)"


# -- 3. Vision: the /chat/vision endpoint and chat completions, a file and a URL -----------

VISION_PROMPT = "Describe this image in one sentence."


def vision() -> None:
    # A 32x32 PNG shipped in the package (a blue disc on white); as_file gives a real
    # path even when the package is zipped.
    image_file = resources.files("nugen_demo") / "assets" / "blue-circle.png"
    with resources.as_file(image_file) as image_path:
        # LlamaIndex's NugenMultiModal posts to the dedicated vision endpoint
        # (/chat/vision, model nugen-flash-vision), which answers in one piece.
        vision_llm = NugenMultiModal()
        images = [("local file", ImageBlock(path=image_path)), ("URL", ImageBlock(url=IMAGE_URL))]
        for source, image in images:
            response = vision_llm.complete(VISION_PROMPT, image_documents=[image])
            say(f"/chat/vision, {source}", response.text)

        # ChatNugen sends image blocks through chat completions (here to qwen3-vl-30b)
        # and streams the description. A local file goes as base64 data.
        png = base64.b64encode(image_path.read_bytes()).decode()
    model = ChatNugen(model="qwen3-vl-30b")
    blocks: list[tuple[str, dict[str, Any]]] = [
        ("local file", {"type": "image", "base64": png, "mime_type": "image/png"}),
        ("URL", {"type": "image", "url": IMAGE_URL}),
    ]
    for source, block in blocks:
        message = HumanMessage(content=[{"type": "text", "text": VISION_PROMPT}, block])
        with streamed_line(f"/chat/completions, {source}") as show:
            for chunk in model.stream([message]):
                show(chunk.text)


# -- 4. LlamaIndex: RAG over this project's README -----------------------------------------

RAG_QUESTION = "How do I test my own chain offline, without the live service?"
RAG_CANDIDATES = 4


def rag_over_readme() -> None:
    text, origin = load_readme()
    say("corpus", origin)
    document = Document(text=text, metadata={"file_name": "README.md"})
    # One chunk per section: a section says one thing, and its chunk stays the same
    # whatever is edited elsewhere in the README.
    nodes = MarkdownNodeParser().get_nodes_from_documents([document])
    index = VectorStoreIndex(nodes, embed_model=NugenEmbedding())  # embeds every chunk
    say("index", f"{len(nodes)} chunks (one per section), embedded with NugenEmbedding")
    # The embeddings find candidates fast; the reranker reads each one with the question
    # and keeps the best two, which are all the model gets to answer from.
    engine = index.as_query_engine(
        llm=Nugen(temperature=0),
        similarity_top_k=RAG_CANDIDATES,
        node_postprocessors=[NugenRerank(top_n=2)],
        streaming=True,
    )
    say("rerank", f"the {RAG_CANDIDATES} nearest chunks, reranked by NugenRerank; the best 2 kept")
    say("question", RAG_QUESTION)
    response = engine.query(RAG_QUESTION)
    assert isinstance(response, StreamingResponse)  # streaming=True above
    with streamed_line("answer") as show:
        for token in response.response_gen:
            show(token)
    for rank, source in enumerate(response.source_nodes, start=1):
        heading, _, body = source.node.get_content().partition("\n")
        excerpt = textwrap.shorten(body, width=72, placeholder=" ...")
        section = heading.lstrip("#").strip()
        say(f"source node {rank} (relevance {source.score or 0:.3f})", f"[{section}] {excerpt}")


# -- 5. Structured output into a pydantic model, in both frameworks ------------------------


class Landmark(BaseModel):
    """A landmark mentioned in a text."""

    name: str = Field(description="The landmark's name")
    city: str = Field(description="The city it stands in")
    height_m: int = Field(description="Its height in metres")


LANDMARK_TEXT = "The 'Eiffel Tower' in 'Paris' is 330 metres tall."


def structured_output() -> None:
    say("text", LANDMARK_TEXT)
    # LangChain: the model is made to call a tool whose arguments are the schema.
    landmark = ChatNugen(temperature=0).with_structured_output(Landmark).invoke(LANDMARK_TEXT)
    say("LangChain with_structured_output", repr(landmark))
    # LlamaIndex: structured_predict fills a prompt template, then does the same.
    prompt = PromptTemplate("Extract the landmark from this text: {text}")
    landmark = Nugen(temperature=0).structured_predict(Landmark, prompt, text=LANDMARK_TEXT)
    say("LlamaIndex structured_predict", repr(landmark))
    # ... or wrap the LLM so that every chat answers with a Landmark (in response.raw).
    structured_llm = Nugen(temperature=0).as_structured_llm(Landmark)
    response = structured_llm.chat([ChatMessage(role="user", content=LANDMARK_TEXT)])
    say("LlamaIndex as_structured_llm", repr(response.raw))


PARTS: list[tuple[str, Callable[[], None]]] = [
    ("LangChain: ChatNugen streams an answer (nugen-legal)", streamed_chat),
    ("LangChain: create_agent calls two tools", agent_with_tools),
    ("Vision: one image, two endpoints, from a file and from a URL", vision),
    ("LlamaIndex: RAG over the project's README", rag_over_readme),
    ("Structured output into a pydantic model, in both frameworks", structured_output),
]
