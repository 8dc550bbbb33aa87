from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from llama_index_nugen import Nugen
from tests.support.llama_index_wire import API_KEY, BASE_URL, JPEG, PNG


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the configuration they set."""
    monkeypatch.delenv("NUGEN_API_KEY", raising=False)
    monkeypatch.delenv("NUGEN_BASE_URL", raising=False)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """The service, mocked at the httpx transport: every request must match a route."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
def llm() -> Nugen:
    return Nugen(api_key=API_KEY, base_url=BASE_URL, max_retries=0)


@pytest.fixture
def png_path(tmp_path: Path) -> Path:
    path = tmp_path / "pixel.png"
    path.write_bytes(PNG)
    return path


@pytest.fixture
def jpeg_named_png(tmp_path: Path) -> Path:
    """JPEG bytes behind a .png suffix: the bytes, not the name, decide the mime type."""
    path = tmp_path / "photo.png"
    path.write_bytes(JPEG)
    return path
