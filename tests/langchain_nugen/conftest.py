"""Cassette settings for the LangChain integration tests.

Every test here that takes ``nugen_target`` (directly or through an autouse fixture, as the
standard-suite classes do) is marked ``vcr`` + ``offline`` by ``tests/conftest.py`` and
replays its cassette with sockets blocked. This hook adds what the standard suites need on
top of that.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE not in Path(str(item.path)).resolve().parents:
            continue
        if item.name == "test_stream_time":
            # langchain-tests' benchmark replays the recorded stream once per round.
            item.add_marker(pytest.mark.vcr(allow_playback_repeats=True))
