"""Images in any local form (a path, raw bytes, base64 text) or as a URL, out as the
``image_url`` parts the service takes: local bytes become ``data:`` URLs with the mime type
the bytes announce, refused with an :class:`~nugen_client.InvalidInputError` when they are
no image, too large, or unreadable."""

from __future__ import annotations

import base64
import binascii
import os
import stat
from typing import Any, Literal

from nugen_client import InvalidInputError
from nugen_client.params import check_image_url, unwrapped_base64

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


# Types whose bytes guess_image_mime_type recognises: a label claiming one of them on bytes
# that are not that format (a PDF called image/png) is wrong, not merely unverifiable.
_SNIFFABLE = frozenset(
    {mime for _, mime in _SIGNATURES} | {"image/webp", "image/avif", "image/heic", "image/jpg"}
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
    _refuse_over(len(data), max_bytes, "image")
    mime = _image_mime_type(data, mime_type, "image bytes")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _image_mime_type(data: bytes, declared: str | None, source: str) -> str:
    """The mime type to send image bytes with: what the bytes are, when we can tell.

    A declared type that is not ``image/*`` is refused; one the bytes contradict is
    replaced when the bytes are another image format, and refused when they are no image
    at all (a PDF labelled ``image/png``). Only types we cannot recognise (``image/svg+xml``)
    are taken on trust.
    """
    if declared is not None and not declared.lower().startswith("image/"):
        raise InvalidInputError(f"mime type {declared!r} is not an image type")
    detected = guess_image_mime_type(data)
    if detected is not None:
        return detected
    if declared is None:
        raise InvalidInputError(
            "image bytes are not a recognised image format (png, jpeg, gif, webp, bmp, tiff, "
            "avif, heic); pass mime_type if it is one"
        )
    if declared.lower() in _SNIFFABLE:
        raise InvalidInputError(
            f"{source} declared as {declared!r} are not a {declared.split('/', 1)[1]} "
            f"image (they start with {data[:8]!r})"
        )
    return declared


def _refuse_over(size: int, max_bytes: int, what: str) -> None:
    if size > max_bytes:
        raise InvalidInputError(
            f"{what} is {size:,} bytes, over the {max_bytes:,}-byte limit "
            "(raise max_image_bytes if the service accepts it)"
        )


def read_image_file(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> bytes:
    """Read an image file, with errors that name the path and what went wrong.

    Regular files only: a device (``/dev/zero``) would read without end and a FIFO would
    block forever. The size limit is checked while reading, since a file may grow (or
    lie about its size) between the check and the read.
    """
    name = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise block before the check.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise InvalidInputError(f"cannot read image file {name!r}: {exc.strerror}") from None
    except ValueError as exc:  # a NUL in the path
        raise InvalidInputError(f"cannot read image file {name!r}: {exc}") from None
    try:
        # Before open(): it refuses a directory with an IsADirectoryError of its own.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidInputError(f"image path {name!r} is not a regular file")
        _refuse_over(info.st_size, max_bytes, f"image file {name!r}")
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb", closefd=True) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise InvalidInputError(f"cannot read image file {name!r}: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise InvalidInputError(f"image file {name!r} is over the {max_bytes:,}-byte limit")
    return data


def url_image_part(
    url: str, detail: Detail | None = None, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> dict[str, Any]:
    """An ``image_url`` content part for a URL (https or data), checked locally.

    A data URL is held to the same rules as local bytes: at most ``max_bytes``, and sent
    with the mime type its bytes have (a label they contradict is replaced). Its payload is
    decoded once, by the client when it checks the request; here only its first bytes are
    read.
    """
    try:
        url = check_image_url(url, decode=False)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        declared, _, parameters = header[len("data:") :].partition(";")
        return _encoded_part(payload, declared, parameters, detail, max_bytes, "data URL image")
    return _part(url, detail)


def _encoded_part(
    payload: str,
    declared: str | None,
    parameters: str,
    detail: Detail | None,
    max_bytes: int,
    what: str,
) -> dict[str, Any]:
    """The part of a base64 payload, never decoded here: its size is worked out from its
    length, and only its first bytes are read, to tell the format. The client decodes the
    whole payload once, when it checks the request."""
    if not payload:
        raise InvalidInputError(f"{what} has no bytes")
    try:
        head = base64.b64decode(payload[:64], validate=True)  # enough to tell the format
    except (binascii.Error, ValueError):
        head = None
    if head is None or _base64_size(payload) > max_bytes:
        # Line-wrapped base64 (the client sends it unwrapped): its line breaks hold no bytes.
        payload = unwrapped_base64(payload)
        try:
            head = base64.b64decode(payload[:64], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(f"{what} is not valid base64") from None
    _refuse_over(_base64_size(payload), max_bytes, what)
    mime = _image_mime_type(head, declared, f"{what} bytes")
    return _part(f"data:{mime};{parameters},{payload}", detail)


def _base64_size(payload: str) -> int:
    return len(payload) * 3 // 4 - payload[-2:].count("=")  # exact for unwrapped base64


def _part(url: str, detail: Detail | None) -> dict[str, Any]:
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
        if isinstance(base64_data, bytes):
            base64_data = base64_data.decode("ascii", "replace")
        if base64_data[:5].lower() == "data:":
            base64_data = base64_data.partition(",")[2]
        return _encoded_part(base64_data, mime_type, "base64", detail, max_bytes, "image data")
    if data is None and path is not None:
        data = read_image_file(path, max_bytes=max_bytes)
        # Decided by the bytes, never by the name: a link called avatar.svg may lead to
        # any file (/proc/self/environ), and its content must not be uploaded.
        mime_type = guess_image_mime_type(data)
        if mime_type is None:
            raise InvalidInputError(
                f"image file {os.fspath(path)!r} is not a recognised image format (png, jpeg, "
                "gif, webp, bmp, tiff, avif, heic), whatever its name"
            )
    if data is not None:
        # Just encoded from checked bytes (size, type): nothing to check again.
        return _part(data_url(data, mime_type, max_bytes=max_bytes), detail)
    if url is not None:
        return url_image_part(url, detail, max_bytes=max_bytes)
    raise InvalidInputError("image has no source: give a url, bytes, base64 data or a path")
