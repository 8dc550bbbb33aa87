"""The emulator as a long-running server: bounded memory, quiet logs, stable ids."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from nugen_emulator import NugenEmulator, RecordedRequest
from nugen_emulator._records import RequestLog

from .conftest import USER


def _raw_request(emulator: NugenEmulator, body: bytes, *, length: int | None = None) -> bytes:
    head = (
        f"POST /api/v3/inference/chat/completions HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {emulator.api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode() + body


def test_the_request_log_keeps_only_the_newest_requests() -> None:
    with NugenEmulator(request_log_limit=3) as emu:
        for i in range(5):
            httpx.post(f"{emu.base_url}/embeddings", json={"model": "e", "input": str(i)})
        assert [r.body["input"] for r in emu.requests] == ["2", "3", "4"]
        emu.reset()
        assert emu.requests == []
    with pytest.raises(ValueError, match="request_log_limit"):
        NugenEmulator(request_log_limit=0)


def test_the_request_log_is_bounded_in_bytes_too() -> None:
    log = RequestLog(limit=100, max_bytes=10)

    def entry(size: int) -> RecordedRequest:
        return RecordedRequest("POST", "/p", {}, None, b"x" * size)

    for size in (4, 4, 4):
        log.append(entry(size))
    assert [len(r.raw_body) for r in log.snapshot()] == [4, 4]
    log.append(entry(50))  # the newest stays, however large
    assert [len(r.raw_body) for r in log.snapshot()] == [50]


def test_requests_carry_their_arrival_time(
    http: httpx.Client, nugen_emulator: NugenEmulator
) -> None:
    before = time.monotonic()
    http.post("/chat/completions", json={"model": "m", "messages": USER})
    http.post("/chat/completions", json={"model": "m", "messages": USER})
    first, second = nugen_emulator.requests
    assert before <= first.received_at <= second.received_at <= time.monotonic()


def test_an_abandoned_stream_does_not_flood_the_log(
    nugen_emulator: NugenEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    words = " ".join(["word"] * 2000)
    body = {"model": "m", "messages": [{"role": "user", "content": words}], "stream": True, "n": 8}
    with caplog.at_level("WARNING"):
        with socket.create_connection(("127.0.0.1", nugen_emulator.port)) as client:
            client.sendall(_raw_request(nugen_emulator, json.dumps(body).encode()))
            assert client.recv(100).startswith(b"HTTP/1.1 200")
        time.sleep(1.0)  # the server runs on into the closed connection
    assert len(caplog.records) <= 1, caplog.text


@pytest.mark.parametrize("depth", [65, 5_000, 200_000])
def test_a_deeply_nested_body_is_a_422(
    http: httpx.Client, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    nested = b"[" * depth + b"]" * depth
    with caplog.at_level("ERROR", logger="nugen_emulator"):
        reply = http.post("/chat/completions", content=b'{"model":"m","messages":' + nested + b"}")
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"][0]["type"] == "json_invalid"
    assert caplog.records == []
    shallow = {"model": "m", "messages": USER, "metadata": json.loads(b"[" * 60 + b"]" * 60)}
    assert http.post("/chat/completions", json=shallow).status_code == 200


def test_a_client_leaving_mid_body_is_not_a_failure(
    nugen_emulator: NugenEmulator, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("ERROR"):
        with socket.create_connection(("127.0.0.1", nugen_emulator.port)) as client:
            client.sendall(_raw_request(nugen_emulator, b'{"model": "m"', length=1000))
            time.sleep(0.2)
        time.sleep(0.3)
    assert caplog.records == [], caplog.text
    assert http.post("/chat/completions", json={"model": "m", "messages": USER}).status_code == 200


def _ids(emulator: NugenEmulator, order: list[str]) -> dict[str, tuple[str, str]]:
    ids = {}
    with httpx.Client(base_url=emulator.base_url) as client:
        for text in order:
            body = {"model": "m", "messages": [{"role": "user", "content": text}]}
            reply = client.post(
                "/chat/completions", json=body, headers={"Authorization": "Bearer test-key"}
            )
            ids[text] = (reply.headers["x-request-id"], reply.json()["id"])
    return ids


def test_seeded_ids_do_not_depend_on_the_order_of_requests() -> None:
    with NugenEmulator(seed=7) as emu:
        forwards = _ids(emu, ["a", "b"])
        emu.reset()
        backwards = _ids(emu, ["b", "a"])
        # The same request again is a new request: new ids.
        again = _ids(emu, ["a"])
    assert forwards == backwards
    assert again["a"] != forwards["a"]
    assert forwards["a"] != forwards["b"]
