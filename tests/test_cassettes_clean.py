"""No credential may ever be committed in ``cassettes/``; and each says what it recorded.

Scans every file under ``cassettes/`` (whatever its name or format): recorded requests must
not carry credential headers, and no text may contain a bearer token, an ``sk-``-style
key, a known key value (the emulator's default key, ``NUGEN_API_KEY``) or a JSON field
named like a key with a real value. The scanner is tested on planted secrets too, so a
silently broken scanner cannot pass an unclean tree.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CASSETTES_DIR, EMULATOR_DEFAULT_KEY, REDACTED, SECRET_HEADERS

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


def _interactions(text: str) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    if not isinstance(data, dict):
        return []
    found = data.get("interactions")
    return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []


def find_credentials(path: Path) -> list[str]:
    """Every credential-looking thing in one file, as human-readable findings."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    findings: list[str] = []
    for interaction in _interactions(text):
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
        if path.suffix not in (".yaml", ".yml"):
            continue
        name = str(path.relative_to(CASSETTES_DIR))
        for interaction in _interactions(path.read_text(encoding="utf-8")):
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


@pytest.mark.parametrize(
    ("planted", "expected"),
    [
        ("    headers:\n      Authorization:\n      - Bearer abc\n", "request header"),
        ("body: 'Authorization: Bearer sk-live-0123456789abcdef'", "bearer"),
        ("body: 'authorization: bearer eyJhbGciOi.J9'", "bearer"),
        ('body: \'{"api_key": "k-123456"}\'', "api"),
        (f"body: '{EMULATOR_DEFAULT_KEY}'", "known key"),
        ("body: 'NUGEN_API_KEY=abcdef123456'", "api"),
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
        'body: \'{"api_key": "<REDACTED>", "note": "Authorization: Bearer <key>"}\'\n'
        "text: 'Bearer authentication uses bearer tokens'\n"
    )
    assert find_credentials(path) == []
