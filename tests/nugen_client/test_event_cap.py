"""The stream event cap counts every event, however the bytes are cut:
whole events inside one network read, events split across reads, split boundaries."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nugen_client import APIResponseValidationError
from nugen_client._sse import iter_events


def _read(pieces: list[bytes], max_event: int) -> list[str]:
    return [event.data for event in iter_events(pieces, max_event)]


EVENT = b"data: " + b"x" * 20  # 26 bytes


@pytest.mark.parametrize(
    "pieces",
    [
        [EVENT + b"\n\n" + EVENT + b"\n\n"],  # two whole events in one read
        [EVENT[:10], EVENT[10:] + b"\n", b"\n"],  # an event and its boundary split
        [EVENT + b"\n", b"\r\n", EVENT + b"\r\n\r\n"],  # CRLF boundaries, split
        [b"\n\n".join([EVENT] * 5) + b"\n\n"],
        # A blank line more between events belongs to none of them.
        [EVENT + b"\n\n\n" + EVENT + b"\n\n"],
        [EVENT + b"\n\n\n", EVENT + b"\n\n"],
        [EVENT + b"\n\n\n", EVENT, b"\n\n"],  # the next event still open, at the cap
        [EVENT + b"\n\n", b"\n", EVENT + b"\n\n"],
        [b"\n", EVENT + b"\n\n"],
    ],
)
def test_events_within_the_cap_pass(pieces: list[bytes]) -> None:
    events = b"".join(pieces).replace(b"\r\n", b"\n").count(b"\n\n")
    assert _read(pieces, max_event=26) == ["x" * 20] * events


@pytest.mark.parametrize(
    "pieces",
    [
        [EVENT + b"\n\n" + EVENT + b"y\n\n"],  # the second event of one read is too big
        [EVENT + b"\n\n" + EVENT[:10], EVENT[10:] + b"yy"],  # grows past the cap over reads
        [EVENT + b"y"],  # an open event already too big
        [EVENT + b"\n", b"\n" + EVENT + b"y\n\n"],  # after a split boundary
        [EVENT + b"\n\n\n" + EVENT + b"y\n\n"],  # after a blank line more
        [EVENT + b"\n\n", b"\n", EVENT + b"y"],
    ],
)
def test_an_event_over_the_cap_is_refused(pieces: list[bytes]) -> None:
    with pytest.raises(APIResponseValidationError, match="max_event_bytes"):
        _read(pieces, max_event=26)


_LINES = st.sampled_from([b"data: " + b"x" * 9, b"data: x", b"event: e", b": note", b"id: 1", b""])


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.tuples(_LINES, st.sampled_from([b"\n", b"\r\n", b"\r"])), max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    over=st.booleans(),
)
def test_an_event_at_the_cap_passes_and_one_byte_over_is_refused(
    lines: list[tuple[bytes, bytes]], cuts: list[int], over: bool
) -> None:
    stream = b"".join(line + end for line, end in lines)
    bounds = [0, *sorted(cut for cut in cuts if cut < len(stream)), len(stream)]
    pieces = [stream[start:end] for start, end in itertools.pairwise(bounds)]
    # Each event, its line ends one byte each and without the blank line that ends it nor a
    # blank line more before it; the last may still be open (its last line end not counted).
    *events, last = stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n\n")
    sizes = [len(event.lstrip(b"\n")) for event in events]
    sizes.append(len(last.lstrip(b"\n")) - last.endswith(b"\n"))
    max_event = max(max(sizes) - over, 1)
    if max(sizes) > max_event:
        with pytest.raises(APIResponseValidationError, match="max_event_bytes"):
            _read(pieces, max_event)
    else:
        assert _read(pieces, max_event) == _read([stream], 1 << 20)
