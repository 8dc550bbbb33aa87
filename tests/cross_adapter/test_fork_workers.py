"""Forked workers never send on a connection their parent opened.

A model used once in the parent holds a pooled keep-alive connection; a forked child's
copy of that socket is the parent's socket, so workers sending on it read each other's
answers. Each worker here asks its own question and must get ITS answer, and the first
call of a fresh worker must open a connection of its own.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen, NugenEmbedding
from nugen_emulator import NugenEmulator
from tests.support.sockets import count_client_sockets

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="fork start method and /proc socket counting"
)

QUESTIONS = [f"Question number {i}: what is {i} plus {i}?" for i in range(6)]

# Set in the parent before the pool forks, so workers inherit the model (and its pool).
_MODEL: Any = None
_CALL: Callable[[Any, str], Any] | None = None
_PORT = 0


def _lc_invoke(model: ChatNugen, question: str) -> Any:
    return model.invoke(question).content


def _lc_ainvoke(model: ChatNugen, question: str) -> Any:
    return asyncio.run(model.ainvoke(question)).content


def _li_chat(model: Nugen, question: str) -> Any:
    return model.chat([ChatMessage(role="user", content=question)]).message.content


def _li_achat(model: Nugen, question: str) -> Any:
    reply = asyncio.run(model.achat([ChatMessage(role="user", content=question)]))
    return reply.message.content


def _li_embed(model: NugenEmbedding, question: str) -> Any:
    return model.get_text_embedding(question)


def _li_aembed(model: NugenEmbedding, question: str) -> Any:
    return asyncio.run(model.aget_text_embedding(question))


CASES = {
    "ChatNugen.invoke": (ChatNugen, _lc_invoke),
    "ChatNugen.ainvoke": (ChatNugen, _lc_ainvoke),
    "Nugen.chat": (Nugen, _li_chat),
    "Nugen.achat": (Nugen, _li_achat),
    "NugenEmbedding.get_text_embedding": (NugenEmbedding, _li_embed),
    "NugenEmbedding.aget_text_embedding": (NugenEmbedding, _li_aembed),
}


def _worker(question: str) -> tuple[Any, int]:
    """The answer, and how many connections to the service this call opened."""
    assert _CALL is not None
    before = count_client_sockets(_PORT)
    answer = _CALL(_MODEL, question)
    return answer, count_client_sockets(_PORT) - before


@pytest.fixture
def forked(emu: NugenEmulator) -> Iterator[Callable[[type[Any], Callable[[Any, str], Any]], Any]]:
    def setup(cls: type[Any], call: Callable[[Any, str], Any]) -> dict[str, Any]:
        global _MODEL, _CALL, _PORT
        _MODEL = cls(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
        _CALL = call
        _PORT = int(emu.base_url.split(":")[2].split("/")[0])
        # The parent's own answers (which also leave its pool holding a connection).
        return {q: call(_MODEL, q) for q in QUESTIONS}

    yield setup
    globals().update(_MODEL=None, _CALL=None)


@pytest.mark.parametrize("case", list(CASES))
def test_forked_workers_each_get_their_own_answer(forked: Any, case: str) -> None:
    cls, call = CASES[case]
    expected = forked(cls, call)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
        results = list(pool.map(_worker, QUESTIONS))
    for question, (answer, _) in zip(QUESTIONS, results, strict=True):
        assert answer == expected[question], f"{case}: a worker got another's answer"


@pytest.mark.parametrize(
    "case", ["ChatNugen.invoke", "Nugen.chat", "NugenEmbedding.get_text_embedding"]
)
def test_a_forked_worker_opens_its_own_connection(forked: Any, case: str) -> None:
    cls, call = CASES[case]
    expected = forked(cls, call)
    context = multiprocessing.get_context("fork")
    # One fresh worker per question: its first call must not reuse the parent's socket.
    for question in QUESTIONS[:2]:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            answer, opened = pool.submit(_worker, question).result()
        assert answer == expected[question]
        assert opened == 1, f"{case}: the worker sent on its parent's connection"
