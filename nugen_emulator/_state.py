"""What the server thread shares with the NugenEmulator object in the test thread."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING

from nugen_emulator._faults import FaultQueue
from nugen_emulator._records import RequestLog
from nugen_emulator._wire import Dialect, Renderer, ServedModel, WireForms

if TYPE_CHECKING:
    from nugen_emulator.replies import ChatReplyHook


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
    ) -> None:
        self.dialect = dialect
        self.api_key = api_key
        self.renderer = Renderer(dialect, created, forms=forms, served_model=served_model)
        self.faults = FaultQueue()
        self.log = RequestLog()
        self.embedding_dimensions = embedding_dimensions
        self.latency = latency
        self.chat_reply = chat_reply
        self._random: random.Random = (
            random.Random(seed) if seed is not None else random.SystemRandom()
        )
        self.stopping: asyncio.Event | None = None  # created in the server's event loop

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{self._random.getrandbits(96):024x}"

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the emulator is stopping."""
        if seconds <= 0:
            return
        if self.stopping is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
