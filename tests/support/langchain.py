"""Shared pieces of the langchain_nugen integration tests."""

from __future__ import annotations

import base64
import json
import sys
from typing import Any, TypeVar

import pytest

from langchain_nugen import ChatNugen, NugenEmbeddings
from tests.conftest import NugenTarget

_M = TypeVar("_M")

# LangGraph hands an async node the run's config through the task's context, which asyncio
# gives a task only from Python 3.11: before it, an async agent's model never sees the
# config (its session_id, its streaming callbacks).
NEEDS_3_11 = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="LangGraph passes no run config to async nodes before 3.11"
)

# Fixed image bytes (never fetched, never generated at run time): request bodies must
# match their cassettes byte for byte.
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGM8ISfHwMDAxMDAwMDAAAANBAEI"
    "fXHKZgAAAABJRU5ErkJggg=="
)
PNG = base64.b64decode(PNG_B64)
JPEG_B64 = base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(32))).decode()


# Models made by these tests stay referenced for the whole session. An AsyncNugenClient
# that is garbage-collected inside a coroutine, after concurrent requests, leaves a socket
# open when its event loop shuts down right after (the pool's close is scheduled, then
# cancelled with the loop's remaining tasks): a nugen_client issue that only shows when
# recording against the live emulator, as ResourceWarnings. Keeping the models alive lets
# each loop close its pools itself.
KEEP_ALIVE: list[Any] = []


def keep(model: _M) -> _M:
    KEEP_ALIVE.append(model)
    return model


def chat(target: NugenTarget, **kwargs: Any) -> ChatNugen:
    return keep(ChatNugen(base_url=target.base_url, api_key=target.api_key, **kwargs))


def embeddings(target: NugenTarget, **kwargs: Any) -> NugenEmbeddings:
    return keep(NugenEmbeddings(base_url=target.base_url, api_key=target.api_key, **kwargs))


def sent_bodies(target: NugenTarget, cassette: Any) -> list[Any]:
    """The JSON bodies this test sent, oldest first (the emulator's log when recording, the
    cassette's requests, all of them matched by parsed body, when replaying)."""
    if target.emulator is not None:
        return [request.body for request in target.emulator.requests]
    assert cassette is not None
    # Every recorded request was made again: the offline tier fails a test otherwise.
    return [json.loads(request.body) for request in cassette.requests]
