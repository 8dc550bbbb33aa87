"""pytest fixtures for testing your own code against a NugenEmulator.

Installed automatically with nugen-integrations (entry point ``pytest11``); the fixtures
need the ``testing`` extra (``pip install "nugen-integrations[testing]"``), but merely
having the plugin loaded costs nothing and imports neither starlette nor uvicorn.

Fixtures:

``nugen_emulator``
    A running :class:`~nugen_emulator.NugenEmulator` in the ``nugen`` dialect
    (base URL ``http://127.0.0.1:<port>/api/v3/inference``, key ``test-key``).
``nugen_emulator_openai``
    The same in the ``openai`` dialect (base URL ``http://127.0.0.1:<port>/v1``), the
    shape of OpenAI-compatible hosts such as NebulaBlock.

One server per dialect is started for the whole session (on first use) and stopped at
the end; before each test its armed faults and request log are cleared, so tests stay
independent and cheap. Tests that need a different configuration (a ``chat_reply``
hook, a seed, another key) should create their own ``NugenEmulator`` in a ``with`` block.
What the emulator answers is specified in the :mod:`nugen_emulator` package docstring.

Example, in your own test suite::

    from langchain_nugen import ChatNugen


    def test_my_chain_retries_rate_limits(nugen_emulator):
        nugen_emulator.inject(status=429, headers={"Retry-After": "0"})
        model = ChatNugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
        reply = model.invoke("What is the capital of France?")
        assert "capital of France" in reply.content  # the emulator quotes the question
        assert len(nugen_emulator.requests) == 2  # one 429, one retry
        assert nugen_emulator.last_request.body["messages"][0]["role"] == "user"

With pytest-socket, allow loopback (``--allow-hosts=127.0.0.1,localhost,::1``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from nugen_emulator import NugenEmulator


def _serve(dialect: str) -> Iterator[NugenEmulator]:
    """One emulator for the whole session, stopped when the session ends."""
    # Imported here, not at module level: pytest loads this plugin in every project where
    # the package is installed, with or without the ``testing`` extra.
    from nugen_emulator import NugenEmulator

    emulator = NugenEmulator(dialect="openai" if dialect == "openai" else "nugen").start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def _nugen_emulator_session() -> Iterator[NugenEmulator]:
    yield from _serve("nugen")


@pytest.fixture(scope="session")
def _nugen_emulator_openai_session() -> Iterator[NugenEmulator]:
    yield from _serve("openai")


@pytest.fixture
def nugen_emulator(_nugen_emulator_session: NugenEmulator) -> NugenEmulator:
    """A running NugenEmulator (nugen dialect), with no armed faults and an empty log."""
    _nugen_emulator_session.reset()
    return _nugen_emulator_session


@pytest.fixture
def nugen_emulator_openai(_nugen_emulator_openai_session: NugenEmulator) -> NugenEmulator:
    """A running NugenEmulator (openai dialect), with no armed faults and an empty log."""
    _nugen_emulator_openai_session.reset()
    return _nugen_emulator_openai_session
