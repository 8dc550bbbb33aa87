"""LangChain's LLM cache in front of ``ChatNugen`` and ``NugenLLM``, against the emulator.

A second identical call is answered from the cache without a request; a call that differs
in anything that changes the answer (a per-call keyword, the session, the provider) is
sent; the cache's keys never hold a credential header's value (a persistent cache such as
``SQLiteCache`` writes them to disk).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage

from langchain_nugen import ChatNugen, NugenLLM
from nugen_emulator import NugenEmulator
from tests.support.langchain import keep

SECRET = "sk-call-header-secret"


@pytest.fixture
def cache() -> Iterator[InMemoryCache]:
    from langchain_core.globals import get_llm_cache, set_llm_cache

    previous = get_llm_cache()
    cache = InMemoryCache()
    set_llm_cache(cache)
    yield cache
    set_llm_cache(previous)


def _sent(emulator: NugenEmulator, call: Callable[[], Any]) -> int:
    before = len(emulator.requests)
    call()
    return len(emulator.requests) - before


def _llm(emulator: NugenEmulator, **kwargs: Any) -> NugenLLM:
    return keep(NugenLLM(base_url=emulator.base_url, api_key=emulator.api_key, **kwargs))


@pytest.mark.parametrize(
    "keywords",
    [
        {"temperature": 0.3},
        {"max_tokens": 2},
        {"model": "nugen-legal"},
        {"session_id": "conversation-2"},
        {"extra_body": {"seed": 7}},
    ],
    ids=lambda keywords: next(iter(keywords)),
)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_llm_cache_keys_on_the_call_keywords(
    nugen_emulator: NugenEmulator, cache: InMemoryCache, keywords: dict[str, Any], is_async: bool
) -> None:
    llm = _llm(nugen_emulator)

    def call(**kwargs: Any) -> str:
        if is_async:
            return asyncio.run(llm.ainvoke("Tell me about owls", **kwargs))
        return llm.invoke("Tell me about owls", **kwargs)

    assert _sent(nugen_emulator, call) == 1
    assert _sent(nugen_emulator, call) == 0  # the same call: from the cache
    assert _sent(nugen_emulator, lambda: call(**keywords)) == 1
    assert _sent(nugen_emulator, lambda: call(**keywords)) == 0


def test_llm_cache_keys_on_the_session_from_the_config(
    nugen_emulator: NugenEmulator, cache: InMemoryCache
) -> None:
    llm = _llm(nugen_emulator)

    def call(session: str) -> str:
        return llm.invoke("Hello", config={"configurable": {"session_id": session}})

    for session in ("conversation-1", "conversation-2"):
        assert _sent(nugen_emulator, partial(call, session)) == 1
        assert _sent(nugen_emulator, partial(call, session)) == 0


@pytest.mark.parametrize("field", [{"session_id": "s2"}, {"provider": "other"}], ids=str)
def test_llm_cache_keys_on_the_session_and_provider_fields(
    nugen_emulator: NugenEmulator, cache: InMemoryCache, field: dict[str, Any]
) -> None:
    assert _sent(nugen_emulator, lambda: _llm(nugen_emulator).invoke("Hello")) == 1
    assert _sent(nugen_emulator, lambda: _llm(nugen_emulator, **field).invoke("Hello")) == 1
    assert _sent(nugen_emulator, lambda: _llm(nugen_emulator, **field).invoke("Hello")) == 0


def test_llm_cache_keys_on_the_host(
    nugen_emulator: NugenEmulator, nugen_emulator_openai: NugenEmulator, cache: InMemoryCache
) -> None:
    def call(emulator: NugenEmulator) -> str:
        return _llm(emulator).invoke("Hello")

    for emulator in (nugen_emulator, nugen_emulator_openai):
        assert _sent(emulator, partial(call, emulator)) == 1
        assert _sent(emulator, partial(call, emulator)) == 0


@pytest.mark.parametrize("model_class", [ChatNugen, NugenLLM])
def test_cache_keys_follow_a_field_changed_after_a_call(
    nugen_emulator: NugenEmulator, cache: InMemoryCache, model_class: type[Any]
) -> None:
    """A field assigned, or changed in a copy, after a cached call is part of the next
    call's key: the answer of the model as it was is not returned for the model as it is
    (LangChain keeps the chat model's serialised form, the key, on the object)."""
    model = keep(model_class(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key))
    assert _sent(nugen_emulator, lambda: model.invoke("Hello")) == 1
    model.model = "nugen-legal"
    assert _sent(nugen_emulator, lambda: model.invoke("Hello")) == 1
    assert nugen_emulator.last_request.body["model"] == "nugen-legal"
    assert _sent(nugen_emulator, lambda: model.invoke("Hello")) == 0
    for deep in (False, True):
        copy = keep(model.model_copy(update={"temperature": 0.5 + deep}, deep=deep))
        assert _sent(nugen_emulator, lambda: copy.invoke("Hello")) == 1  # noqa: B023
    assert _sent(nugen_emulator, lambda: model.invoke("Hello")) == 0


class _Starts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_llm_start(self, serialized: Any, prompts: Any, **kwargs: Any) -> None:
        self.seen.append(repr((serialized, kwargs)))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.append(repr((serialized, kwargs)))


def test_cache_keys_and_callbacks_hold_no_call_header_secret(
    nugen_emulator: NugenEmulator, cache: InMemoryCache
) -> None:
    """``generate`` and ``agenerate`` take a call's keywords as they are (``invoke`` seals
    header values first): the credential header's value reaches neither the cache's keys
    nor the callbacks."""
    headers = {"X-Api-Key": SECRET, "X-Provider": "provider-1"}
    chat = keep(ChatNugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key))
    starts = _Starts()
    chat.generate([[HumanMessage("one")]], callbacks=[starts], extra_headers=headers)
    asyncio.run(chat.agenerate([[HumanMessage("two")]], callbacks=[starts], extra_headers=headers))
    keys = [str(key) for key in cache._cache]
    assert len(keys) == 2
    for text in keys + starts.seen:
        assert SECRET not in text
        assert nugen_emulator.api_key not in text
    assert all("provider-1" in key for key in keys)  # safe headers stay part of the key
