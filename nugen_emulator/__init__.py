"""NugenEmulator: a real HTTP stand-in for the Nugen API, for your tests (extra ``testing``).

``from nugen_emulator import NugenEmulator, Fault, RecordedRequest``. The emulator
needs starlette and uvicorn: ``pip install "nugen-integrations[testing]"``.

The server modules are imported on first use rather than here, because this package also
hosts the pytest plugin that pytest loads in every project where nugen-integrations is
installed; importing it must not fail (or cost anything) without the extra.
``Fault`` and ``RecordedRequest`` are plain dataclasses and always importable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nugen_emulator._faults import Fault
from nugen_emulator._records import RecordedRequest

if TYPE_CHECKING:
    from nugen_emulator._server import DEFAULT_API_KEY, NugenEmulator

__all__ = [
    "DEFAULT_API_KEY",
    "Fault",
    "NugenEmulator",
    "RecordedRequest",
]

_INSTALL_HINT = (
    "nugen_emulator.NugenEmulator needs starlette and uvicorn, which are not "
    'installed: pip install "nugen-integrations[testing]"'
)


def __getattr__(name: str) -> Any:
    if name in ("NugenEmulator", "DEFAULT_API_KEY"):
        try:
            from nugen_emulator import _server
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in ("starlette", "uvicorn"):
                raise ImportError(_INSTALL_HINT, name=exc.name) from exc
            raise
        return getattr(_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
