"""NugenEmulator: the public object, and the uvicorn thread that serves its app."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import uvicorn

from nugen_emulator import _BASE_PATHS, DEFAULT_API_KEY
from nugen_emulator._app import ServerState
from nugen_emulator._prompts import templates
from nugen_emulator._records import (
    DEFAULT_LOG_LIMIT,
    FAULT_FIELDS,
    Fault,
    RecordedRequest,
    RequestLog,
)
from nugen_emulator._wire import Dialect, Renderer
from nugen_emulator.replies import ChatReplyHook

__all__ = ["DEFAULT_API_KEY", "NugenEmulator"]


class NugenEmulator:
    """A real HTTP server that behaves like the Nugen inference API, for tests and demos
    (what it answers, and each parameter: docs/emulator.md).

    Usage::

        with NugenEmulator() as emu:  # or emu = NugenEmulator().start(); ...; emu.stop()
            client = NugenClient(api_key=emu.api_key, base_url=emu.base_url)
            ...
            assert emu.last_request.body["temperature"] == 0.2
    """

    # Slots: a knob set on a built emulator would otherwise be silently ignored.
    __slots__ = (
        "__weakref__",
        "_access_log",
        "_error",
        "_host",
        "_lock",
        "_port",
        "_requested_port",
        "_server",
        "_socket",
        "_startup_timeout",
        "_state",
        "_thread",
    )

    def __init__(
        self,
        dialect: Literal["nugen", "openai"] = "nugen",
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = DEFAULT_API_KEY,
        *,
        seed: int | None = None,
        created: float | None = None,
        embedding_dimensions: int = 384,
        latency: tuple[float, float] | None = None,
        chat_reply: ChatReplyHook | None = None,
        forms: Literal["live", "reference"] = "live",
        served_model: str | Callable[[str], str] | None = None,
        request_log_limit: int = DEFAULT_LOG_LIMIT,
        access_log: bool = False,
        startup_timeout: float = 10.0,
    ) -> None:
        if dialect not in _BASE_PATHS:
            raise ValueError(f"dialect must be 'nugen' or 'openai', got {dialect!r}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535 (0: any free port), got {port!r}")
        if embedding_dimensions < 1:
            raise ValueError("embedding_dimensions must be >= 1")
        if forms not in ("live", "reference"):
            raise ValueError(f"forms must be 'live' or 'reference', got {forms!r}")
        if latency is not None and (len(latency) != 2 or min(latency) < 0):
            raise ValueError(f"latency must be (per_request, per_input) >= 0, got {latency!r}")
        if request_log_limit < 1:
            raise ValueError(f"request_log_limit must be >= 1, got {request_log_limit!r}")
        self._host = host
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._access_log = access_log
        renderer = Renderer(dialect, created, forms=forms, served_model=served_model)
        log = RequestLog(request_log_limit)
        self._state = ServerState(renderer, api_key, seed, embedding_dimensions, latency, log)
        self.chat_reply = chat_reply
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> NugenEmulator:
        """Bind the port, start serving in a background thread, and wait until it listens."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("NugenEmulator is already running")
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
            # proto says TCP, and Nagle + delayed ACK would add ~40 ms to every reply.
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                # A restart listens where the emulator was: clients keep their base URL.
                sock.bind((self._host, self._port or self._requested_port))
                # The template table imports the frameworks' template modules: seconds of
                # work that must not fall on a request and its client's timeout.
                templates()
            except BaseException:
                sock.close()
                raise
            self._socket = sock
            self._port = int(sock.getsockname()[1])
            config = uvicorn.Config(
                self._state.app,
                log_config=None,
                access_log=self._access_log,
                lifespan="off",
                http="h11",
                ws="none",
                loop="asyncio",
                server_header=False,
                timeout_graceful_shutdown=1,
            )
            server = self._server = uvicorn.Server(config)
            self._state.stopping.clear()

            def run() -> None:
                try:
                    server.run(sockets=[sock])
                except BaseException as exc:  # reported by start()/stop(), not lost
                    self._error = exc

            thread = threading.Thread(target=run, name=f"NugenEmulator:{self._port}", daemon=True)
            self._thread = thread
            thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.002)
        if not server.started:
            error = self._error
            self.stop()
            raise RuntimeError(f"NugenEmulator did not start: {error!r}") from error
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread; idempotent, safe after a failed start."""
        with self._lock:
            server, thread, sock = self._server, self._thread, self._socket
            self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
            self._state.stopping.set()  # wakes up sleeping requests
        if thread is not None:
            thread.join(timeout=10)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout=5)
        if sock is not None:
            sock.close()

    def __enter__(self) -> NugenEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # -- addresses ------------------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        return self._state.dialect

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The TCP port (known once started, or when a fixed port was asked for)."""
        if self._port is not None:
            return self._port
        if self._requested_port:
            return self._requested_port
        raise RuntimeError("NugenEmulator has no port yet: call start() first")

    @property
    def url(self) -> str:
        """``http://host:port`` without the API base path."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What a client takes as ``base_url``: ``url`` + ``/api/v3/inference`` or ``/v1``."""
        return self.url + _BASE_PATHS[self._state.dialect]

    @property
    def api_key(self) -> str:
        """The key clients must send (a placeholder when any key is accepted)."""
        return self._state.api_key if self._state.api_key is not None else "any-key"

    # -- faults and the request log -------------------------------------------------------

    def inject(self, fault: Fault | None = None, /, *, times: int = 1, **fields: Any) -> Fault:
        """Arm a fault (a :class:`Fault`, or its fields as keywords) for the next ``times``
        matching requests, first in first out; returns the fault."""
        if fault is not None and fields:
            raise TypeError("pass either a Fault or its fields as keywords, not both")
        unknown = set(fields) - FAULT_FIELDS
        if unknown:
            raise TypeError(f"unknown Fault field(s): {', '.join(sorted(unknown))}")
        armed = fault if fault is not None else Fault(**fields)
        self._state.arm(armed, times)
        return armed

    @property
    def pending_faults(self) -> int:
        """Fault activations armed but not yet consumed."""
        return len(self._state.faults)

    @property
    def chat_reply(self) -> ChatReplyHook | None:
        """The hook replacing the model's chat replies; settable while the emulator runs
        (the pytest fixtures set it back to ``None`` before each test)."""
        return self._state.chat_reply

    @chat_reply.setter
    def chat_reply(self, hook: ChatReplyHook | None) -> None:
        if hook is not None and not callable(hook):
            raise TypeError(f"chat_reply must be callable or None, got {hook!r}")
        self._state.chat_reply = hook

    def reset(self) -> None:
        """Forget armed faults and recorded requests (the pytest fixtures do this per test)."""
        self._state.reset()

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received since the start or the last :meth:`reset`, oldest first
        (the last ``request_log_limit`` of them)."""
        return self._state.log.snapshot()

    @property
    def last_request(self) -> RecordedRequest | None:
        """The most recent request, or ``None``."""
        log = self._state.log.snapshot()
        return log[-1] if log else None

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"NugenEmulator(dialect={self.dialect!r}, {where})"
