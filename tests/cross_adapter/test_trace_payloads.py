"""The traced forms: neither the API key nor a credential-like ``default_headers`` or
per-call header value reaches LangChain's ``on_chat_model_start`` (``serialized`` and
``invocation_params``), LlamaIndex's callback event payloads or its instrumentation
events (``LLMChatStartEvent``, ``LLMCompletionStartEvent``, ...)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

from langchain_nugen import ChatNugen, NugenLLM
from llama_index_nugen import Nugen, NugenMultiModal
from nugen_client import InvalidInputError
from nugen_emulator import NugenEmulator

HEADER_SECRET = "hdr-SECRET-99887766"


class _Starts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.append(repr(serialized) + repr(kwargs))


def test_langchain_chat_model_start_holds_no_credentials(emu: NugenEmulator) -> None:
    starts = _Starts()
    model = ChatNugen(
        api_key=emu.api_key, base_url=emu.base_url, default_headers={"X-Api-Key": HEADER_SECRET}
    )
    model.invoke("hi", config={"callbacks": [starts]})
    assert starts.seen
    assert "invocation_params" in starts.seen[0]
    for text in starts.seen:
        assert HEADER_SECRET not in text
        assert emu.api_key not in text


def test_llama_index_callback_payloads_hold_no_credentials(emu: NugenEmulator) -> None:
    debug = LlamaDebugHandler()
    llm = Nugen(
        api_key=emu.api_key,
        base_url=emu.base_url,
        default_headers={"X-Api-Key": HEADER_SECRET},
        callback_manager=CallbackManager([debug]),
    )
    llm.chat([ChatMessage(role="user", content="hi")])
    events = debug.get_events()
    assert events
    text = repr([event.payload for event in events])
    assert HEADER_SECRET not in text
    assert emu.api_key not in text


class _Events(BaseEventHandler):
    seen: list[BaseEvent] = []

    @classmethod
    def class_name(cls) -> str:
        return "Events"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.seen.append(event)


@pytest.fixture
def instrumentation_events() -> Iterator[list[BaseEvent]]:
    handler = _Events(seen=[])
    root = get_dispatcher()
    root.add_event_handler(handler)
    try:
        yield handler.seen
    finally:
        root.event_handlers.remove(handler)


def _call(llm: Any, form: str, headers: dict[str, str]) -> None:
    messages = [ChatMessage(role="user", content="hi")]

    async def drain(pieces: Any) -> None:
        async for _ in await pieces:
            pass

    if form == "chat":
        llm.chat(messages, extra_headers=headers)
    elif form == "achat":
        asyncio.run(llm.achat(messages, extra_headers=headers))
    elif form == "stream_chat":
        list(llm.stream_chat(messages, extra_headers=headers))
    elif form == "astream_chat":
        asyncio.run(drain(llm.astream_chat(messages, extra_headers=headers)))
    elif form == "complete":
        if isinstance(llm, NugenMultiModal):
            llm.complete("hi", image_documents=[], extra_headers=headers)
        else:
            llm.complete("hi", extra_headers=headers)
    else:
        list(llm.stream_complete("hi", extra_headers=headers))


@pytest.mark.parametrize(
    "form", ["chat", "achat", "stream_chat", "astream_chat", "complete", "stream_complete"]
)
@pytest.mark.parametrize("cls", [Nugen, NugenMultiModal], ids=lambda c: c.__name__)
def test_llama_index_events_hide_per_call_credential_headers(
    emu: NugenEmulator, instrumentation_events: list[BaseEvent], cls: type[Any], form: str
) -> None:
    if cls is NugenMultiModal and form == "stream_complete":
        pytest.skip("covered by complete: the same wrapper")
    debug = LlamaDebugHandler()
    llm = cls(api_key=emu.api_key, base_url=emu.base_url, callback_manager=CallbackManager([debug]))
    headers = {"X-Auth-Key": HEADER_SECRET, "X-Session-ID": "s-1"}
    _call(llm, form, headers)
    # Sent as given: only what is shown is sealed.
    assert emu.requests[-1].headers["x-auth-key"] == HEADER_SECRET
    starts = [e for e in instrumentation_events if type(e).__name__.endswith("StartEvent")]
    assert starts, "no start event"
    assert any("extra_headers" in repr(e) for e in starts)
    shown = repr(instrumentation_events) + repr([e.model_dump() for e in instrumentation_events])
    shown += repr([event.payload for event in debug.get_events()])
    assert HEADER_SECRET not in shown
    assert emu.api_key not in shown
    assert "s-1" in shown  # a safe header stays readable


class _Runs(BaseTracer):
    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        self.runs.append(run)


_REFUSED_CALL_KEYWORDS = [
    {"api_key": HEADER_SECRET},
    {"nugen_api_key": HEADER_SECRET},
    {"extra_body": {"api_key": HEADER_SECRET}},
    {"default_headers": {"X-Api-Key": HEADER_SECRET}},
    {"headers": {"X-Api-Key": HEADER_SECRET}},
    {"extra_body": {"extra_headers": {"X-Api-Key": HEADER_SECRET}}},  # a body field there
]


@pytest.mark.parametrize("form", ["invoke", "stream", "batch", "generate"])
@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM], ids=lambda c: c.__name__)
@pytest.mark.parametrize("keywords", _REFUSED_CALL_KEYWORDS, ids=lambda k: next(iter(k)))
def test_a_refused_call_keyword_never_reaches_langchain_traces(
    emu: NugenEmulator, cls: type[Any], form: str, keywords: dict[str, Any]
) -> None:
    """A call keyword refused because it would carry a credential into the body is refused
    before the run starts: LangChain hands a call's keywords to callbacks and tracers
    (``invocation_params``) before the model sees them."""
    model = cls(api_key=emu.api_key, base_url=emu.base_url)
    runs = _Runs()
    config: Any = {"callbacks": [runs]}
    calls = {
        "invoke": lambda: model.invoke("hi", config, **keywords),
        "stream": lambda: list(model.stream("hi", config, **keywords)),
        "batch": lambda: model.batch(["hi", "ho"], config, **keywords),
        "generate": lambda: model.generate(
            [[HumanMessage("hi")]] if cls is ChatNugen else ["hi"], callbacks=[runs], **keywords
        ),
    }
    with pytest.raises(InvalidInputError):
        calls[form]()
    assert HEADER_SECRET not in repr([run.model_dump() for run in runs.runs])
    assert emu.requests == []


@pytest.mark.parametrize("name", ["headers", "http_headers", "requestHeaders"])
def test_headers_under_another_keyword_are_refused_not_sent_in_the_body(
    emu: NugenEmulator, name: str
) -> None:
    """``headers=`` (not ``default_headers`` / ``extra_headers``) would go into the body as
    a JSON field: the header never sent, its value shown by repr, dumps and traces."""
    given = {name: {"X-Api-Key": HEADER_SECRET}}
    with pytest.raises(ValueError, match="default_headers") as raised:
        ChatNugen(api_key=emu.api_key, base_url=emu.base_url, **given)
    assert HEADER_SECRET not in str(raised.value)
    with pytest.raises(ValueError, match="default_headers"):
        ChatNugen(api_key=emu.api_key, base_url=emu.base_url, model_kwargs=given)
    messages = [ChatMessage(role="user", content="hi")]
    llm = Nugen(api_key=emu.api_key, base_url=emu.base_url)
    calls = [
        lambda: llm.chat(messages, **given),
        lambda: llm.complete("hi", **given),
        lambda: llm.chat(messages, extra_body={"extra_headers": given[name]}),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match="extra_headers"):
            call()
    assert emu.requests == []
