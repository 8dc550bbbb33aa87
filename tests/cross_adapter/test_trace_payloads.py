"""Issue 15, item 12 (the traced forms): neither the API key nor a credential-like
``default_headers`` value reaches LangChain's ``on_chat_model_start`` (``serialized`` and
``invocation_params``) or LlamaIndex's callback event payloads."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen
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
