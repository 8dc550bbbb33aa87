"""Starting, stopping and addressing the emulator; the pytest fixtures; the command line."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from nugen_client import NugenClient
from nugen_client._base import DEFAULT_LIMITS
from nugen_emulator import DEFAULT_API_KEY, Fault, NugenEmulator, RecordedRequest, _server


def _emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("NugenEmulator:")]


def test_context_manager_serves_and_stops_cleanly() -> None:
    before = len(_emulator_threads())
    with NugenEmulator() as emu:
        assert emu.running
        assert emu.base_url == f"http://127.0.0.1:{emu.port}/api/v3/inference"
        assert emu.api_key == DEFAULT_API_KEY == "test-key"
        reply = httpx.post(
            f"{emu.base_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": "Bearer test-key"},
        )
        assert reply.status_code == 200
        port = emu.port
    assert not emu.running
    assert len(_emulator_threads()) == before
    # The port is released: something else can listen on it right away.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_start_stop_and_openai_addresses() -> None:
    emu = NugenEmulator(dialect="openai", api_key="sk-local")
    with pytest.raises(RuntimeError, match="start"):
        _ = emu.port
    assert emu.start() is emu
    try:
        assert emu.base_url == f"http://127.0.0.1:{emu.port}/v1"
        assert emu.url == f"http://127.0.0.1:{emu.port}"
        assert "openai" in repr(emu)
        with pytest.raises(RuntimeError, match="already running"):
            emu.start()
    finally:
        emu.stop()
    emu.stop()  # idempotent
    assert not emu.running


def test_a_wildcard_host_gives_a_loopback_url_clients_accept() -> None:
    # --host 0.0.0.0 (a container) listens everywhere; the URL it prints must be one the
    # client takes, not a wildcard it refuses as plain http to another machine.
    assert NugenEmulator(host="::", port=8000).url == "http://[::1]:8000"
    with (
        NugenEmulator(host="0.0.0.0") as emu,
        NugenClient(api_key=emu.api_key, base_url=emu.base_url) as client,
    ):
        assert emu.host == "0.0.0.0"
        assert emu.base_url == f"http://127.0.0.1:{emu.port}/api/v3/inference"
        reply = client.chat_completion(model="m", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == 'You asked: "hi".'


def test_a_busy_port_fails_in_the_caller() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match=r"(?i)in use"):
            NugenEmulator(port=taken.getsockname()[1]).start()


def test_stop_does_not_wait_for_a_stalled_stream() -> None:
    emu = NugenEmulator().start()
    emu.inject(stall_after=1, stall_seconds=30)
    received: list[str] = []

    def consume() -> None:
        try:
            with httpx.stream(
                "POST",
                f"{emu.base_url}/chat/completions",
                json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
                headers={"Authorization": "Bearer test-key"},
                timeout=10,
            ) as reply:
                received.extend(reply.iter_lines())
        except httpx.HTTPError as exc:
            received.append(repr(exc))

    reader = threading.Thread(target=consume)
    reader.start()
    while not emu.requests:
        time.sleep(0.01)
    started = time.monotonic()
    emu.stop()
    reader.join(10)
    assert time.monotonic() - started < 5
    assert not reader.is_alive()


def test_idle_connections_outlive_the_clients_pools_but_not_stop() -> None:
    # The client is the side that closes an idle keep-alive connection: an emulator closing
    # it first races the client's next request on it (a POST lost to a connection reset).
    emu = NugenEmulator().start()
    assert emu._server is not None
    keep_alive = emu._server.config.timeout_keep_alive
    assert keep_alive > max(DEFAULT_LIMITS.keepalive_expiry, httpx.Limits().keepalive_expiry)
    with socket.create_connection(("127.0.0.1", emu.port)) as client:
        client.sendall(
            b"GET /api/v3/models/aligned HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer test-key\r\n\r\n"
        )
        assert client.recv(100).startswith(b"HTTP/1.1 200")
        time.sleep(0.1)
        client.recv(65536)  # the rest of the answer: the connection is idle now
        started = time.monotonic()
        emu.stop()  # neither waits for the idle connection nor leaves it open
        assert time.monotonic() - started < 2
        client.settimeout(2)
        assert client.recv(100) == b""


def test_constructor_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="dialect"):
        NugenEmulator(dialect="azure")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="embedding_dimensions"):
        NugenEmulator(embedding_dimensions=0)
    with pytest.raises(TypeError, match="chat_reply"):
        NugenEmulator(chat_reply="canned")  # type: ignore[arg-type]


def test_the_plugin_fixture_is_shared_and_reset(nugen_emulator: NugenEmulator) -> None:
    assert nugen_emulator.requests == []
    assert nugen_emulator.pending_faults == 0
    # Leave state behind on purpose: the next test must not see it.
    nugen_emulator.inject(status=500, times=3)
    httpx.get(f"{nugen_emulator.url}/anything")
    assert nugen_emulator.pending_faults == 3


def test_the_plugin_fixture_is_shared_and_reset_again(nugen_emulator: NugenEmulator) -> None:
    test_the_plugin_fixture_is_shared_and_reset(nugen_emulator)


def test_a_test_may_stop_the_plugin_fixture(nugen_emulator: NugenEmulator) -> None:
    # How a user tests their app's "service unreachable" path: stop the shared server.
    nugen_emulator.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{nugen_emulator.url}/anything")


def test_the_next_test_gets_it_serving_again(nugen_emulator: NugenEmulator) -> None:
    assert nugen_emulator.running
    assert httpx.get(f"{nugen_emulator.url}/anything").status_code == 404


def test_a_stopped_fixture_whose_port_was_taken_starts_on_another() -> None:
    from nugen_emulator.pytest_plugin import _fresh

    with NugenEmulator() as emulator:
        emulator.stop()
        with socket.create_server(("127.0.0.1", emulator.port)):  # someone took the port
            assert _fresh(emulator).running
            assert httpx.get(f"{emulator.url}/anything").status_code == 404


def test_openai_fixture(nugen_emulator_openai: NugenEmulator) -> None:
    assert nugen_emulator_openai.dialect == "openai"
    assert nugen_emulator_openai.base_url.endswith("/v1")


def test_request_log_records_what_was_sent(nugen_emulator: NugenEmulator) -> None:
    assert nugen_emulator.last_request is None
    httpx.post(
        f"{nugen_emulator.base_url}/embeddings?trace=1",
        content=b'{"model": "e", "input": "x"}',
        headers={"Authorization": "Bearer test-key", "X-Session-ID": "s1"},
    )
    httpx.post(f"{nugen_emulator.base_url}/embeddings", content=b"not json")
    first, second = nugen_emulator.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.query) == (
        "POST",
        "/api/v3/inference/embeddings",
        "trace=1",
    )
    assert first.headers["x-session-id"] == "s1"
    assert first.headers["authorization"] == "Bearer test-key"
    assert first.body == {"model": "e", "input": "x"}
    assert first.raw_body == b'{"model": "e", "input": "x"}'
    assert (second.body, second.raw_body) == (None, b"not json")
    # Printed (pytest shows a failed assertion's operands), a credential header is masked.
    shown = repr(first)
    assert "test-key" not in shown
    assert "'authorization': '***'" in shown
    assert "'x-session-id': 's1'" in shown
    assert nugen_emulator.last_request == second
    nugen_emulator.reset()
    assert nugen_emulator.requests == []


def test_fault_is_importable_and_validated_without_a_server() -> None:
    assert Fault(status=429).matches("/v1/chat/completions")
    assert not Fault(path="/embeddings").matches("/v1/chat/completions")
    with pytest.raises(ValueError, match="status"):
        Fault(status=42)
    with pytest.raises(ValueError, match="stall_seconds"):
        Fault(stall_after=1)
    with pytest.raises(ValueError, match="cut_after"):
        Fault(cut_after=-1)


@contextlib.contextmanager
def _cli(*args: str, stop: signal.Signals) -> Iterator[str]:
    """``python -m nugen_emulator *args``; yields the base URL it prints, then sends
    ``stop`` and checks that it stopped cleanly."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nugen_emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert "test-key" in lines[2], lines
        yield lines[1].split("base_url:")[1].strip()
    finally:
        process.send_signal(stop)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "stopped" in out


