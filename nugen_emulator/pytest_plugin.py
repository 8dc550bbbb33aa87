"""pytest fixtures for testing your own code against a NugenEmulator.

Installed with nugen-integrations (entry point ``pytest11``); loading it costs nothing,
the fixtures need the ``testing`` extra. ``nugen_emulator`` is a running
:class:`~nugen_emulator.NugenEmulator` in the ``nugen`` dialect, ``nugen_emulator_openai``
the same in the ``openai`` dialect: one server per dialect for the whole session, its
armed faults and request log cleared before each test. For another configuration (a
``chat_reply`` hook, a seed, another key), create a ``NugenEmulator`` in a ``with`` block.
With pytest-socket, allow loopback (``--allow-hosts=127.0.0.1,localhost,::1``).
"""

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
