"""Image paths read regular files only, with the size limit checked
while reading; devices and FIFOs are refused without blocking."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock

from llama_index_nugen import Nugen
from nugen_client import InvalidInputError
from nugen_emulator import NugenEmulator
from nugen_shared.images import image_part, read_image_file

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de")


def _within(seconds: float, target: object) -> BaseException | None:
    """Run ``target`` in a thread; fail the test if it blocks longer than ``seconds``."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            target()  # type: ignore[operator]
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, "reading the image path blocked"
    return outcome[0]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused() -> None:
    error = _within(5, lambda: read_image_file("/dev/zero"))
    assert isinstance(error, InvalidInputError)
    assert "not a regular file" in str(error)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    error = _within(5, lambda: image_part(path=fifo))
    assert isinstance(error, InvalidInputError)
    assert "not a regular file" in str(error)


def test_a_regular_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"\0" * 2000)
    with pytest.raises(InvalidInputError, match="limit"):
        read_image_file(big, max_bytes=1000)
    assert read_image_file(big, max_bytes=10_000).startswith(PNG)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_file_url_image_block_naming_a_fifo_is_refused_by_nugen(
    tmp_path: Path, nugen_emulator: NugenEmulator
) -> None:
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    llm = Nugen(api_key=nugen_emulator.api_key, base_url=nugen_emulator.base_url, max_retries=0)
    message = ChatMessage(
        role="user", blocks=[TextBlock(text="what is this?"), ImageBlock(url=f"file://{fifo}")]
    )
    error = _within(5, lambda: llm.chat([message]))
    assert isinstance(error, InvalidInputError)
    assert not nugen_emulator.requests


@pytest.mark.parametrize("name", ["photo.png", "avatar.svg", "picture.jpg"])
def test_a_path_is_judged_by_its_bytes_not_its_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"HOME=/root\0NUGEN_API_KEY=nk-123\0")
    for mime_type in (None, "image/svg+xml"):
        with pytest.raises(InvalidInputError, match="not a recognised image") as raised:
            image_part(path=path, mime_type=mime_type)
        assert "nk-123" not in str(raised.value)
    # Image bytes under any name are sent as what they are.
    named_wrong = tmp_path / "notes.txt"
    named_wrong.write_bytes(PNG)
    assert image_part(path=named_wrong)["image_url"]["url"].startswith("data:image/png;base64,")


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="needs /proc")
def test_a_link_to_the_process_environment_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "avatar.svg"
    link.symlink_to("/proc/self/environ")
    with pytest.raises(InvalidInputError, match="not a recognised image"):
        image_part(path=link)


def test_a_path_holding_a_nul_is_refused_as_invalid_input() -> None:
    # os.open raises a bare ValueError for it, not an OSError.
    with pytest.raises(InvalidInputError, match="cannot read image file"):
        image_part(path="cat\x00.png")
