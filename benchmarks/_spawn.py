"""The benchmark's emulators in a child process (``_servers.py``), started and stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

_SERVERS = Path(__file__).resolve().parent / "_servers.py"


class ServerProcess:
    """``_servers.py`` serving ``spec`` (``{name: options}``); ``urls[name]`` are the base
    URLs, known once every emulator listens."""

    api_key = "bench-key"

    def __init__(self, spec: dict[str, dict[str, Any]]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(_SERVERS), json.dumps(spec)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process did not start")
        self.urls: dict[str, str] = json.loads(line)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
