"""``python -m nugen_emulator conformance``, offline: against other emulators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nugen_emulator import NugenEmulator
from nugen_emulator.__main__ import main

SECRET = "conformance-secret-key-1234"


def _run(
    emulator: NugenEmulator, tmp_path: Path, *extra: str
) -> tuple[int, str, list[dict[str, Any]]]:
    report = tmp_path / "report.json"
    argv = ["conformance", "--base-url", emulator.base_url, "--json", str(report)]
    status = main([*argv, "--api-key", emulator.api_key, *extra])
    return status, report.read_text(), json.loads(report.read_text())["differences"]


def test_a_second_emulator_in_the_default_forms_does_not_differ(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with NugenEmulator(api_key=SECRET) as other:
        status, text, differences = _run(other, tmp_path)
        sent = other.requests
    out = capsys.readouterr().out
    assert (status, differences) == (0, []), out
    assert out.startswith("no difference in ")
    # A fixed, cheap battery: every endpoint, few tokens.
    assert len(sent) <= 20
    assert {r.path.rsplit("/inference", 1)[1] for r in sent} == {
        "/chat/completions", "/chat/vision", "/completions", "/embeddings", "/reranker"
    }  # fmt: skip
    assert all((r.body or {}).get("max_tokens", 0) <= 64 for r in sent)
    assert any(r.headers["authorization"] != f"Bearer {SECRET}" for r in sent)  # the 401
    assert SECRET not in out + text


def test_the_reference_forms_show_the_known_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with NugenEmulator(forms="reference", api_key=SECRET) as reference:
        status, text, differences = _run(reference, tmp_path, "--chat-model", "nugen-legal")
    out = capsys.readouterr().out
    assert status == 1
    rows = {(d["endpoint"], d["field"]): (d["live"], d["emulator"]) for d in differences}
    assert rows[("chat", "body created")] == ("float", "integer")
    assert rows[("chat", "body confidence_score")] == ("float", "absent")
    assert rows[("chat", "body confidence")] == ("absent", "float")
    assert rows[("vision", "body object")] == ("absent", "string")
    assert rows[("chat stream", "event _timing")] == ("absent", "object")
    assert rows[("chat stream", "event after [DONE]")] == ("absent", "object")
    live_events, emulator_events = rows[("chat stream", "events")]
    assert "timing" not in live_events
    assert emulator_events.startswith("_timing > ")
    assert emulator_events.endswith("> [DONE] > after [DONE]")
    # An object one side lacks is one row, not one per field inside it.
    assert ("chat", "body timing.ttft_seconds") not in rows
    assert out.splitlines()[0].split() == ["endpoint", "field", "live", "emulator"]
    assert f"{len(differences)} of " in out
    assert SECRET not in out + text


def test_an_unreachable_server_is_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["conformance", "--base-url", "http://127.0.0.1:9/api/v3/inference", "--api-key", SECRET]
    )
    captured = capsys.readouterr()
    assert status == 2
    assert "cannot reach" in captured.err
    assert SECRET not in captured.out + captured.err


def test_no_api_key_is_exit_status_2_saying_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NUGEN_API_KEY", raising=False)
    with NugenEmulator() as other:
        status = main(["conformance", "--base-url", other.base_url])
        sent = other.requests
    captured = capsys.readouterr()
    assert status == 2
    assert "no API key" in captured.err
    assert "--api-key" in captured.err
    assert "NUGEN_API_KEY" in captured.err
    assert "cannot reach" not in captured.err
    assert sent == []


def test_a_refused_key_is_exit_status_2_not_a_table_of_401s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every answer a 401 is no measure of the emulator: no report to attach to an issue.
    with NugenEmulator(api_key=SECRET) as other:
        report = tmp_path / "report.json"
        argv = ["--base-url", other.base_url, "--api-key", "wrong-key", "--json", str(report)]
        status = main(["conformance", *argv])
    captured = capsys.readouterr()
    assert status == 2
    assert "refused the key (401)" in captured.err
    assert captured.out == ""
    assert not report.exists()
    assert "wrong-key" not in captured.err


def test_an_unwritable_json_file_is_exit_status_2_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Live requests cost money: a report that cannot be written is refused before them.
    with NugenEmulator(api_key=SECRET) as other:
        argv = ["--base-url", other.base_url, "--api-key", SECRET]
        status = main(["conformance", *argv, "--json", str(tmp_path / "no" / "report.json")])
        sent = other.requests
    captured = capsys.readouterr()
    assert status == 2
    assert "cannot write" in captured.err
    assert sent == []


@pytest.mark.parametrize(
    "secret_part",
    [
        pytest.param("bob:{secret}@", id="userinfo"),
        pytest.param("?api-key={secret}", id="query"),
        pytest.param("#{secret}", id="fragment"),
    ],
)
def test_a_base_url_holding_a_secret_is_refused_without_echoing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], secret_part: str
) -> None:
    # The report is printed and written to attach to an issue: a password or a gateway key
    # in the URL would go with it (and userinfo would be sent as Basic auth).
    with NugenEmulator(api_key=SECRET) as other:
        scheme, rest = other.base_url.split("//", 1)
        part = secret_part.format(secret="gw-secret-0123456789")
        url = f"{scheme}//{part}{rest}" if "@" in part else other.base_url + part
        report = tmp_path / "report.json"
        argv = ["--base-url", url, "--api-key", SECRET, "--json", str(report)]
        status = main(["conformance", *argv])
        sent = other.requests
    captured = capsys.readouterr()
    assert status == 2
    assert "--base-url" in captured.err
    assert "gw-secret" not in captured.out + captured.err
    assert not report.exists()
    assert sent == []
