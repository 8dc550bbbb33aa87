"""Images in, ``image_url`` parts out: written once for both framework adapters.

The service takes an image as an https URL or as ``data:<mime>;base64,<bytes>``. Local
bytes (a path, raw bytes, base64 text) become data URLs here, with the mime type read from
the bytes themselves when the caller did not give one, and refused with a clear
:class:`~nugen_client.InvalidInputError` when they are not an image, are too large, or
cannot be read.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any, Literal

from nugen_client._errors import InvalidInputError
from nugen_client.types import check_image_url

__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "data_url",
    "guess_image_mime_type",
    "image_part",
    "read_image_file",
    "url_image_part",
]

DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""Largest image accepted locally (20 MiB): larger ones are refused before any upload."""

Detail = Literal["auto", "low", "high"]

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def guess_image_mime_type(data: bytes) -> str | None:
    """The image mime type the bytes announce, or None if they are no image we know."""
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
    return None


def data_url(
    data: bytes, mime_type: str | None = None, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> str:
    """``data:<mime>;base64,...`` for image bytes; the mime type is detected if not given."""
    if not data:
        raise InvalidInputError("image has no bytes")
    if len(data) > max_bytes:
        raise InvalidInputError(
            f"image is {len(data):,} bytes, over the {max_bytes:,}-byte limit "
            "(raise max_image_bytes if the service accepts it)"
        )
    detected = guess_image_mime_type(data)
    mime = mime_type or detected
    if mime is None:
        raise InvalidInputError(
            "image bytes are not a recognised image format (png, jpeg, gif, webp, bmp, tiff, "
            "avif, heic); pass mime_type if it is one"
        )
    if not mime.startswith("image/"):
        raise InvalidInputError(f"mime type {mime!r} is not an image type")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def decode_base64_image(text: str | bytes) -> bytes:
    """Bytes of base64 image text (a bare payload or a whole data URL)."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("image data is not valid base64") from None


def read_image_file(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> bytes:
    """Read an image file, with errors that name the path and what went wrong."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read image file {os.fspath(path)!r}: {exc.strerror}"
        ) from None
    if size > max_bytes:
        raise InvalidInputError(
            f"image file {os.fspath(path)!r} is {size:,} bytes, over the {max_bytes:,}-byte limit"
        )
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read image file {os.fspath(path)!r}: {exc.strerror}"
        ) from None


def url_image_part(url: str, detail: Detail | None = None) -> dict[str, Any]:
    """An ``image_url`` content part for a URL (https or data), checked locally."""
    try:
        check_image_url(url)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    image_url: dict[str, Any] = {"url": url}
    if detail is not None:
        image_url["detail"] = detail
    return {"type": "image_url", "image_url": image_url}


def image_part(
    *,
    url: str | None = None,
    data: bytes | None = None,
    base64_data: str | bytes | None = None,
    path: str | os.PathLike[str] | None = None,
    mime_type: str | None = None,
    detail: Detail | None = None,
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
) -> dict[str, Any]:
    """An ``image_url`` content part from whichever form the caller holds.

    Exactly one source is used, in this order: raw ``data``, ``base64_data``, ``path``,
    ``url``. Local sources become data URLs with a detected (or given) mime type.
    """
    if data is None and base64_data is not None:
        data = decode_base64_image(base64_data)
    if data is None and path is not None:
        data = read_image_file(path, max_bytes=max_bytes)
        if mime_type is None and guess_image_mime_type(data) is None:
            import mimetypes

            mime_type = mimetypes.guess_type(os.fspath(path))[0]
    if data is not None:
        return url_image_part(data_url(data, mime_type, max_bytes=max_bytes), detail)
    if url is not None:
        return url_image_part(url, detail)
    raise InvalidInputError("image has no source: give a url, bytes, base64 data or a path")
