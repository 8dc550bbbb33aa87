"""NugenEmulator: a real HTTP stand-in for the Nugen inference API, for your tests
(specified in docs/emulator.md).

``NugenEmulator`` needs the ``testing`` extra (starlette, uvicorn); the rest of the package
imports without it, cheaply: it holds the pytest plugin pytest loads wherever
nugen-integrations is installed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nugen_emulator._records import Fault, RecordedRequest

if TYPE_CHECKING:
    from nugen_emulator._server import NugenEmulator

__all__ = ["DEFAULT_API_KEY", "Fault", "NugenEmulator", "RecordedRequest"]

DEFAULT_API_KEY = "test-key"
_BASE_PATHS: dict[str, str] = {"nugen": "/api/v3/inference", "openai": "/v1"}
_INSTALL_HINT = (
    "nugen_emulator.NugenEmulator needs starlette and uvicorn ({missing} is not "
    'installed): pip install "nugen-integrations[testing]"'
)


# Hidden from type checkers: a module __getattr__ would make them accept any name.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        # Imported on first use: the pytest plugin (imported with the package) stays cheap.
        if name == "NugenEmulator":
            try:
                from nugen_emulator._server import NugenEmulator
            except ModuleNotFoundError as exc:
                missing = (exc.name or "").split(".")[0]
                if missing in ("starlette", "uvicorn"):
                    raise ImportError(_INSTALL_HINT.format(missing=missing), name=exc.name) from exc
                raise
            return NugenEmulator
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
