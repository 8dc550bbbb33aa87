"""Shared pieces of the langchain_nugen integration tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from langchain_nugen import ChatNugen, NugenEmbeddings

from ...conftest import NugenTarget

# Fixed image bytes (never fetched, never generated at run time): request bodies must
# match their cassettes byte for byte.
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGM8ISfHwMDAxMDAwMDAAAANBAEI"
    "fXHKZgAAAABJRU5ErkJggg=="
)
PNG = base64.b64decode(PNG_B64)
JPEG_B64 = base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(32))).decode()


def chat(target: NugenTarget, **kwargs: Any) -> ChatNugen:
    return ChatNugen(base_url=target.base_url, api_key=target.api_key, **kwargs)


def embeddings(target: NugenTarget, **kwargs: Any) -> NugenEmbeddings:
    return NugenEmbeddings(base_url=target.base_url, api_key=target.api_key, **kwargs)


def sent_bodies(target: NugenTarget, cassette: Any) -> list[Any]:
    """The JSON bodies this test sent, oldest first (the emulator's log when recording, the
    cassette's requests, all of them matched by parsed body, when replaying)."""
    if target.emulator is not None:
        return [request.body for request in target.emulator.requests]
    assert cassette is not None
    if not target.recording:
        assert cassette.all_played, "a recorded request was not made again"
    return [json.loads(request.body) for request in cassette.requests]
