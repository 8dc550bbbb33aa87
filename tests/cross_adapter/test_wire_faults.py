"""Wire faults through both adapters, sync and async, streaming and not, over real sockets.

One table of faults (``CASES``) and one table of call styles (``tests.support.adapters.STYLES``:
ChatNugen invoke / ainvoke / stream / astream / invoke and ainvoke with
``streaming=True``, Nugen chat / achat / stream_chat / astream_chat). Each case says what
must happen for a plain request and for a streamed one: the answer after retries, or
the ``nugen_client`` error (and, through LangChain, the matching
``langchain_core.exceptions`` class), with the exact number of requests the emulator
received and the exact (or bounded) delays waited between them.

Retries, timeouts and stream decoding are the client's, tested fault by fault in
``tests/nugen_client``; what an adapter adds is the error mapping, the partial text and
the callbacks. So every case runs once per framework, plainly and streamed, each time in
another call style of that framework (the styles take turns down the table), and only
``END_TO_END`` cases (an answer after retries, a stream broken after content) run in
every call style.

For every failure the call raises: it never returns text, and nothing it handed out
before failing claimed to be complete. A stream that failed after yielding content was
sent exactly once.
"""

from __future__ import annotations

import email.utils
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain_core.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelRateLimitError,
    ModelTimeoutError,
)

from nugen_client import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    InternalServerError,
    NugenError,
    RateLimitError,
    StreamInterruptedError,
)
from nugen_emulator import Fault, NugenEmulator
from tests.support.adapters import EXPECTED, STYLES, Seen, Style

# Delays of the default policy (RetryPolicy(initial_delay=0.5)): "equal jitter" keeps the
# n-th backoff within [base/2, base], base = 0.5 * 2 ** (n - 1).
BACKOFF = ((0.25, 0.5), (0.5, 1.0))
IMMEDIATE = ((0.0, 0.0), (0.0, 0.0))
REQUEST_ID = re.compile(r"^req_[0-9a-f]{24}$")


@dataclass(frozen=True)
class Outcome:
    """What one call must end in."""

    error: type[NugenError] | None = None
    """None: the call succeeds with the emulator's answer."""
    lc_error: type[Exception] | None = None
    """The ``langchain_core.exceptions`` class the LangChain error must also be."""
    attempts: int | None = None
    """Requests the emulator must have received (None: nothing listens)."""
    sleeps: tuple[tuple[float, float], ...] = ()
    """One (low, high) bound per retry, in order: exactly this many retries."""
    match: str | None = None
    status: int | None = None
    body: Any = None
    partial: bool = False
    """Content reached the caller before the failure (so "not retried" means something)."""


@dataclass(frozen=True)
class Case:
    id: str
    arm: Callable[[NugenEmulator, bool], None]
    """Arms the faults, given whether the call streams."""
    plain: Outcome | None
    stream: Outcome | None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    dead_port: bool = False


def _faults(fault: Fault, times: int = 1) -> Callable[[NugenEmulator, bool], None]:
    def arm(emu: NugenEmulator, streams: bool) -> None:
        emu.inject(fault, times=times)

    return arm


def _http_date_in(seconds: float) -> Callable[[NugenEmulator, bool], None]:
    def arm(emu: NugenEmulator, streams: bool) -> None:
        when = email.utils.formatdate(time.time() + seconds, usegmt=True)
        emu.inject(Fault(status=429, headers={"Retry-After": when}))

    return arm


def _reset(emu: NugenEmulator, streams: bool) -> None:
    # A plain reply is dropped halfway through its body on every attempt; a stream is
    # dropped halfway through its events, after content went out, once.
    emu.inject(Fault(reset=True), times=1 if streams else 3)


def _both(outcome: Outcome) -> dict[str, Outcome]:
    return {"plain": outcome, "stream": outcome}


def _retried(status: int) -> Case:
    return Case(
        f"{status}-twice-then-ok",
        _faults(Fault(status=status), times=2),
        **_both(Outcome(attempts=3, sleeps=BACKOFF)),
    )


