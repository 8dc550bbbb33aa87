"""Shared pieces of the llama_index_nugen integration tests (cassettes and live emulator)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from llama_index_nugen import Nugen, NugenEmbedding, NugenMultiModal
from tests.conftest import NugenTarget

# Fixed image bytes (not generated at run time): request bodies must match their cassettes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGM8ISfHwMDAxMDAwMDAAAANBAEIfXHKZgAAAABJRU5ErkJggg=="
)
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def image_file(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def llm(target: NugenTarget, **kwargs: Any) -> Nugen:
    return Nugen(base_url=target.base_url, api_key=target.api_key, **kwargs)


def multi_modal(target: NugenTarget, **kwargs: Any) -> NugenMultiModal:
    return NugenMultiModal(base_url=target.base_url, api_key=target.api_key, **kwargs)


def embedding(target: NugenTarget, **kwargs: Any) -> NugenEmbedding:
    return NugenEmbedding(base_url=target.base_url, api_key=target.api_key, **kwargs)


def sent_bodies(target: NugenTarget, cassette: Any) -> list[Any]:
    """The JSON bodies this test sent, oldest first.

    Recording against the emulator: its request log. Replaying: the cassette's requests,
    every one of which was matched (by parsed JSON body) by a request the test made, so
    they are exactly what the code under test sent.
    """
    if target.emulator is not None:
        return [request.body for request in target.emulator.requests]
    assert cassette is not None
    # Every recorded request was made again: the offline tier fails a test otherwise.
    return [json.loads(request.body) for request in cassette.requests]
