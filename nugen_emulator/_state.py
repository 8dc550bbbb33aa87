"""What the server thread shares with the NugenEmulator object in the test thread."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING

from nugen_emulator._faults import FaultQueue
from nugen_emulator._records import DEFAULT_LOG_LIMIT, RequestLog
from nugen_emulator._wire import Dialect, Renderer, ServedModel, WireForms

if TYPE_CHECKING:
    from nugen_emulator.replies import ChatReplyHook


# The id source of the request being answered (seeded emulators only): each request task
# runs in its own context, so concurrent requests never share one.
_request_ids: ContextVar[random.Random | None] = ContextVar("request_ids", default=None)


class ServerState:
    """Configuration, armed faults, the request log and the id source of one emulator."""

    def __init__(
        self,
        *,
        dialect: Dialect,
        api_key: str | None,
        seed: int | None,
        created: float | None,
        embedding_dimensions: int,
        latency: tuple[float, float] | None = None,
        chat_reply: ChatReplyHook | None,
        forms: WireForms = "live",
        served_model: ServedModel = None,
        log_limit: int = DEFAULT_LOG_LIMIT,
    ) -> None:
        self.dialect = dialect
        self.api_key = api_key
        self.renderer = Renderer(dialect, created, forms=forms, served_model=served_model)
        self.faults = FaultQueue()
        self.log = RequestLog(log_limit)
        self.embedding_dimensions = embedding_dimensions
        self.latency = latency
        self.chat_reply = chat_reply
        self._seed = seed
        self._random: random.Random = (
            random.Random(seed) if seed is not None else random.SystemRandom()
        )
        self._seen_lock = threading.Lock()
        self._seen: dict[bytes, int] = {}
        self.stopping: asyncio.Event | None = None  # created in the server's event loop

    def begin_request(self, method: str, path: str, raw_body: bytes) -> None:
        """With a seed, draw this request's ids from the request itself (and how many
        identical ones came before), not from the order concurrent requests arrived in."""
        if self._seed is None:
            return
        key = hashlib.sha256(f"{self._seed}|{method}|{path}|".encode() + raw_body).digest()
        with self._seen_lock:
            repeat = self._seen[key] = self._seen.get(key, -1) + 1
        _request_ids.set(random.Random(key + repeat.to_bytes(8, "big")))

    def forget_requests(self) -> None:
        with self._seen_lock:
            self._seen.clear()

    def new_id(self, prefix: str) -> str:
        source = _request_ids.get() or self._random
        return f"{prefix}{source.getrandbits(96):024x}"

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the emulator is stopping."""
        if seconds <= 0:
            return
        if self.stopping is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