CASES = [
    # -- retried, then the answer -----------------------------------------------------------
    Case(
        "429-retry-after-seconds",
        _faults(Fault(status=429, headers={"Retry-After": "1"}), times=2),
        **_both(Outcome(attempts=3, sleeps=((1.0, 1.0), (1.0, 1.0)))),
    ),
    Case(
        "429-retry-after-http-date",
        _http_date_in(30),
        # An HTTP date has a one-second resolution and the clock moves on meanwhile.
        **_both(Outcome(attempts=2, sleeps=((25.0, 30.0),))),
    ),
    *(_retried(status) for status in (500, 502, 503, 408)),
    # -- retries exhausted: the error carries status, body and request id --------------------
    Case(
        "429-exhausted",
        _faults(
            Fault(status=429, headers={"Retry-After": "0"}, body={"detail": "tenant quota"}),
            times=3,
        ),
        **_both(
            Outcome(
                RateLimitError,
                ModelRateLimitError,
                attempts=3,
                sleeps=IMMEDIATE,
                match="429 Too Many Requests: tenant quota",
                status=429,
                body={"detail": "tenant quota"},
            )
        ),
    ),
    Case(
        "503-exhausted",
        _faults(Fault(status=503, body={"detail": "overloaded"}), times=3),
        **_both(
            Outcome(
                InternalServerError,
                ModelAPIError,
                attempts=3,
                sleeps=BACKOFF,
                match="503 Service Unavailable: overloaded",
                status=503,
                body={"detail": "overloaded"},
            )
        ),
    ),
    Case(
        "502-exhausted-openai-style-body",
        _faults(Fault(status=502, body={"error": {"message": "upstream gone"}}), times=3),
        **_both(
            Outcome(
                InternalServerError,
                ModelAPIError,
                attempts=3,
                sleeps=BACKOFF,
                match="502 Bad Gateway: upstream gone",
                status=502,
                body={"error": {"message": "upstream gone"}},
            )
        ),
    ),
    Case(
        "408-exhausted",
        _faults(Fault(status=408), times=3),
        **_both(
            Outcome(
                APIStatusError,
                ModelAPIError,
                attempts=3,
                sleeps=BACKOFF,
                match="408 Request Timeout",
                status=408,
                body={"detail": "Request Timeout"},
            )
        ),
    ),
    # -- the connection fails ----------------------------------------------------------------
    Case(
        "connection-refused",
        lambda emu, streams: None,
        **_both(
            Outcome(
                APIConnectionError, ModelConnectionError, sleeps=BACKOFF, match="could not reach"
            )
        ),
        dead_port=True,
    ),
    Case(
        "reset-mid-body",
        _reset,
        plain=Outcome(
            APIConnectionError, ModelConnectionError, attempts=3, sleeps=BACKOFF, match="reach"
        ),
        stream=Outcome(
            StreamInterruptedError,
            ModelConnectionError,
            attempts=1,
            match="incomplete",
            partial=True,
        ),
    ),
    Case(
        "read-timeout",
        _faults(Fault(delay=1.0), times=2),
        **_both(
            Outcome(
                APITimeoutError, ModelTimeoutError, attempts=2, sleeps=BACKOFF[:1], match="timed"
            )
        ),
        model_kwargs={"timeout": 0.25, "max_retries": 1},
    ),
    Case(
        "200-with-a-malformed-body",
        _faults(Fault(status=200, body=b"{not json")),
        **_both(Outcome(APIResponseValidationError, ModelAPIError, attempts=1, match="body")),
    ),
    # -- the stream breaks after content went out: never retried ------------------------------
    Case(
        "stream-stalls-between-chunks",
        _faults(Fault(stall_after=3, stall_seconds=1.5)),
        plain=None,
        stream=Outcome(
            APITimeoutError,
            ModelTimeoutError,
            attempts=1,
            match="stalled after 3 chunks",
            partial=True,
        ),
        model_kwargs={"timeout": 0.25},
    ),
    Case(
        "stream-cut-without-done",
        _faults(Fault(cut_after=3)),
        plain=None,
        stream=Outcome(
            StreamInterruptedError,
            ModelConnectionError,
            attempts=1,
            match="broke after 3 chunks",
            partial=True,
        ),
    ),
    Case(
        "stream-malformed-event",
        _faults(Fault(malformed_after=3)),
        plain=None,
        stream=Outcome(
            APIResponseValidationError,
            ModelAPIError,
            attempts=1,
            match="malformed stream event after 3 chunks",
            partial=True,
        ),
    ),
    Case(
        "stream-error-event",
        _faults(Fault(error_event_after=3)),
        plain=None,
        stream=Outcome(
            InternalServerError,
            ModelAPIError,
            attempts=1,
            match="Internal error while streaming",
            status=500,
            partial=True,
        ),
    ),
    # -- slow but alive: the timeout is an idle timeout per read, not a deadline ---------------
    Case(
        "stream-slow-but-never-idle-past-the-timeout",
        # 0.35 s before the answer, 0.35 s in the middle: 0.7 s in all, over the 0.6 s
        # timeout, but no single wait reaches it.
        _faults(Fault(delay=0.35, stall_after=3, stall_seconds=0.35)),
        plain=None,
        stream=Outcome(attempts=1),
        model_kwargs={"timeout": 0.6, "max_retries": 0},
    ),
]


END_TO_END = ("503-twice-then-ok", "stream-cut-without-done")


def _combinations() -> list[Any]:
    """Every case in every style for ``END_TO_END``, else once per framework and
    plain/streamed, the styles of each (framework, streams) group taking turns."""
    params = []
    turns: dict[tuple[str, bool], int] = {}
    for case in CASES:
        for group in sorted({(style.framework, style.streams) for style in STYLES}):
            outcome = case.stream if group[1] else case.plain
            if outcome is None:
                continue
            styles = [s for s in STYLES if (s.framework, s.streams) == group]
            if case.id not in END_TO_END:
                turn = turns.get(group, 0)
                turns[group] = turn + 1
                styles = [styles[turn % len(styles)]]
            params.extend(
                pytest.param(case, style, outcome, id=f"{case.id}-{style.id}") for style in styles
            )
    return params


