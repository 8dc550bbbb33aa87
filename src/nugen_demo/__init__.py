"""``nugen-demo``: the package doing its real work in one command.

With no ``NUGEN_API_KEY`` it starts the embedded :class:`~nugen_client.testing.NugenEmulator`
and says so on its first line; with a key it talks to the live service.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``nugen-demo``)."""
    from nugen_demo._app import run

    return run(sys.argv[1:] if argv is None else argv)


__all__ = ["main"]
