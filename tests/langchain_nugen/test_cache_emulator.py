"""LangChain's LLM cache in front of ``ChatNugen`` and ``NugenLLM``, against the emulator.

A second identical call is answered from the cache without a request; a call that differs
in anything that changes the answer (a per-call keyword, the session, the provider) is
sent; the cache's keys never hold a credential header's value (a persistent cache such as
``SQLiteCache`` writes them to disk).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
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
