"""What the sync and async clients' transport code shares: the errors of sending a request
(:class:`TransportErrors`), and the state of one stream call and the errors of reading it.
The stream loops themselves (``_iter_stream``) differ only in how the bytes arrive."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

import httpx

from nugen_client._chunks import ChunkDecoder
from nugen_client._errors import (
    APIConnectionError,
    APITimeoutError,
    NugenError,
    add_request_id,
    client_closed,
    redact,
)
from nugen_client._limits import DeadlineExceeded, deadline_passed, passed
from nugen_client._sse import Event
from nugen_client.types import ChatCompletionChunk, TextCompletionChunk

if TYPE_CHECKING:
    from nugen_client._base import Prepared

_ChunkT = TypeVar("_ChunkT", ChatCompletionChunk, TextCompletionChunk)


_CUT_OFF = (DeadlineExceeded, asyncio.CancelledError)


@dataclass(slots=True, eq=False)
class TransportErrors:
    """``with`` block around a send turning httpx's transport errors and refusals (a
    ``RuntimeError``: ``http`` closed, or an injected ``AsyncClient``'s connection of a closed
    event loop) into ``APIConnectionError`` / ``APITimeoutError`` naming the URL tried and
    the cause, secrets redacted; a timeout at ``deadline`` is :class:`DeadlineExceeded`. A
    class, not a generator: it wraps every send."""

    _secrets: Sequence[str | None]
    _deadline: float | None = None
    _http: httpx.Client | httpx.AsyncClient | None = None
    # The answer whose body is being read, once one arrived (its x-request-id, read only
    # for an error, goes on the error).
    response: httpx.Response | None = None

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        # A plain RuntimeError only: a subclass (NotImplementedError, RecursionError) is a bug.
        if type(exc) is not RuntimeError and not isinstance(exc, httpx.TransportError):
            if self.response is not None and isinstance(exc, _CUT_OFF):
                # The deadline passed while the body was read (async: a cancellation by
                # ``within``, which passes the id on): the answer's id goes with it.
                exc.request_id = self._request_id()  # type: ignore[union-attr]
            return
        request_id = self._request_id()
        if self._http is not None and self._http.is_closed:
            error: NugenError = client_closed(
                "the client was closed (close() / aclose(), or the http_client passed in) "
                "while this call used it"
            )
            raise add_request_id(error, request_id, self._secrets) from None
        if isinstance(exc, httpx.TimeoutException) and passed(self._deadline):
            raise DeadlineExceeded(request_id) from None
        # The message of ``exc``, or of the first of its causes that has one: httpx's async
        # read errors often carry none (the reason, a reset connection, is in their cause).
        cause: BaseException | None = exc
        for _ in range(8):  # a cycle of causes must not loop forever
            if cause is None or str(cause):
                break
            cause = cause.__cause__ or cause.__context__
        kind = type(exc).__name__
        detail = redact("" if cause is None else str(cause), self._secrets) or kind
        if not isinstance(exc, httpx.TransportError):
            error = APIConnectionError(f"the request could not be sent ({kind}: {detail})")
            raise add_request_id(error, request_id, self._secrets) from None
        try:
            # base_url never holds userinfo (check_base_url), so the URL is safe to show.
            where = f" at {exc.request.url.copy_with(query=None)}"
        except RuntimeError:  # an exception raised without its request
            where = ""
        if isinstance(exc, httpx.TimeoutException):
            error = APITimeoutError(f"request{where} timed out ({kind}: {detail})")
        else:
            error = APIConnectionError(f"could not reach the service{where} ({kind}: {detail})")
        raise add_request_id(error, request_id, self._secrets) from None

    def _request_id(self) -> str | None:
        return None if self.response is None else self.response.headers.get("x-request-id")


@dataclass(slots=True, eq=False)
class StreamCall(Generic[_ChunkT]):
    """One stream request and what both clients' stream loops need to read its answer:
    events go through :meth:`chunks`, an answer that came whole (JSON) through ``whole``."""

    prepared: Prepared
    decoder: ChunkDecoder[_ChunkT]
    whole: Callable[[httpx.Response], list[_ChunkT]]
    # The chunk an event carries (the decoder's own method: called once per chunk).
    decode: Callable[[Event], _ChunkT | None] = field(init=False)

    def __post_init__(self) -> None:
        self.decoder.usage_seen = not self.prepared.wants_usage
        self.decode = self.decoder.decode

    def stop(self) -> None:
        """The stream's close() from another thread or task while this one reads: the
        reader's next event ends the stream (no check per event while it runs)."""
        self.decode = self._stopped

    def _stopped(self, _event: Event | None = None) -> NoReturn:
        raise self.decoder.interrupted("the stream was closed")

    def check_open(self) -> None:
        """Raise as the next event would if :meth:`stop` ran: for a request not yet sent
        (its reader waited for a connection), or an answer that came whole."""
        if self.decode == self._stopped:
            self._stopped()

    def chunks(self, events: Iterable[Event]) -> Iterator[_ChunkT]:
        """The chunks ``events`` carry, up to ``[DONE]`` (``decoder.done``)."""
        for event in events:
            chunk = self.decode(event)
            if chunk is not None:
                yield chunk
            elif self.decoder.done:
                return