_CHAT = {"model": "nugen-flash-instruct", "messages": [{"role": "user", "content": "ping"}]}
_AUTH = {"Authorization": "Bearer test-key"}


def test_cli_serves_its_defaults_until_interrupted() -> None:
    with _cli("--port", "0", stop=signal.SIGINT) as base_url:
        assert base_url.endswith("/api/v3/inference")
        reply = httpx.post(f"{base_url}/chat/completions", json=_CHAT, headers=_AUTH).json()
    assert reply["choices"][0]["message"]["content"] == 'You asked: "ping".'
    assert reply["model"] == "nugen-flash-instruct"
    assert "timing" in reply  # the live service's forms


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_serves_the_dialect_on_the_port_it_is_given_until_terminated() -> None:
    port = _free_port()
    # SIGTERM: the way a supervisor (or a benchmark's parent) stops it.
    args = ("--port", str(port), "--dialect", "openai", "--seed", "1")
    with _cli(*args, stop=signal.SIGTERM) as base_url:
        assert base_url == f"http://127.0.0.1:{port}/v1"
        chat = httpx.post(f"{base_url}/chat/completions", json=_CHAT, headers=_AUTH)
        embedded = httpx.post(
            f"{base_url}/embeddings",
            json={"model": "nugen-flash-embed", "input": "ping"},
            headers=_AUTH,
        )
    assert chat.json()["choices"][0]["message"]["content"] == 'You asked: "ping".'
    assert embedded.status_code == 200
    assert len(embedded.json()["data"][0]["embedding"]) == 384


