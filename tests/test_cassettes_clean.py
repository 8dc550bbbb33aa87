"""No credential may ever be committed in ``cassettes/``; each says what it recorded, parses,
and belongs to a test that exists.

Scans every file under ``cassettes/`` (whatever its name or format): recorded requests must
not carry credential headers, and no text may contain a bearer token, an ``sk-``-style
key, a known key value (the emulator's default key, ``NUGEN_API_KEY``) or a JSON field
named like a key with a real value. A YAML file that does not parse as a cassette is a
finding too (it would otherwise hide its headers from the scan). The scanner is tested on
planted secrets, so a silently broken scanner cannot pass an unclean tree.

``cassettes/<module path>/<name>.yaml`` must be the cassette of a collected offline test of
``tests/<module path>.py`` (pytest-recording's name: ``test_x[param]``, ``Class.test_x``):
a cassette left behind by a renamed or deleted test is an orphan and fails.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pytest_recording.plugin import get_default_cassette_name

from nugen_client import AuthenticationError, NugenClient
from nugen_client._errors import secret_forms

from .conftest import (
    CASSETTES_DIR,
    COLLECTED_OFFLINE,
    EMULATOR_DEFAULT_KEY,
    LIVE_BASE_URL,
    REDACTED,
    ROOT,
    SECRET_HEADERS,
    TESTS_DIR,
)
from .conftest import (
    pytest_collection_modifyitems as record_collection,
)

_TOKEN_PATTERNS = (
    # A token after "Bearer": 6+ token characters including a digit or punctuation, so
    # prose such as "bearer authentication" is not a finding but "Bearer sk-1" is.
    re.compile(r"(?i)\bbearer[ \t]+(?=[\w\-.~+/]*[\d\-.~+/])[\w\-.~+/]{6,}=*"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{12,}"),
    re.compile(r"(?i)\"(?:api[_-]?key|x-api-key|password|secret)\"\s*:\s*\"(?!<REDACTED>)[^\"]+\""),
    re.compile(r"(?i)(?:nugen|nebula)[_-]?api[_-]?key\s*[=:]\s*(?!<)[^\s\"']{6,}"),
)
# Cassettes recorded against the live service; cassettes/README.md must say so for each.
LIVE_RECORDED: frozenset[str] = frozenset()


def _known_secrets() -> list[str]:
    values = [EMULATOR_DEFAULT_KEY, os.environ.get("NUGEN_API_KEY", "")]
    return [v for v in values if len(v) >= 6 and v != REDACTED]


class NotACassetteError(ValueError):
    """A ``.yaml`` file under cassettes/ that vcrpy could not replay."""


def _interactions(text: str) -> list[dict[str, Any]]:
    """The interactions of a cassette's YAML text; ``NotACassetteError`` if it is none."""
    try:
        # libyaml's safe loader where PyYAML has it, as vcrpy's own replay does: a tenth of
        # the pure-Python loader's time, over every cassette, in three tests.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise NotACassetteError(f"does not parse as YAML: {error}") from error
    found = data.get("interactions") if isinstance(data, dict) else None
    if not isinstance(found, list) or not all(isinstance(i, dict) for i in found):
        raise NotACassetteError("is not a vcrpy cassette (no list of 'interactions')")
    return found


