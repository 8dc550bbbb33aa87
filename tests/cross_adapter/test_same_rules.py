"""One rule set: the same case through ``ChatNugen`` and ``Nugen`` puts the same request
on the wire.

Each case of ``CASES`` is run four times against the emulator (LangChain ``invoke`` and
``ainvoke``, LlamaIndex ``chat`` / ``chat_with_tools`` and their async forms). The four
recorded requests must have the same JSON body and the same Nugen headers, and the body
must hold what the case expects (so an agreement on a wrong request fails too).
"""

from __future__ import annotations

import asyncio
import base64
import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, ToolCallBlock
from llama_index.core.tools import FunctionTool

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen
from nugen_client import InvalidInputError
from nugen_client.params import DEFAULT_TIMEOUT
from nugen_emulator import NugenEmulator, RecordedRequest

pytestmark = pytest.mark.emulator

# Headers the rules decide (the rest, User-Agent and the like, is the client's alone).
NUGEN_HEADERS = ("x-session-id", "x-provider", "x-trace", "x-custom")


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"sunny in {city}"


def get_time(city: str) -> str:
    """Get the local time in a city."""
    return f"noon in {city}"


LI_TOOLS = {fn.__name__: FunctionTool.from_defaults(fn) for fn in (get_weather, get_time)}
# LangChain gets the very same OpenAI tool dicts, so the two bodies can be compared whole.
LC_TOOLS = {
    name: tool.metadata.to_openai_tool(skip_length_check=True) for name, tool in LI_TOOLS.items()
}
NAMED_WEATHER = {"type": "function", "function": {"name": "get_weather"}}


