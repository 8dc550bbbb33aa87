"""``import nugen_client`` stays framework-free and light."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_nugen_client_imports_no_framework() -> None:
    loaded = _modules_after(
        "import nugen_client, nugen_shared.images, nugen_shared.models, nugen_client.types"
    )
    for forbidden in (
        "langchain_core",
        "langchain",
        "llama_index",
        "starlette",
        "uvicorn",
        "openai",
    ):
        assert not any(m == forbidden or m.startswith(forbidden + ".") for m in loaded), forbidden


def test_public_names() -> None:
    from nugen_client import (  # noqa: F401
        AsyncNugenClient,
        NugenClient,
        NugenError,
        RateLimitError,
        StreamInterruptedError,
    )
