"""Pickles of our models never hold the API key.

A pickle is bytes a user may write anywhere (a cache, a queue, a file); the key must not
travel with it. ``__getstate__`` replaces the key by a token: a salted hash that only
means something to this process (and to workers forked from it), which keeps the key in
memory. Unpickled here or in a forked worker, the model has its key back; anywhere else
it has none and reads ``NUGEN_API_KEY`` when it first calls, the way
``langchain_core.load`` restores secrets from the environment.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

from pydantic import SecretStr

__all__ = ["PicklesWithoutKey", "restore_key", "state_without_key"]

_TOKEN = "__nugen_api_key_token__"
_SALT = os.urandom(16)
_KEYS: dict[str, SecretStr] = {}
_LOCK = threading.Lock()


def state_without_key(state: dict[Any, Any]) -> dict[Any, Any]:
    """``BaseModel.__getstate__`` output with the ``api_key`` field swapped for a token."""
    fields = dict(state["__dict__"])
    key = fields.get("api_key")
    token = None
    if isinstance(key, SecretStr):
        token = hashlib.sha256(_SALT + key.get_secret_value().encode()).hexdigest()
        with _LOCK:
            _KEYS[token] = key
    fields["api_key"] = None
    return {**state, "__dict__": fields, _TOKEN: token}


def restore_key(state: dict[Any, Any]) -> tuple[dict[Any, Any], SecretStr | None]:
    """The state to hand to ``BaseModel.__setstate__``, and the key if this process has it."""
    state = dict(state)
    token = state.pop(_TOKEN, None)
    with _LOCK:
        key = _KEYS.get(token) if isinstance(token, str) else None
    return state, key


class PicklesWithoutKey:
    """Mixin for the adapters' pydantic models that have an ``api_key`` field.

    Put it first among the bases, so its ``__getstate__`` / ``__setstate__`` wrap
    pydantic's. Used by ``ChatNugen``, ``NugenEmbeddings`` and every LlamaIndex class.
    """

    def __getstate__(self) -> dict[Any, Any]:
        state: dict[Any, Any] = super().__getstate__()  # type: ignore[assignment]
        return state_without_key(state)

    def __setstate__(self, state: dict[Any, Any]) -> None:
        state, key = restore_key(state)
        super().__setstate__(state)  # type: ignore[misc]
        if key is not None:
            self.__dict__["api_key"] = key
