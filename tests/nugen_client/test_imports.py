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


def test_importing_builds_no_wire_model() -> None:
    # Request and answer schemas are built when a model is first used, not all at import
    # (the sampling-field declarations are the adapters' classes' bases, built with them).
    code = (
        "import pydantic, langchain_nugen, llama_index_nugen, nugen_client.types as t; "
        "print(sorted(n for n in t.__all__ if not n.endswith('Fields') "
        "and getattr(getattr(t, n), '__pydantic_complete__', False)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_importing_warns_nothing() -> None:
    # Warnings turned into errors (python -W error, pytest's filterwarnings) would make any
    # warning at import, such as pydantic's about a field named model_*, fail the import.
    code = (
        "import nugen_client, nugen_client.params, nugen_client.types, nugen_shared.fields, "
        "nugen_emulator, langchain_nugen, llama_index_nugen; "
        "langchain_nugen.ChatNugen, langchain_nugen.NugenRerank, llama_index_nugen.Nugen"
    )
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
