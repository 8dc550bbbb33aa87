"""Importing the package or an adapter does not import httpx or tenacity: the first client
built brings httpx, the first retry tenacity."""

from __future__ import annotations

import subprocess
import sys

import pytest

import nugen_client

_CHECK = """
import sys
import nugen_client, langchain_nugen, llama_index_nugen
loaded = [name for name in ("httpx", "tenacity") if name in sys.modules]
assert not loaded, loaded
"""


def _run(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_importing_leaves_httpx_and_tenacity_out() -> None:
    # All three in one interpreter: what none of them imports together, none imports alone.
    _run(_CHECK)


def test_the_errors_work_before_any_client_is_built() -> None:
    code = (
        "import sys, nugen_client\n"
        "try:\n"
        "    raise nugen_client.RateLimitError('slow down', status_code=429)\n"
        "except nugen_client.NugenError as exc:\n"
        "    assert exc.headers.get('retry-after') is None\n"
        "assert {'NugenClient', 'AsyncNugenClient'} <= set(dir(nugen_client))\n"
        "assert nugen_client.NugenClient.__name__ == 'NugenClient'\n"
        "assert 'httpx' in sys.modules and 'tenacity' not in sys.modules\n"
    )
    _run(code)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NugenClients'"):
        nugen_client.NugenClients  # noqa: B018
