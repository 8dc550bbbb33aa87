"""pytest fixtures ``nugen_emulator`` and ``nugen_emulator_openai`` (docs/emulator.md).
Loaded wherever nugen-integrations is installed (entry point ``pytest11``), so importing it
costs nothing; the fixtures need the ``testing`` extra."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

import pytest

if TYPE_CHECKING:
    from nugen_emulator import NugenEmulator


def _serve(dialect: Literal["nugen", "openai"]) -> Iterator[NugenEmulator]:
    # Imported here: pytest loads this plugin wherever the package is installed.
    from nugen_emulator import NugenEmulator

    with NugenEmulator(dialect=dialect) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def _nugen_emulator_session() -> Iterator[NugenEmulator]:
    yield from _serve("nugen")


@pytest.fixture(scope="session")
def _nugen_emulator_openai_session() -> Iterator[NugenEmulator]:
    yield from _serve("openai")


def _fresh(emulator: NugenEmulator) -> NugenEmulator:
    if not emulator.running:  # an earlier test stopped it (an outage test)
        try:
            emulator.start()  # on its port
        except OSError:  # taken meanwhile: any free one (a test reads base_url afresh)
            emulator._port = None
            emulator.start()
    emulator.reset()
    emulator.chat_reply = None
    return emulator


@pytest.fixture
def nugen_emulator(_nugen_emulator_session: NugenEmulator) -> NugenEmulator:
    """A running NugenEmulator (nugen dialect), with no armed faults, an empty log and no
    ``chat_reply`` hook (set one for the test: ``nugen_emulator.chat_reply = script``)."""
    return _fresh(_nugen_emulator_session)


@pytest.fixture
def nugen_emulator_openai(_nugen_emulator_openai_session: NugenEmulator) -> NugenEmulator:
    """A running NugenEmulator (openai dialect), with no armed faults, an empty log and no
    ``chat_reply`` hook."""
    return _fresh(_nugen_emulator_openai_session)