def test_cli_passes_forms_served_model_and_latency() -> None:
    args = ("--forms", "reference", "--served-model", "served-x", "--latency", "0.3", "0")
    with _cli("--port", "0", *args, stop=signal.SIGINT) as base_url:
        reference = httpx.post(f"{base_url}/chat/completions", json=_CHAT, headers=_AUTH)
        started = time.perf_counter()
        embedded = httpx.post(
            f"{base_url}/embeddings",
            json={"model": "nugen-flash-embed", "input": "ping"},
            headers=_AUTH,
        )
        waited = time.perf_counter() - started
    assert "timing" not in reference.json()
    assert reference.json()["model"] == "served-x"
    assert embedded.status_code == 200
    assert waited >= 0.3


def test_cli_reports_a_busy_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "nugen_emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_replies_are_not_delayed_by_nagle(http: httpx.Client) -> None:
    """Headers and body are separate writes: without TCP_NODELAY each reply waits ~40 ms
    for a delayed ACK, which would make the emulator useless for benchmarks."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    http.post("/chat/completions", json=body)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        assert http.post("/chat/completions", json=body).status_code == 200
        timings.append(time.perf_counter() - started)
    # With the delay every reply would take 40 ms or more; the fastest one shows whether
    # replies wait at all, even on a loaded machine (a sum of all twenty does not).
    assert min(timings) < 0.025, timings


def test_an_emulator_bug_is_a_500_in_the_dialect(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: object) -> object:
        raise RuntimeError("simulated emulator bug")

    monkeypatch.setattr(_server, "generate_chat", broken)
    with caplog.at_level("ERROR", logger="nugen_emulator"):
        reply = http.post(
            "/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]}
        )
    assert reply.status_code == 500
    assert reply.json() == {"detail": "NugenEmulator internal error"}
    assert reply.headers["x-request-id"]
    assert "simulated emulator bug" in caplog.text


def test_a_start_that_fails_after_binding_frees_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_templates() -> None:
        raise RuntimeError("a framework's template module failed to import")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(_server, "templates", broken_templates)
    emulator = NugenEmulator(port=port)
    with pytest.raises(RuntimeError, match="failed to import"):
        emulator.start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # EADDRINUSE while the emulator still holds it


def test_a_port_out_of_range_is_refused_up_front(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"port must be 0\.\.65535"):
        NugenEmulator(port=70000)
    # On the command line: a usage error (exit status 2), not a traceback.
    from nugen_emulator.__main__ import main

    for args in (["--port", "70000"], ["--port", "0", "--latency", "-1", "0"]):
        with pytest.raises(SystemExit) as exited:
            main(args)
        assert exited.value.code == 2
        error = capsys.readouterr().err
        assert "usage:" in error
        assert "Traceback" not in error


def test_a_restarted_emulator_comes_back_at_the_same_address() -> None:
    # "The service is down, then back": a client keeps the base URL it was given.
    emu = NugenEmulator()
    with emu:
        base_url = emu.base_url
    with httpx.Client(headers={"Authorization": f"Bearer {emu.api_key}"}) as client:
        with pytest.raises(httpx.ConnectError):
            client.post(f"{base_url}/embeddings", json={"model": "e", "input": "x"})
        with emu:
            assert emu.base_url == base_url
            reply = client.post(f"{base_url}/embeddings", json={"model": "e", "input": "x"})
            assert reply.status_code == 200


def test_a_start_after_a_failed_one_reports_its_own_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_run = _server.uvicorn.Server.run
    outcomes = iter([RuntimeError("the first start's failure"), None])

    def run(server: object, sockets: object = None) -> None:
        outcome = next(outcomes, "serve")
        if outcome == "serve":
            real_run(server, sockets=sockets)  # type: ignore[arg-type]
        elif outcome is not None:
            raise outcome  # type: ignore[misc]

    monkeypatch.setattr(_server.uvicorn.Server, "run", run)
    emu = NugenEmulator()
    with pytest.raises(RuntimeError, match="the first start's failure"):
        emu.start()
    with pytest.raises(RuntimeError, match=r"did not start: not listening"):  # no error
        emu.start()
    with emu:  # and a start that succeeds serves
        reply = httpx.post(f"{emu.base_url}/embeddings", json={"model": "e", "input": "x"})
        assert reply.status_code == 401  # no key: an answer from the emulator
