"""Re-recording against the emulator writes interactions in an order timing cannot change."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from nugen_emulator import RecordedRequest

from .conftest import _COMPLETED_AT, _in_canonical_order

PATH = "/api/v3/inference/embeddings"


def _interaction(body: bytes, completed: float) -> tuple[Any, dict[str, Any]]:
    request = SimpleNamespace(method="POST", path=PATH, body=body)
    return request, {"body": {"string": body}, _COMPLETED_AT: completed}


def _logged(body: bytes, received: float) -> RecordedRequest:
    return RecordedRequest("POST", PATH, {}, None, body, received_at=received)


def test_overlapping_requests_are_sorted_and_later_ones_stay_later() -> None:
    # b and a were in flight together (b finished first); q was sent after both.
    cassette = SimpleNamespace(
        data=[_interaction(b"b", 2.0), _interaction(b"a", 2.5), _interaction(b"q", 4.0)]
    )
    log = [_logged(b"a", 1.0), _logged(b"b", 1.1), _logged(b"q", 3.0)]
    _in_canonical_order(cassette, log)
    assert [request.body for request, _ in cassette.data] == [b"a", b"b", b"q"]
    assert all(_COMPLETED_AT not in response for _, response in cassette.data)


def test_sequential_requests_keep_their_order() -> None:
    cassette = SimpleNamespace(data=[_interaction(b"z", 1.5), _interaction(b"a", 3.5)])
    _in_canonical_order(cassette, [_logged(b"z", 1.0), _logged(b"a", 3.0)])
    assert [request.body for request, _ in cassette.data] == [b"z", b"a"]
