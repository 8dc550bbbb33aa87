from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from nugen_client import InvalidInputError
from nugen_client.params import ChatCompletionRequest
from nugen_shared.images import (
    DEFAULT_MAX_IMAGE_BYTES,
    data_url,
    guess_image_mime_type,
    image_part,
    read_image_file,
    url_image_part,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
GIF = b"GIF89a" + b"\x00" * 10
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 8


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (b"\x00\x00\x00\x1cftypavif" + b"\x00" * 8, "image/avif"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 8, "image/heic"),
        (b"\x00\x00\x00\x18ftypisom" + b"\x00" * 8, None),  # an MP4, no image
        (b"hello", None),
    ],
)
def test_mime_sniffing(data: bytes, mime: str | None) -> None:
    assert guess_image_mime_type(data) == mime


def test_data_url_detects_mime() -> None:
    url = data_url(JPEG)
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.partition(",")[2]) == JPEG


def test_data_url_refusals() -> None:
    with pytest.raises(InvalidInputError, match="not a recognised image"):
        data_url(b"plain text")
    with pytest.raises(InvalidInputError, match="no bytes"):
        data_url(b"")
    with pytest.raises(InvalidInputError, match="limit"):
        data_url(PNG, max_bytes=10)
    with pytest.raises(InvalidInputError, match="not an image"):
        data_url(PNG, "application/pdf")


def test_image_part_forms(tmp_path: Path) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    from_path = image_part(path=path, detail="high")
    from_bytes = image_part(data=PNG)
    from_b64 = image_part(base64_data=base64.b64encode(PNG).decode())
    assert from_path["image_url"]["detail"] == "high"
    assert (
        from_path["image_url"]["url"]
        == from_bytes["image_url"]["url"]
        == from_b64["image_url"]["url"]
    )
    assert image_part(url="https://example.com/a.png") == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/a.png"},
    }


def test_unreadable_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(InvalidInputError, match=r"nope\.png"):
        read_image_file(missing)
    with pytest.raises(InvalidInputError, match="cannot read"):
        image_part(path=missing)


def test_bad_urls() -> None:
    with pytest.raises(InvalidInputError, match="https"):
        url_image_part("ftp://example.com/a.png")
    with pytest.raises(InvalidInputError, match="base64"):
        url_image_part("data:image/png;base64,###")
    with pytest.raises(InvalidInputError, match="no source"):
        image_part()
    with pytest.raises(InvalidInputError, match="base64"):
        image_part(base64_data="***")


def test_a_limit_above_the_default_holds_for_every_form(tmp_path: Path) -> None:
    big = PNG + b"\x00" * (DEFAULT_MAX_IMAGE_BYTES + 1)
    path = tmp_path / "big.png"
    path.write_bytes(big)
    limit = DEFAULT_MAX_IMAGE_BYTES * 2
    encoded = base64.b64encode(big).decode()
    for part in (
        image_part(data=big, max_bytes=limit),
        image_part(base64_data=encoded, max_bytes=limit),
        image_part(path=path, max_bytes=limit),
        url_image_part(f"data:image/png;base64,{encoded}", max_bytes=limit),
    ):
        assert part["image_url"]["url"] == f"data:image/png;base64,{encoded}"
    with pytest.raises(InvalidInputError, match="over the"):
        image_part(data=big)


def test_base64_data_with_no_bytes_is_refused() -> None:
    for empty in ("", b"", "data:image/png;base64,"):
        with pytest.raises(InvalidInputError, match="image data has no bytes"):
            image_part(base64_data=empty)


def test_a_data_url_is_decoded_once_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    decode = base64.b64decode
    whole_decodes = []

    def counting(data: str | bytes, *args: Any, **kwargs: Any) -> bytes:
        if len(data) > 64:
            whole_decodes.append(len(data))
        return decode(data, *args, **kwargs)

    encoded = base64.b64encode(PNG * 10).decode()
    monkeypatch.setattr(base64, "b64decode", counting)
    for part in (
        url_image_part(f"data:image/png;base64,{encoded}"),
        image_part(data=PNG * 10),
        image_part(base64_data=encoded),
        image_part(base64_data=encoded.encode(), mime_type="image/png"),
    ):
        ChatCompletionRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": [part]}]}
        )
    assert len(whole_decodes) == 4  # one per request, by the client's check
    # An image over the limit is refused by its size, before anything decodes it.
    whole_decodes.clear()
    with pytest.raises(InvalidInputError, match="over the 100-byte limit"):
        image_part(base64_data=encoded, max_bytes=100)
    assert whole_decodes == []


