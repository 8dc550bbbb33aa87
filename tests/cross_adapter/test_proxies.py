"""Environment proxies never see requests to a loopback base_url.

httpx honours ``HTTP_PROXY`` / ``ALL_PROXY`` for every host by default, so a request to a
local emulator, ``Authorization`` header included, would go to the proxy. A loopback
"proxy" here counts the connections it gets: it must get none, through the client (sync
and async) and through both adapters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen, NugenEmbedding
from nugen_client import AsyncNugenClient, InvalidInputError, NugenClient
from nugen_emulator import NugenEmulator
from tests.support.hostile import HostileServer, hostile_server, http_head

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    with hostile_server([http_head("502 Bad Gateway", content_length="0")]) as server:
        address = f"http://127.0.0.1:{server.port}"
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, address)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        yield server


def _client_sync(emu: NugenEmulator) -> Any:
    client = NugenClient(api_key=emu.api_key, base_url=emu.base_url, max_retries=0)
    return client.chat_completion(model="nugen-flash-instruct", messages=MESSAGES)


def _client_async(emu: NugenEmulator) -> Any:
    client = AsyncNugenClient(api_key=emu.api_key, base_url=emu.base_url, max_retries=0)
    return asyncio.run(client.chat_completion(model="nugen-flash-instruct", messages=MESSAGES))


def _kw(emu: NugenEmulator) -> dict[str, Any]:
    return {"api_key": emu.api_key, "base_url": emu.base_url, "max_retries": 0}


CALLS: dict[str, Callable[[NugenEmulator], Any]] = {
    "NugenClient": _client_sync,
    "AsyncNugenClient": _client_async,
    "ChatNugen.invoke": lambda emu: ChatNugen(**_kw(emu)).invoke("hello").content,
    "ChatNugen.ainvoke": lambda emu: asyncio.run(ChatNugen(**_kw(emu)).ainvoke("hello")).content,
    "Nugen.chat": lambda emu: Nugen(**_kw(emu)).chat([ChatMessage(content="hello")]).message,
    "Nugen.achat": lambda emu: asyncio.run(Nugen(**_kw(emu)).achat([ChatMessage(content="hi")])),
    "NugenEmbedding": lambda emu: NugenEmbedding(**_kw(emu)).get_text_embedding("hello"),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_a_loopback_base_url_never_goes_through_an_environment_proxy(
    emu: NugenEmulator, proxy: HostileServer, call: str
) -> None:
    assert CALLS[call](emu)
    assert proxy.connections == 0, f"{call} sent its request (and key) to the proxy"


def test_plain_http_to_another_host_is_refused_even_with_a_proxy(proxy: HostileServer) -> None:
    with pytest.raises(InvalidInputError, match="allow_insecure_http"):
        NugenClient(api_key="k", base_url="http://gateway.example.com/v1")