def _is_cassette(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml")


def find_credentials(path: Path) -> list[str]:
    """Every credential-looking thing in one file, as human-readable findings."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    findings: list[str] = []
    interactions: list[dict[str, Any]] = []
    if _is_cassette(path):
        try:
            interactions = _interactions(text)
        except NotACassetteError as error:
            findings.append(f"{path.name} {error}")
    for interaction in interactions:
        headers = (interaction.get("request") or {}).get("headers") or {}
        for name in headers:
            if str(name).lower() in SECRET_HEADERS:
                findings.append(f"request header {name!r} was recorded")
        response_headers = (interaction.get("response") or {}).get("headers") or {}
        for name in response_headers:
            if str(name).lower() == "set-cookie":
                findings.append("a set-cookie response header was recorded")
    for pattern in _TOKEN_PATTERNS:
        findings.extend(
            f"matches {pattern.pattern!r}: {m.group(0)[:40]!r}" for m in pattern.finditer(text)
        )
    for secret in _known_secrets():
        token = re.compile(r"(?<![\w-])" + re.escape(secret) + r"(?![\w-])")
        if token.search(text):
            findings.append(f"contains the known key {secret[:3]}...")
    return findings


def _cassette_files() -> list[Path]:
    if not CASSETTES_DIR.exists():
        return []
    return sorted(p for p in CASSETTES_DIR.rglob("*") if p.is_file())


def test_no_credentials_in_cassettes() -> None:
    dirty = {
        str(path.relative_to(CASSETTES_DIR)): findings
        for path in _cassette_files()
        if (findings := find_credentials(path))
    }
    assert not dirty, f"credentials found in cassettes (re-record them, fix scrubbing): {dirty}"


def test_cassettes_say_what_they_were_recorded_against() -> None:
    """cassettes/README.md says they come from NugenEmulator: keep that true, file by file."""
    for path in _cassette_files():
        if not _is_cassette(path):
            continue
        name = str(path.relative_to(CASSETTES_DIR))
        try:
            interactions = _interactions(path.read_text(encoding="utf-8"))
        except NotACassetteError:
            continue  # reported by test_every_cassette_is_a_parsable_cassette_with_interactions
        for interaction in interactions:
            headers = (interaction.get("response") or {}).get("headers") or {}
            servers = {str(v) for v in headers.get("server", [])}
            if name in LIVE_RECORDED:
                assert "nugen-emulator" not in servers, name
            else:
                assert servers == {"nugen-emulator"}, (
                    f"{name} was not recorded from NugenEmulator; list it in LIVE_RECORDED "
                    "and in cassettes/README.md"
                )


def test_there_is_something_to_scan() -> None:
    assert any(p.suffix == ".yaml" for p in _cassette_files()), "no cassettes under cassettes/"


def test_every_cassette_is_a_parsable_cassette_with_interactions() -> None:
    broken = {}
    for path in filter(_is_cassette, _cassette_files()):
        try:
            if not _interactions(path.read_text(encoding="utf-8")):
                broken[str(path.relative_to(CASSETTES_DIR))] = "records no interaction"
        except NotACassetteError as error:
            broken[str(path.relative_to(CASSETTES_DIR))] = str(error)
    assert not broken, f"unusable cassettes (re-record them): {broken}"


def offline_cassette_names(modules: list[Path], config: pytest.Config) -> set[str]:
    """``<module path under tests/, no .py>/<cassette name>.yaml`` of every offline test in
    ``modules`` (pytest-recording's naming): from this session's collection where it holds
    the module, else from a ``pytest --collect-only`` of the rest."""
    collected = dict(config.stash.get(COLLECTED_OFFLINE, {}))
    # A module named with "::" (or any module under --lf) was collected in part.
    if config.getoption("lf", False):
        collected.clear()
    for arg in config.args:
        if "::" in arg:
            collected.pop(Path(arg.split("::")[0]).resolve(), None)
    tests = {(m, cls, name) for m in modules if m in collected for cls, name in collected[m]}
    rest = [m for m in modules if m not in collected]
    if rest:
        tests |= _collect_offline(rest)
    return {
        f"{module.relative_to(TESTS_DIR).with_suffix('').as_posix()}/"
        f"{get_default_cassette_name(cls, name)}.yaml"
        for module, cls, name in tests
    }


def _collect_offline(modules: list[Path]) -> set[tuple[Path, type | None, str]]:
    """(module, class or None, test name) of each offline test a fresh pytest collects."""
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            "offline",
            "-p",
            "no:cacheprovider",
            "--allow-hosts=127.0.0.1,localhost,::1",
            *map(str, modules),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "NUGEN_RECORD"},
        check=False,
    )
    # 5: nothing collected, which is an answer too (every cassette there is an orphan).
    assert collected.returncode in (0, 5), collected.stdout + collected.stderr
    tests = set()
    for line in collected.stdout.splitlines():
        parts = line.strip().split("::")
        if len(parts) < 2 or not parts[0].endswith(".py"):
            continue
        test_class = type(parts[-2], (), {}) if len(parts) > 2 else None
        tests.add((ROOT / parts[0], test_class, parts[-1]))
    return tests


def test_no_orphan_cassettes(pytestconfig: pytest.Config) -> None:
    cassettes = {
        path.relative_to(CASSETTES_DIR).as_posix(): path
        for path in filter(_is_cassette, _cassette_files())
    }
    modules = sorted(
        {TESTS_DIR / Path(name).parent.with_suffix(".py") for name in cassettes}
        & set(TESTS_DIR.rglob("test_*.py"))
    )
    orphans = sorted(set(cassettes) - offline_cassette_names(modules, pytestconfig))
    assert not orphans, (
        "cassettes no offline test records (the test was renamed or removed: delete them, "
        f"or re-record with scripts/record-cassettes): {orphans}"
    )


@pytest.mark.parametrize(
    ("planted", "expected"),
    [
        ("    headers:\n      Authorization:\n      - Bearer abc\n", "request header"),
        ("body: 'Authorization: Bearer sk-live-0123456789abcdef'", "bearer"),
        ("body: 'authorization: bearer eyJhbGciOi.J9'", "bearer"),
        ('body: \'{"api_key": "k-123456"}\'', "api"),
        (f"body: '{EMULATOR_DEFAULT_KEY}'", "known key"),
        ("body: 'NUGEN_API_KEY=abcdef123456'", "api"),
        ("interactions:\n- request: {headers: [unclosed\n", "does not parse"),
        ("just: a mapping\n", "not a vcrpy cassette"),
    ],
)
def test_the_scanner_finds_planted_credentials(tmp_path: Path, planted: str, expected: str) -> None:
    if planted.startswith("    headers"):
        planted = "interactions:\n- request:\n" + planted + "    method: POST\n    uri: http://x/\n"
    path = tmp_path / "planted.yaml"
    path.write_text(planted)
    findings = find_credentials(path)
    assert findings
    assert any(expected in finding.lower() for finding in findings), findings


def test_the_scanner_accepts_scrubbed_text(tmp_path: Path) -> None:
    path = tmp_path / "clean.yaml"
    path.write_text(
        "interactions:\n- request:\n"
        '    body: \'{"api_key": "<REDACTED>", "note": "Authorization: Bearer <key>"}\'\n'
        "    headers: {x-session-id: [s-1]}\n    method: POST\n    uri: http://x/\n"
        "  response:\n    body: {string: 'Bearer authentication uses bearer tokens'}\n"
        "    headers: {server: [nugen-emulator]}\n    status: {code: 200, message: OK}\n"
        "version: 1\n"
    )
    assert find_credentials(path) == []


def test_the_collection_is_recorded_before_any_plugin_drops_tests(
    pytestconfig: pytest.Config,
) -> None:
    """Plugins registered after tests/conftest.py (stepwise's ``--sw`` among them) drop tests
    in their own ``pytest_collection_modifyitems``, which pluggy calls before the
    conftest's unless it runs first: the orphan check would then take a module collected
    whole for one collected in part, and report the cassettes of dropped tests."""
    hook = pytestconfig.pluginmanager.hook.pytest_collection_modifyitems
    ours = [i for i in hook.get_hookimpls() if i.function is record_collection]
    assert len(ours) == 1
    assert ours[0].tryfirst


LIVE_KEY = "sk-live-canary-0123456789"


@pytest.fixture
def live_recording(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """vcrpy with the suite's settings for ``NUGEN_RECORD=live`` (``record_mode`` in vcrpy's
    own words: ``rewrite`` is pytest-recording's)."""
    import vcr

    monkeypatch.setenv("NUGEN_RECORD", "live")
    monkeypatch.setenv("NUGEN_API_KEY", LIVE_KEY)
    config = dict(request.getfixturevalue("vcr_config"))
    del config["allow_playback_repeats"], config["match_on"]
    return vcr.VCR(**{**config, "record_mode": "all"})


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param({"x-echo": LIVE_KEY}, b'{"detail": "bad key"}', id="response-header"),
        pytest.param(
            {"www-authenticate": f'Bearer error="invalid {LIVE_KEY}"'}, b"", id="www-authenticate"
        ),
        pytest.param({}, b"\xff bad key " + LIVE_KEY.encode(), id="body-not-utf8"),
        pytest.param(
            {},
            b'{"detail": "echo %s"}'
            % base64.b64encode(f"Authorization: Bearer {LIVE_KEY}".encode()),
            id="body-base64-header",
        ),
    ],
)
def test_a_key_a_live_server_echoes_is_not_recorded(
    tmp_path: Path, live_recording: Any, headers: dict[str, str], body: bytes
) -> None:
    # Recording against the live service: whatever the server echoes of the key (in a
    # header, a body that is not UTF-8, base64 of the request's Authorization header) is
    # scrubbed before the cassette is written, in every form the client redacts from errors.
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers=headers, content=body)

    path = tmp_path / "echo.yaml"
    with live_recording.use_cassette(str(path)):
        client = NugenClient(
            api_key=LIVE_KEY,
            base_url=LIVE_BASE_URL,
            max_retries=0,
            http_client=httpx.Client(transport=httpx.MockTransport(respond)),
        )
        with pytest.raises(AuthenticationError):
            client.chat_completion(model="m", messages=[{"role": "user", "content": "hi"}])
    recorded = yaml.safe_load(path.read_text())["interactions"][0]["response"]
    shown = repr(recorded)
    assert not [form for form in secret_forms(LIVE_KEY) if form in shown], shown