@pytest.mark.parametrize("declared", ["image/png", "image/jpg"])
def test_a_data_url_is_sent_with_the_type_its_bytes_have(declared: str) -> None:
    """As for local bytes: a label the bytes contradict is replaced, never sent on."""
    payload = base64.b64encode(JPEG).decode()
    part = url_image_part(f"data:{declared};base64,{payload}", "low")
    assert part == {
        "type": "image_url",
        "image_url": {"url": f"data:image/jpeg;base64,{payload}", "detail": "low"},
    }


def test_a_data_url_keeps_its_parameters_and_an_unsniffable_type() -> None:
    jpeg = base64.b64encode(JPEG).decode()
    assert url_image_part(f"data:image/png;name=a.png;base64,{jpeg}")["image_url"]["url"] == (
        f"data:image/jpeg;name=a.png;base64,{jpeg}"
    )
    svg = "data:image/svg+xml;base64," + base64.b64encode(b"<svg/>").decode()
    assert url_image_part(svg)["image_url"]["url"] == svg


def test_a_scheme_or_mime_type_in_capitals_is_sent_in_lower_case() -> None:
    # URL schemes and mime types are case-insensitive: accepted in any case, sent in the
    # form the service documents.
    jpeg = base64.b64encode(JPEG).decode()
    assert url_image_part("HTTPS://example.com/Cat.JPG")["image_url"]["url"] == (
        "https://example.com/Cat.JPG"
    )
    assert url_image_part(f"Data:IMAGE/JPEG;base64,{jpeg}")["image_url"]["url"] == (
        f"data:image/jpeg;base64,{jpeg}"
    )
    assert image_part(base64_data=f"DATA:image/jpeg;base64,{jpeg}")["image_url"]["url"] == (
        f"data:image/jpeg;base64,{jpeg}"
    )
    request = ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "HTTPS://x.io/a"}}],
                }
            ],
        }
    )
    assert request.model_dump()["messages"][0]["content"][0]["image_url"]["url"] == (
        "https://x.io/a"
    )


def test_line_wrapped_base64_is_accepted_and_sent_unwrapped() -> None:
    # base64.encodebytes (MIME's 76-column lines), 4-character "\r\n" lines with leading
    # blanks, and a trailing newline: the stdlib's lenient decoder skips their whitespace.
    image = PNG * 40
    flat = base64.b64encode(image).decode()
    short_lines = "\r\n".join(flat[i : i + 4] for i in range(0, len(flat), 4))
    for wrapped in (base64.encodebytes(image).decode(), f"  \t{short_lines}\n", flat + "\n"):
        for part in (
            image_part(base64_data=wrapped),
            image_part(base64_data=wrapped.encode(), mime_type="image/png"),
            url_image_part(f"data:image/png;base64,{wrapped}"),
        ):
            request = ChatCompletionRequest.model_validate(
                {"model": "m", "messages": [{"role": "user", "content": [part]}]}
            )
            sent = request.messages[0].content[0].image_url.url  # type: ignore[union-attr,index]
            assert sent == f"data:image/png;base64,{flat}"
    # The limit counts the bytes, not the line breaks.
    assert image_part(base64_data=base64.encodebytes(image), max_bytes=len(image))
    with pytest.raises(InvalidInputError, match="over the"):
        image_part(base64_data=base64.encodebytes(image), max_bytes=len(image) - 1)


@pytest.mark.parametrize("junk", ["*", "\u00a0", "\x1c", "=="])
def test_base64_with_anything_but_whitespace_inside_is_still_refused(junk: str) -> None:
    wrapped = base64.encodebytes(PNG * 40).decode()
    broken = wrapped[:100] + junk + wrapped[100:]
    for make in (
        lambda: image_part(base64_data=broken),
        lambda: url_image_part(f"data:image/png;base64,{broken}"),
    ):
        with pytest.raises(ValueError, match="not valid base64"):
            ChatCompletionRequest.model_validate(
                {"model": "m", "messages": [{"role": "user", "content": [make()]}]}
            )