def _dead_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _reported_chain(error: BaseException) -> list[BaseException]:
    """The exceptions a traceback of ``error`` shows (``from None`` hides the context)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__suppress_context__:
            current = None
        else:
            current = current.__context__
    return chain


@pytest.mark.parametrize(("case", "style", "outcome"), _combinations())
def test_fault(
    case: Case,
    style: Style,
    outcome: Outcome,
    emu: NugenEmulator,
    retry_sleeps: list[float],
) -> None:
    base_url = emu.base_url
    if case.dead_port:
        base_url = f"http://127.0.0.1:{_dead_port()}{emu.base_url.split(str(emu.port), 1)[1]}"
    case.arm(emu, style.streams)
    model = style.model(
        base_url, emu.api_key, **{"max_retries": 2, "timeout": 5.0, **case.model_kwargs}
    )
    seen = Seen()

    if outcome.error is None:
        assert style.run(model, seen) == EXPECTED
        if style.streams:
            assert seen.text == EXPECTED
            assert seen.completions >= 1
    else:
        with pytest.raises(NugenError) as raised:
            style.run(model, seen)
        error = raised.value
        assert type(error) is outcome.error or (
            # LangChain raises the dual-class twin: a subclass of the nugen_client class.
            style.framework == "langchain" and isinstance(error, outcome.error)
        ), f"{type(error).__mro__}"
        if outcome.error is APIConnectionError:
            assert not isinstance(error, APITimeoutError)
        if style.framework == "langchain":
            assert outcome.lc_error is not None
            assert isinstance(error, outcome.lc_error)
        if outcome.match is not None:
            assert outcome.match in str(error)
        if outcome.status is not None:
            assert isinstance(error, APIStatusError)
            assert error.status_code == outcome.status
            assert error.request_id is not None
            assert REQUEST_ID.match(error.request_id)
            assert error.request_id in str(error)
            if outcome.body is not None:
                assert error.body == outcome.body
        # A clear error of ours all the way down: no raw httpx/httpcore exception chained.
        for link in _reported_chain(error):
            assert isinstance(link, NugenError), repr(link)
        # Never a partial answer presented as whole.
        assert seen.completions == 0
        if outcome.partial:
            assert seen.text, "content should have reached the caller before the failure"
            assert EXPECTED.startswith(seen.text)
            assert seen.text != EXPECTED
        if isinstance(error, StreamInterruptedError):
            # What arrived travels on the error, for logs, and only there.
            assert error.partial == seen.text

    if outcome.attempts is not None:
        assert len(emu.requests) == outcome.attempts
    else:
        assert emu.requests == []
    assert len(retry_sleeps) == len(outcome.sleeps), retry_sleeps
    for slept, (low, high) in zip(retry_sleeps, outcome.sleeps, strict=True):
        assert low <= slept <= high, (slept, low, high)


@pytest.mark.parametrize("framework", ["langchain", "llama_index"])
def test_backoff_really_waits(framework: str, emu: NugenEmulator) -> None:
    """Without the recorder, the first backoff (0.25 to 0.5 s) is really slept."""
    style = next(s for s in STYLES if s.framework == framework and not s.streams)
    emu.inject(Fault(status=503))
    started = time.monotonic()
    assert style.run(style.model(emu.base_url, emu.api_key, max_retries=1), Seen()) == EXPECTED
    elapsed = time.monotonic() - started
    assert len(emu.requests) == 2
    assert 0.25 <= elapsed < 3.0


@pytest.mark.parametrize("framework", ["langchain", "llama_index"])
def test_max_retries_zero_means_one_attempt(
    framework: str, emu: NugenEmulator, retry_sleeps: list[float]
) -> None:
    style = next(s for s in STYLES if s.framework == framework and not s.streams)
    emu.inject(Fault(status=503))
    with pytest.raises(InternalServerError):
        style.run(style.model(emu.base_url, emu.api_key, max_retries=0), Seen())
    assert len(emu.requests) == 1
    assert retry_sleeps == []


_PLAIN = [s for s in STYLES if not s.streams]


@pytest.mark.parametrize(
    ("status", "style"),
    # Each status once, the plain call styles taking turns: the statuses are the client's.
    [(status, _PLAIN[i % len(_PLAIN)]) for i, status in enumerate([400, 401, 403, 404, 422])],
    ids=lambda value: getattr(value, "id", str(value)),
)
def test_client_errors_are_never_retried(
    style: Style, status: int, emu: NugenEmulator, retry_sleeps: list[float]
) -> None:
    emu.inject(Fault(status=status))
    with pytest.raises(APIStatusError) as raised:
        style.run(style.model(emu.base_url, emu.api_key, max_retries=2), Seen())
    assert raised.value.status_code == status
    assert len(emu.requests) == 1
    assert retry_sleeps == []
