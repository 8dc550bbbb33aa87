"""Batched embeddings through both adapters, sync and async, against the emulator:
concurrency, order, 429 storms, errors, progress, calls from a running loop, cancellation,
the deadline."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import nugen_client
import nugen_shared.embeddings
from langchain_nugen import NugenEmbeddings
from llama_index_nugen import NugenEmbedding
from nugen_emulator import Fault, NugenEmulator

Embed = Callable[[Any, list[str]], list[list[float]]]


def lc_sync(model: NugenEmbeddings, texts: list[str]) -> list[list[float]]:
    return model.embed_documents(texts)


def lc_async(model: NugenEmbeddings, texts: list[str]) -> list[list[float]]:
    return asyncio.run(model.aembed_documents(texts))


def li_sync(model: NugenEmbedding, texts: list[str]) -> list[list[float]]:
    return model.get_text_embedding_batch(texts)


def li_async(model: NugenEmbedding, texts: list[str]) -> list[list[float]]:
    return asyncio.run(model.aget_text_embedding_batch(texts))


PATHS = [
    pytest.param(NugenEmbeddings, "chunk_size", lc_sync, id="langchain-sync"),
    pytest.param(NugenEmbeddings, "chunk_size", lc_async, id="langchain-async"),
    pytest.param(NugenEmbedding, "embed_batch_size", li_sync, id="llama_index-sync"),
    pytest.param(NugenEmbedding, "embed_batch_size", li_async, id="llama_index-async"),
]

TEXTS = [f"chunk {i} of the corpus" for i in range(40)]


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[NugenEmulator]:
    # 200 ms a request: eight batches one after another would take 1.6 s.
    with NugenEmulator(latency=(0.2, 0.0), seed=0) as emu:
        yield emu


@pytest.fixture
def emulator() -> Iterator[NugenEmulator]:
    with NugenEmulator(seed=0) as emu:
        yield emu


def build(cls: type, batch_field: str, emu: NugenEmulator, **fields: Any) -> Any:
    fields.setdefault(batch_field, 5)
    return cls(api_key=emu.api_key, base_url=emu.base_url, **fields)


@pytest.mark.parametrize(("cls", "batch_field", "embed"), PATHS)
def test_batches_overlap_and_vectors_stay_in_order(
    slow_emulator: NugenEmulator, cls: type, batch_field: str, embed: Embed
) -> None:
    model = build(cls, batch_field, slow_emulator, max_concurrency=8)
    one_by_one = build(cls, batch_field, slow_emulator, **{batch_field: 1}, max_concurrency=40)
    expected = embed(one_by_one, TEXTS)
    slow_emulator.reset()
    started = time.perf_counter()
    vectors = embed(model, TEXTS)
    elapsed = time.perf_counter() - started
    assert vectors == expected
    assert [r.body["input"] for r in slow_emulator.requests] != []
    sent = sorted(tuple(r.body["input"]) for r in slow_emulator.requests)
    assert sent == sorted(tuple(TEXTS[i : i + 5]) for i in range(0, 40, 5))
    assert elapsed < 1.0, f"8 batches of 0.2 s took {elapsed:.2f} s: not concurrent"


@pytest.mark.parametrize(("cls", "batch_field", "embed"), PATHS)
def test_the_deadline_bounds_each_batch_not_the_whole_call(
    slow_emulator: NugenEmulator, cls: type, batch_field: str, embed: Embed
) -> None:
    # Eight batches of 0.2 s one after another: 1.6 s in all, past a 1 s deadline that
    # each batch's request keeps.
    slow_emulator.reset()
    model = build(cls, batch_field, slow_emulator, max_concurrency=1, deadline=1)
    assert len(embed(model, TEXTS)) == len(TEXTS)
    assert len(slow_emulator.requests) == 8


@pytest.mark.parametrize(("cls", "batch_field", "embed"), PATHS)
def test_a_429_storm_shrinks_the_bound_and_loses_nothing(
    emulator: NugenEmulator, retry_sleeps: list[float], cls: type, batch_field: str, embed: Embed
) -> None:
    # Retries enough for a batch to meet several of the 429s: on a loaded machine a retry
    # can reach the server before another batch's first attempt and take its 429.
    model = build(cls, batch_field, emulator, max_concurrency=8, max_retries=6)
    expected = embed(model, TEXTS)
    emulator.reset()
    emulator.inject(status=429, headers={"Retry-After": "0.25"}, times=6, path="/embeddings")
    assert embed(model, TEXTS) == expected
    assert retry_sleeps == [0.25] * 6  # Retry-After honoured by every retried batch
    assert len(emulator.requests) == 8 + 6
    assert model._limit.bound(8) < 8  # the object learnt, for its next calls too
    for _ in range(12):
        assert embed(model, TEXTS) == expected
    assert model._limit.bound(8) == 8  # and recovered


@pytest.mark.parametrize(("cls", "batch_field", "embed"), PATHS)
def test_a_batch_that_keeps_failing_raises(
    emulator: NugenEmulator, retry_sleeps: list[float], cls: type, batch_field: str, embed: Embed
) -> None:
    model = build(cls, batch_field, emulator, max_concurrency=2, max_retries=1)
    emulator.inject(status=429, headers={"Retry-After": "0"}, times=100, path="/embeddings")
    with pytest.raises(nugen_client.RateLimitError):
        embed(model, TEXTS)


@pytest.mark.parametrize(("cls", "batch_field", "embed"), PATHS)
def test_a_refused_batch_says_which_texts_it_held(
    emulator: NugenEmulator, cls: type, batch_field: str, embed: Embed
) -> None:
    model = build(cls, batch_field, emulator, max_concurrency=1)
    emulator.inject(Fault(), times=3)  # nothing wrong with the first three batches
    detail = [{"loc": ["body", "input", 3], "msg": "input too long", "type": "value_error"}]
    emulator.inject(status=422, body={"detail": detail}, path="/embeddings")
    with pytest.raises(nugen_client.UnprocessableEntityError) as raised:
        embed(model, TEXTS)
    # The service's index counts within the batch: the message says where the batch starts.
    assert str(raised.value).startswith("batch 4 of 8 (texts 15 to 19): 422 ")
    assert raised.value.message == str(raised.value)
    assert "body.input.3: input too long" in str(raised.value)
    assert len(emulator.requests) == 4


@pytest.mark.parametrize(("cls", "batch_field", "embed"), PATHS[::2])
def test_sync_methods_work_inside_a_running_event_loop(
    emulator: NugenEmulator, cls: type, batch_field: str, embed: Embed
) -> None:
    model = build(cls, batch_field, emulator)

    async def from_async_code() -> list[list[float]]:
        return embed(model, TEXTS)

    assert asyncio.run(from_async_code()) == embed(model, TEXTS)


@pytest.mark.parametrize(
    ("cls", "batch_field", "method"),
    [
        (NugenEmbeddings, "chunk_size", NugenEmbeddings.aembed_documents),
        (NugenEmbedding, "embed_batch_size", NugenEmbedding.aget_text_embedding_batch),
    ],
)
def test_cancelling_an_async_call_cancels_its_requests(
    cls: type, batch_field: str, method: Any
) -> None:
    with NugenEmulator(latency=(30.0, 0.0)) as emu:
        model = build(cls, batch_field, emu, max_concurrency=4)

        async def cancel_soon() -> None:
            call = asyncio.ensure_future(method(model, TEXTS))
            for _ in range(1000):  # until the first four requests arrived
                if len(emu.requests) == 4:
                    break
                await asyncio.sleep(0.01)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call

        started = time.perf_counter()
        asyncio.run(cancel_soon())
        assert time.perf_counter() - started < 10
        assert len(emu.requests) == 4


def test_progress_bars(emulator: NugenEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    build(NugenEmbeddings, "chunk_size", emulator, show_progress_bar=True).embed_documents(TEXTS)
    assert "Embedding" in capsys.readouterr().err
    model = build(NugenEmbedding, "embed_batch_size", emulator)
    model.get_text_embedding_batch(TEXTS, show_progress=True)
    assert "Generating embeddings" in capsys.readouterr().err
    asyncio.run(model.aget_text_embedding_batch(TEXTS, show_progress=True))
    assert "40/40" in capsys.readouterr().err


def test_a_progress_bar_without_tqdm_says_what_to_install(
    emulator: NugenEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    model = build(NugenEmbeddings, "chunk_size", emulator, show_progress_bar=True)
    with pytest.raises(ImportError, match="pip install tqdm"):
        model.embed_documents(TEXTS)


def test_both_classes_have_the_same_concurrency_field() -> None:
    lc, li = NugenEmbeddings(api_key="k"), NugenEmbedding(api_key="k")
    assert (
        lc.max_concurrency == li.max_concurrency == nugen_shared.embeddings.DEFAULT_MAX_CONCURRENCY
    )
    assert lc.chunk_size == li.embed_batch_size == nugen_shared.embeddings.DEFAULT_BATCH_SIZE


@pytest.mark.parametrize(("cls", "batch_field", "embed"), PATHS)
def test_an_empty_text_in_a_later_batch_is_refused_before_any_request(
    emulator: NugenEmulator, cls: type, batch_field: str, embed: Embed
) -> None:
    texts = [*TEXTS[:12], "", *TEXTS[12:]]
    with pytest.raises(nugen_client.InvalidInputError, match=r"input\[12\] is an empty string"):
        embed(build(cls, batch_field, emulator), texts)
    assert emulator.requests == []


@pytest.mark.parametrize(("cls", "batch_field", "embed"), PATHS)
def test_a_text_that_is_not_utf8_in_a_later_batch_is_refused_before_any_request(
    emulator: NugenEmulator, cls: type, batch_field: str, embed: Embed
) -> None:
    # A lone surrogate: a file read with errors="surrogateescape", or JSON holding "\ud800".
    broken = b"caf\xe9".decode("utf-8", "surrogateescape")
    texts = [*TEXTS[:12], broken, *TEXTS[12:]]
    with pytest.raises(nugen_client.InvalidInputError, match=r"input\[12\] .*UTF-8"):
        embed(build(cls, batch_field, emulator), texts)
    assert emulator.requests == []
