"""The server-sent events parser: the same events however the bytes are cut into reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nugen_client import APIResponseValidationError
from nugen_client._sse import EventParser, iter_events

ROOT = Path(__file__).resolve().parents[2]

STREAM = (
    b": keep-alive comment\n\n"
    b'data: {"a": 1}\n\n'
    b"data: crlf then lf\r\n\n"
    b"event: error\ndata: first line\ndata: second line\n\n"
    b"data:no space\r\n\r\n"
    b"id: 7\nretry: 100\n\n"  # no data, no name: no event
    b"data: caf\xc3\xa9 \xe2\x82\xac\r\r"
    b"\n\n\ndata: after blank lines\n\n"
    b"data\n\n"  # a field name alone: empty data
    b"data: never finished"
)
EXPECTED = [
    ("message", '{"a": 1}'),
    ("message", "crlf then lf"),
    ("error", "first line\nsecond line"),
    ("message", "no space"),
    ("message", "caf\u00e9 \u20ac"),
    ("message", "after blank lines"),
    ("message", ""),
]


def events(pieces: list[bytes]) -> list[tuple[str, str]]:
    return [(event.event, event.data) for event in iter_events(pieces)]


def test_whole_stream_in_one_read() -> None:
    assert events([STREAM]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_cut_between_two_reads(cut: int) -> None:
    assert events([STREAM[:cut], STREAM[cut:]]) == EXPECTED


def test_one_byte_per_read() -> None:
    assert events([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_an_event_is_complete_as_soon_as_its_blank_line_arrives() -> None:
    parser = EventParser()
    assert list(parser.feed(b"data: x\n")) == []
    [event] = parser.feed(b"\n")
    assert event.data == "x"
    # A lone \r ends a line at once; a \n opening the next read is its other half.
    assert list(parser.feed(b"data: y\r")) == []
    [event] = parser.feed(b"\r")
    assert event.data == "y"
    assert next(parser.feed(b"\ndata: z\r\n\r\n")).data == "z"


def test_events_are_made_as_they_are_read() -> None:
    # The first event of a long read is handed out before the rest is decoded: the
    # broken second event raises only when it is reached.
    events = EventParser().feed(b"data: first\n\ndata: \xff\n\n")
    assert next(events).data == "first"
    with pytest.raises(APIResponseValidationError, match="not valid UTF-8"):
        next(events)


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(APIResponseValidationError, match="not valid UTF-8"):
        events([b"data: ok\n\n", b"data: \xff\xfe\n\n"])


def test_streams_need_no_httpx_sse() -> None:
    # httpx-sse is a dev dependency only: the client parses its streams itself.
    code = (
        "import sys; sys.modules['httpx_sse'] = None\n"
        "import httpx, nugen_client\n"
        'body = b\'data: {"choices": [{"delta": {"content": "hi"}, '
        '"finish_reason": "stop"}]}\\n\\ndata: [DONE]\\n\\n\'\n'
        "reply = httpx.Response(200, headers={'content-type': 'text/event-stream'}, "
        "content=body)\n"
        "http = httpx.Client(transport=httpx.MockTransport(lambda request: reply))\n"
        "client = nugen_client.NugenClient(api_key='k', http_client=http)\n"
        "chunks = client.stream_chat_completion(model='m', messages=[{'role': 'user', "
        "'content': 'x'}], include_usage=False)\n"
        "print(''.join(c.choices[0].delta.content or '' for c in chunks))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hi"


def test_an_empty_read_between_the_halves_of_a_crlf_changes_nothing() -> None:
    assert events([b"data: a\r", b"", b"\n", b"data: b\n\n"]) == [("message", "a\nb")]


@pytest.mark.parametrize("cut", range(5))
def test_one_leading_byte_order_mark_is_dropped(cut: int) -> None:
    # As the SSE specification says: one, at the very start of the stream, however it is cut.
    stream = b"\xef\xbb\xbfdata: first\n\n\xef\xbb\xbfdata: second\n\n"
    assert events([stream[:cut], stream[cut:]]) == [("message", "first")]
    assert events([b"\xef\xbb\xbf" + stream]) == []