@dataclass(frozen=True)
class Case:
    id: str
    init: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments, the same names in both frameworks."""
    extra_body: dict[str, Any] = field(default_factory=dict)
    """LangChain ``model_kwargs`` / LlamaIndex ``additional_kwargs``."""
    call: dict[str, Any] = field(default_factory=dict)
    """Call keywords, the same names in both frameworks."""
    tools: tuple[str, ...] = ()
    lc_tool_choice: Any = None
    li_tool_choice: Any = None
    li_tool_required: bool = False
    tool_turn: bool = False
    """The history holds an assistant turn of tool calls only, and its result."""
    expect: dict[str, Any] = field(default_factory=dict)
    """Body fields the request must have (``None``: the field must be absent)."""
    expect_headers: dict[str, str | None] = field(default_factory=dict)


CASES = [
    Case("defaults", expect={"temperature": None, "tools": None, "tool_choice": None}),
    Case(
        "sampling fields",
        init={
            "max_tokens": 50,
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40,
            "prompt_truncate_len": 1000,
        },
        expect={
            "max_tokens": 50,
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40,
            "prompt_truncate_len": 1000,
        },
    ),
    Case(
        "call keywords override fields",
        init={"temperature": 0.5, "max_tokens": 50},
        call={"temperature": 0.2, "max_tokens": 9},
        expect={"temperature": 0.2, "max_tokens": 9},
    ),
    Case("stop on the model", init={"stop": ["END"]}, expect={"stop": ["END"]}),
    Case(
        "stop per call",
        init={"stop": ["END"]},
        call={"stop": ["HALT"]},
        expect={"stop": ["HALT"]},
    ),
    Case(
        "reasoning",
        init={"reasoning": {"effort": "low", "max_tokens": 64}},
        expect={"reasoning": {"effort": "low", "max_tokens": 64}},
    ),
    Case(
        "extra body fields",
        extra_body={"user": "u-1"},
        call={"seed": 7},
        expect={"user": "u-1", "seed": 7},
    ),
    Case(
        "headers from the model",
        init={
            "session_id": "s-model",
            "provider": "nugen-infer-align",
            "default_headers": {"X-Custom": "c"},
        },
        expect_headers={
            "x-session-id": "s-model",
            "x-provider": "nugen-infer-align",
            "x-custom": "c",
        },
    ),
    Case(
        "headers per call",
        init={"session_id": "s-model", "provider": "fwai"},
        call={"session_id": "s-call", "provider": "p-call", "extra_headers": {"X-Trace": "t-1"}},
        expect_headers={"x-session-id": "s-call", "x-provider": "p-call", "x-trace": "t-1"},
    ),
    Case(
        "tools without a choice",
        tools=("get_weather", "get_time"),
        expect={"tools": [LC_TOOLS["get_weather"], LC_TOOLS["get_time"]], "tool_choice": None},
    ),
    Case(
        "tool_choice auto",
        tools=("get_weather",),
        lc_tool_choice="auto",
        li_tool_choice="auto",
        expect={"tool_choice": "auto"},
    ),
    Case(
        "tool_choice none",
        tools=("get_weather",),
        lc_tool_choice="none",
        li_tool_choice="none",
        expect={"tool_choice": "none"},
    ),
    Case(
        "tool_choice a tool name",
        tools=("get_weather", "get_time"),
        lc_tool_choice="get_weather",
        li_tool_choice="get_weather",
        expect={"tool_choice": NAMED_WEATHER},
    ),
    Case(
        "tool_choice the specific-tool dict",
        tools=("get_weather", "get_time"),
        lc_tool_choice=NAMED_WEATHER,
        li_tool_choice=NAMED_WEATHER,
        expect={"tool_choice": NAMED_WEATHER},
    ),
    Case(
        "forced call, one tool (any / tool_required)",
        tools=("get_weather",),
        lc_tool_choice="any",
        li_tool_required=True,
        expect={"tool_choice": NAMED_WEATHER},
    ),
    Case(
        "forced call, one tool (True / required)",
        tools=("get_weather",),
        lc_tool_choice=True,
        li_tool_choice="required",
        expect={"tool_choice": NAMED_WEATHER},
    ),
    Case(
        "forced call, several tools",
        tools=("get_weather", "get_time"),
        lc_tool_choice="any",
        li_tool_required=True,
        expect={"tool_choice": "required"},
    ),
    Case(
        "an assistant turn of tool calls only",
        tools=("get_weather",),
        tool_turn=True,
        expect={"tool_choice": None},
    ),
]


def _lc_history(case: Case) -> list[BaseMessage]:
    messages: list[BaseMessage] = [HumanMessage("What is the weather in Oslo?")]
    if case.tool_turn:
        call = {"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_1"}
        messages += [
            AIMessage("", tool_calls=[call]),
            ToolMessage("sunny in Oslo", tool_call_id="call_1"),
        ]
    return messages


def _li_history(case: Case) -> list[ChatMessage]:
    messages = [ChatMessage(role="user", content="What is the weather in Oslo?")]
    if case.tool_turn:
        block = ToolCallBlock(
            tool_call_id="call_1", tool_name="get_weather", tool_kwargs={"city": "Oslo"}
        )
        messages += [
            ChatMessage(role="assistant", blocks=[block]),
            ChatMessage(
                role="tool", content="sunny in Oslo", additional_kwargs={"tool_call_id": "call_1"}
            ),
        ]
    return messages


def _chat_nugen(emu: NugenEmulator, case: Case) -> ChatNugen:
    return ChatNugen(
        base_url=emu.base_url,
        api_key=emu.api_key,
        max_retries=0,
        model_kwargs=dict(case.extra_body),
        **case.init,
    )


def _nugen(emu: NugenEmulator, case: Case) -> Nugen:
    return Nugen(
        base_url=emu.base_url,
        api_key=emu.api_key,
        max_retries=0,
        additional_kwargs=dict(case.extra_body),
        **case.init,
    )


def run_langchain(emu: NugenEmulator, case: Case, *, use_async: bool) -> None:
    runnable: Any = _chat_nugen(emu, case)
    if case.tools:
        choice = {} if case.lc_tool_choice is None else {"tool_choice": case.lc_tool_choice}
        runnable = runnable.bind_tools([LC_TOOLS[name] for name in case.tools], **choice)
    messages = _lc_history(case)
    if use_async:
        asyncio.run(runnable.ainvoke(messages, **case.call))
    else:
        runnable.invoke(messages, **case.call)


def run_llama_index(emu: NugenEmulator, case: Case, *, use_async: bool) -> None:
    llm = _nugen(emu, case)
    messages = _li_history(case)
    if not case.tools:
        if use_async:
            asyncio.run(llm.achat(messages, **case.call))
        else:
            llm.chat(messages, **case.call)
        return
    kwargs = dict(case.call)
    if case.li_tool_choice is not None:
        kwargs["tool_choice"] = case.li_tool_choice
    tools = [LI_TOOLS[name] for name in case.tools]
    if use_async:
        asyncio.run(
            llm.achat_with_tools(
                tools, chat_history=messages, tool_required=case.li_tool_required, **kwargs
            )
        )
    else:
        llm.chat_with_tools(
            tools, chat_history=messages, tool_required=case.li_tool_required, **kwargs
        )


RUNS: list[tuple[str, Callable[..., None], bool]] = [
    ("ChatNugen.invoke", run_langchain, False),
    ("ChatNugen.ainvoke", run_langchain, True),
    ("Nugen.chat", run_llama_index, False),
    ("Nugen.achat", run_llama_index, True),
]


def _wire(request: RecordedRequest) -> tuple[Any, dict[str, str | None]]:
    return request.body, {name: request.headers.get(name) for name in NUGEN_HEADERS}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_both_adapters_send_the_same_request(nugen_emulator: NugenEmulator, case: Case) -> None:
    seen: dict[str, tuple[Any, dict[str, str | None]]] = {}
    for name, run, use_async in RUNS:
        nugen_emulator.reset()
        run(nugen_emulator, case, use_async=use_async)
        assert len(nugen_emulator.requests) == 1, name
        seen[name] = _wire(nugen_emulator.requests[0])

    reference = seen["ChatNugen.invoke"]
    for name, wire in seen.items():
        assert wire == reference, f"{name} sent another request than ChatNugen.invoke"

    body, headers = reference
    for key, value in case.expect.items():
        assert body.get(key) == value, key
        if value is None:
            assert key not in body, f"{key} was sent though nothing set it"
    for key, header in {name: None for name in NUGEN_HEADERS}.items():
        assert headers[key] == case.expect_headers.get(key, header), key
    if case.tool_turn:
        assert body["messages"][1] == {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        }


def test_an_image_goes_with_the_type_its_bytes_have(nugen_emulator: NugenEmulator) -> None:
    """A data URL whose label the bytes contradict is sent with the bytes' type, as local
    bytes are, whichever framework it came through."""
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 16).decode()
    labelled_png = f"data:image/png;base64,{jpeg}"
    lc_content = [{"type": "image_url", "image_url": {"url": labelled_png}}]
    ChatNugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key).invoke(
        [HumanMessage(content=lc_content)]
    )
    Nugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key).chat(
        [ChatMessage(role="user", blocks=[ImageBlock(url=labelled_png)])]
    )
    sent = [request.body["messages"][0]["content"][0] for request in nugen_emulator.requests]
    part = {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{jpeg}"}}
    assert sent == [part, part]
    assert lc_content[0]["image_url"] == {"url": labelled_png}


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_an_unknown_tool_name_is_refused_before_any_request(
    nugen_emulator: NugenEmulator, use_async: bool
) -> None:
    case = Case(
        "unknown", tools=("get_weather",), lc_tool_choice="get_tme", li_tool_choice="get_tme"
    )
    for run in (run_langchain, run_llama_index):
        with pytest.raises(InvalidInputError, match="'get_tme' is not one of the bound tools"):
            run(nugen_emulator, case, use_async=use_async)
    assert nugen_emulator.requests == []


@pytest.mark.parametrize(
    ("timeout", "seconds"), [(None, DEFAULT_TIMEOUT), (5.0, 5.0), (30.0, 30.0)]
)
def test_timeout_means_the_same_in_both(
    nugen_emulator: NugenEmulator, timeout: float | None, seconds: float
) -> None:
    case = Case("timeout", init={"timeout": timeout})
    chat, llm = _chat_nugen(nugen_emulator, case), _nugen(nugen_emulator, case)
    chat.invoke("hi")
    llm.chat([ChatMessage(role="user", content="hi")])
    expected = httpx.Timeout(seconds, connect=min(seconds, 10.0))
    for model in (chat, llm):
        client = model._clients.built_sync_client
        assert client is not None
        assert client.timeout == expected, type(model).__name__


def test_per_call_headers_never_rebuild_the_pool(nugen_emulator: NugenEmulator) -> None:
    case = Case("pool")
    chat, llm = _chat_nugen(nugen_emulator, case), _nugen(nugen_emulator, case)
    chat.invoke("hi")
    llm.chat([ChatMessage(role="user", content="hi")])
    clients = [chat._clients.built_sync_client, llm._clients.built_sync_client]
    for session in ("s-1", "s-2"):
        chat.session_id = llm.session_id = session
        chat.provider = llm.provider = f"p-{session}"
        chat.invoke("hi", session_id=f"call-{session}")
        llm.chat([ChatMessage(role="user", content="hi")], session_id=f"call-{session}")
        assert nugen_emulator.requests[-1].headers["x-session-id"] == f"call-{session}"
        assert nugen_emulator.requests[-1].headers["x-provider"] == f"p-{session}"
    assert [chat._clients.built_sync_client, llm._clients.built_sync_client] == clients


def _stream(model: Any) -> Any:
    if isinstance(model, ChatNugen):
        return iter(model.stream("Tell me a story"))
    return iter(model.stream_chat([ChatMessage(role="user", content="Tell me a story")]))


def _call(model: Any) -> None:
    if isinstance(model, ChatNugen):
        model.invoke("hi")
    else:
        model.chat([ChatMessage(role="user", content="hi")])


@pytest.mark.parametrize("framework", ["ChatNugen", "Nugen"])
def test_a_replaced_pool_closes_when_its_last_stream_is_done(
    nugen_emulator: NugenEmulator, framework: str
) -> None:
    case = Case("pool")
    model: Any = (
        _chat_nugen(nugen_emulator, case)
        if framework == "ChatNugen"
        else _nugen(nugen_emulator, case)
    )
    stream = _stream(model)
    next(stream)  # the stream is reading from the first client's pool
    old = model._clients.built_sync_client
    pool = old._http
    assert pool is not None
    model.max_retries = 1  # a connection setting: the next call builds a new client
    _call(model)
    assert model._clients.built_sync_client is not old
    assert not pool.is_closed, "a pool was closed under a stream still reading from it"
    assert list(stream)  # the rest of the answer arrives
    del stream, old
    gc.collect()
    assert pool.is_closed, "a replaced pool stayed open after its last user was done"
