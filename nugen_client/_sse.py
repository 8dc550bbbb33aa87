"""Server-sent events, parsed a network read at a time.

A read is cut at blank lines in one pass; an event that is one ``data:`` line (every chunk
of a stream) is taken whole, others are read line by line as the SSE specification says.
Only whole events are decoded, strictly as UTF-8 (invalid bytes are refused, never
altered); an event still open when the stream ends is dropped, as the specification says.
An event over the cap (``max_event_bytes``) is refused as soon as it is, whole or still open.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NoReturn

from nugen_client._errors import APIResponseValidationError

_DATA = b"data: "
_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class Event:
    """One server-sent event: its ``data`` and its name (``event``: "message" unless the
    server named it)."""

    data: str
    event: str = "message"


@dataclass(slots=True, eq=False)
class EventParser:
    """The events that each piece of a byte stream completes, none over ``max_event`` bytes
    (the blank line that ends an event not counted)."""

    _max_event: int | None = None
    # The open event's pieces, joined once a boundary arrives (linear in its size).
    _open: list[bytes] = field(default_factory=list, init=False)
    _open_size: int = field(default=0, init=False)
    _after_cr: bool = field(default=False, init=False)
    # The stream's first bytes while they may still be a byte order mark (dropped, as the
    # specification says); None once past them.
    _head: bytes | None = field(default=b"", init=False)

    def feed(self, piece: bytes) -> Iterator[Event]:
        """The events ``piece`` completes, each made as it is asked for: the first one is
        handed out before the rest of a long read is decoded. Read each to its end before
        feeding the next piece."""
        if self._head is not None:
            piece = self._head + piece
            if _BOM.startswith(piece):
                self._head = piece
                return
            self._head = None
            piece = piece.removeprefix(_BOM)
        if self._after_cr and piece.startswith(b"\n"):
            piece = piece[1:]  # the second half of a \r\n split between reads
            self._after_cr = False  # even if that \n was all the read held
        if not piece:
            return
        self._after_cr = piece.endswith(b"\r")
        if b"\r" in piece:
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not self._open_size:
            # Blank lines with no event open end nothing: no bytes of the next event.
            piece = piece.lstrip(b"\n")
            if not piece:
                return
        open_, max_event = self._open, self._max_event
        if b"\n\n" not in piece and not (
            open_ and piece.startswith(b"\n") and open_[-1].endswith(b"\n")
        ):
            open_.append(piece)
            self._open_size += len(piece)
            # A last line end may be the first half of the boundary.
            if max_event is not None and self._open_size - piece.endswith(b"\n") > max_event:
                _too_large(max_event)
            return
        if open_:
            open_.append(piece)
            piece = b"".join(open_)
        blocks = piece.split(b"\n\n")
        # A block after a run of three blank lines opens with the third (not counted).
        last = blocks.pop().removeprefix(b"\n")
        self._open, self._open_size = [last], len(last)
        # Only more bytes than the cap can hold an event over it.
        if max_event is not None and len(piece) > max_event:
            open_size = len(last) - last.endswith(b"\n")
            sizes = (len(block) - block.startswith(b"\n") for block in blocks)
            if open_size > max_event or any(size > max_event for size in sizes):
                _too_large(max_event)
        try:
            for block in blocks:
                if block.startswith(_DATA) and b"\n" not in block:
                    # One data line: every chunk of a stream, taken whole.
                    yield Event(block[6:].decode())
                elif (event := _event(block)) is not None:
                    yield event
        except UnicodeDecodeError as error:
            raise APIResponseValidationError(
                f"the stream is not valid UTF-8 ({error.reason} at byte {error.start} of an "
                "event): the answer cannot be read",
                body=None,
            ) from None


def _too_large(max_event: int) -> NoReturn:
    raise APIResponseValidationError(
        f"a stream event is larger than max_event_bytes ({max_event:,} bytes); raise the "
        "limit if this answer is genuine",
        body=None,
    )


def _event(block: bytes) -> Event | None:
    """The event of a block that is not one data line, read line by line."""
    name, data = "", []
    # A block may open with the empty lines of a longer run of blank lines: no fields.
    for line in block.decode().split("\n"):
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
        # Comments (no field name), id, retry and unknown fields: nothing a reply uses.
    if not (name or data):
        return None
    return Event("\n".join(data), name or "message")


def iter_events(pieces: Iterable[bytes], max_event: int | None = None) -> Iterator[Event]:
    """The events of a byte stream."""
    parser = EventParser(max_event)
    for piece in pieces:
        yield from parser.feed(piece)
