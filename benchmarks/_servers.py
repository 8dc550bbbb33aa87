"""Serve canned NugenEmulators for the benchmark, in a process of their own.

Argument: a JSON object ``{name: CannedReplies keyword arguments}`` (``canned.py``); a
``latency`` entry among them is the emulator's ``latency=`` option instead.
Prints one JSON line ``{name: base_url}`` once every emulator listens, then serves until
terminated.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from typing import Any

from canned import CannedReplies

from nugen_emulator import NugenEmulator


def main() -> None:
    spec: dict[str, dict[str, Any]] = json.loads(sys.argv[1])
    emulators = {
        name: NugenEmulator(
            dialect="openai",
            api_key="bench-key",
            seed=0,
            latency=tuple(kwargs.pop("latency")) if "latency" in kwargs else None,
            embedding_dimensions=kwargs.pop("embedding_dimensions", 384),
            chat_reply=CannedReplies(**kwargs),
        ).start()
        for name, kwargs in spec.items()
    }
    print(json.dumps({name: emu.base_url for name, emu in emulators.items()}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    for emu in emulators.values():
        emu.stop()


if __name__ == "__main__":
    main()
