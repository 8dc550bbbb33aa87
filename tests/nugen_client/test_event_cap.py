"""The stream event cap counts every event, however the bytes are cut:
whole events inside one network read, events split across reads, split boundaries."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from nugen_client import APIResponseValidationError
from nugen_client._limits import bound_response


class _Pieces(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self._pieces


def _read(pieces: list[bytes], max_event: int) -> bytes:
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, stream=_Pieces(pieces)
    )
    bound_response(response, max_bytes=1 << 20, max_event=max_event, deadline=None)
    return b"".join(response.iter_raw())


EVENT = b"data: " + b"x" * 20  # 26 bytes


@pytest.mark.parametrize(
    "pieces",
    [
        [EVENT + b"\n\n" + EVENT + b"\n\n"],  # two whole events in one read
        [EVENT[:10], EVENT[10:] + b"\n", b"\n"],  # an event and its boundary split
        [EVENT + b"\n", b"\r\n", EVENT + b"\r\n\r\n"],  # CRLF boundaries, split
        [b"\n\n".join([EVENT] * 5) + b"\n\n"],
    ],
)
def test_events_within_the_cap_pass(pieces: list[bytes]) -> None:
    assert _read(pieces, max_event=26) == b"".join(pieces)


@pytest.mark.parametrize(
    "pieces",
    [
        [EVENT + b"\n\n" + EVENT + b"y\n\n"],  # the second event of one read is too big
        [EVENT + b"\n\n" + EVENT[:10], EVENT[10:] + b"yy"],  # grows past the cap over reads
        [EVENT + b"y"],  # an open event already too big
        [EVENT + b"\n", b"\n" + EVENT + b"y\n\n"],  # after a split boundary
    ],
)
def test_an_event_over_the_cap_is_refused(pieces: list[bytes]) -> None:
    with pytest.raises(APIResponseValidationError, match="max_event_bytes"):
        _read(pieces, max_event=26)
