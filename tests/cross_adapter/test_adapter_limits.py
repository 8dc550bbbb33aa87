"""The client's bounds through the adapters: the response size caps and the overall
deadline are fields of every adapter class (``nugen_shared.fields.ConnectionFields``), reach
the client, and end a call with the client's errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from llama_index.core.base.llms.types import ChatMessage

from langchain_nugen import ChatNugen, NugenEmbeddings, NugenLLM
from langchain_nugen import NugenRerank as LangChainRerank
from llama_index_nugen import Nugen, NugenEmbedding, NugenMultiModal
from llama_index_nugen import NugenRerank as LlamaIndexRerank
from nugen_client import APIResponseValidationError, APITimeoutError
from nugen_emulator import Fault, NugenEmulator
from tests.support.hostile import hostile_server

CLASSES = [ChatNugen, NugenEmbeddings, NugenLLM, Nugen, NugenMultiModal, NugenEmbedding]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_the_limits_reach_both_clients(cls: type[Any]) -> None:
    model = cls(
        api_key="k", max_response_bytes=1234, max_event_bytes=567, deadline=8.5, max_retries=0
    )
    for client in (model._sync_client(), model._async_client()):
        assert (client.max_response_bytes, client.max_event_bytes, client.deadline) == (
            1234,
            567,
            8.5,
        )


@pytest.mark.parametrize(
    "cls",
    [*CLASSES, LangChainRerank, LlamaIndexRerank],
    ids=lambda cls: f"{cls.__module__.split('.')[0]}.{cls.__name__}",
)
def test_the_defaults_are_the_clients_and_the_documented_ones(cls: type[Any]) -> None:
    from nugen_client import NugenClient

    def settings(client: Any) -> tuple[Any, ...]:
        limits = (client.max_response_bytes, client.max_event_bytes, client.deadline)
        return (*limits, client.timeout, client.max_retries)

    # The parameters page's defaults: 64 MiB, 16 MiB, 600 s, 120 s of silence with at
    # most 10 s to connect, 2 retries.
    documented = (64 * 2**20, 16 * 2**20, 600, httpx.Timeout(120, connect=10), 2)
    with NugenClient(api_key="k") as reference:
        assert settings(reference) == documented
    assert settings(cls(api_key="k")._sync_client()) == documented
    assert settings(cls(api_key="k")._async_client()) == documented
    assert cls(api_key="k", timeout=5)._sync_client().timeout == httpx.Timeout(5)


def _chat(emulator: NugenEmulator, framework: str, **fields: Any) -> Any:
    common = {"api_key": emulator.api_key, "base_url": emulator.base_url, "max_retries": 0}
    if framework == "langchain":
        model = ChatNugen(**common, **fields)
        return lambda: model.invoke("What is the capital of France?"), model
    llm = Nugen(**common, **fields)
    message = [ChatMessage(role="user", content="What is the capital of France?")]
    return lambda: llm.chat(message), llm


@pytest.mark.parametrize("framework", ["langchain", "llama_index"])
def test_an_answer_over_the_size_cap_is_refused(
    nugen_emulator: NugenEmulator, framework: str
) -> None:
    call, _ = _chat(nugen_emulator, framework, max_response_bytes=64)
    with pytest.raises(APIResponseValidationError):
        call()


async def _drain_stream(model: Any, framework: str) -> None:
    if framework == "langchain":
        async for _chunk in model.astream("What is the capital of France?"):
            pass
    else:
        message = [ChatMessage(role="user", content="What is the capital of France?")]
        async for _step in await model.astream_chat(message):
            pass


@pytest.mark.parametrize("framework", ["langchain", "llama_index"])
async def test_a_stream_over_the_event_cap_is_refused_async(
    nugen_emulator: NugenEmulator, framework: str
) -> None:
    # Every event of the emulator's stream is longer than 8 bytes, and each arrives whole.
    _, model = _chat(nugen_emulator, framework, max_event_bytes=8)
    with pytest.raises(APIResponseValidationError, match="max_event_bytes"):
        await _drain_stream(model, framework)


@pytest.mark.parametrize("framework", ["langchain", "llama_index"])
def test_the_deadline_ends_a_slow_call(nugen_emulator: NugenEmulator, framework: str) -> None:
    nugen_emulator.inject(Fault(delay=1.5))
    call, _ = _chat(nugen_emulator, framework, deadline=0.5, timeout=30)
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="deadline"):
        call()
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("framework", ["langchain", "llama_index"])
def test_the_deadline_bounds_a_silent_server_retries_included(framework: str) -> None:
    """The deadline bounds the wait for headers and the retries (sync LangChain, async
    LlamaIndex): one request, ended at the deadline, not after timeout x attempts."""
    fields = {"api_key": "k", "deadline": 0.5, "timeout": 10, "max_retries": 3}
    with hostile_server([], hold=15) as server:
        if framework == "langchain":
            model = ChatNugen(base_url=server.url, **fields)
            call: Any = lambda: model.invoke("hi")  # noqa: E731
        else:
            llm = Nugen(base_url=server.url, **fields)
            call = lambda: asyncio.run(llm.achat([ChatMessage(role="user", content="hi")]))  # noqa: E731
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="deadline"):
            call()
        assert time.monotonic() - started < 1.5
    assert server.connections == 1