# What follows [DONE] is read to the end of the body (the live service sends one more chunk),
# so that the connection goes back to the pool rather than being closed, as the OpenAI SDK
# and httpx-sse do; but at most this many network reads, never decoded, errors ignored.
_DRAIN_READS = 8


def drain(pieces: Iterator[bytes]) -> None:
    """Read up to the end of a stream's body after ``[DONE]`` (see ``_DRAIN_READS``)."""
    with contextlib.suppress(Exception):
        for _ in itertools.islice(pieces, _DRAIN_READS):
            pass


async def adrain(pieces: AsyncIterator[bytes]) -> None:
    """:func:`drain`, async."""
    with contextlib.suppress(Exception):
        for _ in range(_DRAIN_READS):
            await anext(pieces)


def is_event_stream(response: httpx.Response) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "").lower()


def _stream_error(
    error: NugenError, response: httpx.Response, secrets: Sequence[str]
) -> NugenError:
    """An error of reading a stream, ready to leave the client: the event data it may quote
    is redacted (and the suppressed parser error quoting it too dropped), and it carries
    the response's ``x-request-id``."""
    if error.__suppress_context__:
        error.__context__ = None
    error.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in error.args)
    if isinstance(getattr(error, "body", None), str):
        error.body = redact(error.body, secrets)  # type: ignore[attr-defined]
    return add_request_id(error, response.headers.get("x-request-id"), secrets)


@contextlib.contextmanager
def stream_errors(
    call: StreamCall[Any], response: httpx.Response, http: httpx.Client | httpx.AsyncClient | None
) -> Iterator[None]:
    """What can go wrong while a stream is read, as the errors callers get (both clients);
    ``http``: the httpx client the stream came on (closing it breaks the stream)."""
    decoder, secrets = call.decoder, call.prepared.secrets
    try:
        yield
    except NugenError as exc:
        raise _stream_error(exc, response, secrets) from None
    except (DeadlineExceeded, httpx.TimeoutException) as exc:
        if decoder.finished and decoder.usage_seen:
            # The whole answer is in (final finish_reason, usage if asked): a server that
            # then holds the connection, or sends only keep-alive comments, loses us nothing.
            return
        if isinstance(exc, DeadlineExceeded) or deadline_passed(response):
            error = APITimeoutError(
                f"the stream did not finish within the call's deadline "
                f"({decoder.received} received); the answer is incomplete"
            )
        else:
            error = APITimeoutError(
                f"the stream stalled after {decoder.received} ({type(exc).__name__}): no "
                "data within the read timeout; the answer is incomplete"
            )
        raise _stream_error(error, response, secrets) from None
    except httpx.TransportError as exc:
        cause = "the client was closed" if http is None or http.is_closed else type(exc).__name__
        raise _stream_error(decoder.interrupted(cause), response, secrets) from None
