"""``NugenMultiModal`` end to end: every method and every image-document form.

Replayed from cassettes; the emulator describes what it received (count, mime type and
decoded size of each image), which is how these tests see that images were delivered.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock
from llama_index.core.schema import ImageDocument, ImageNode

from tests.conftest import NugenTarget
from tests.support.llama_index import GIF, PNG, image_file, multi_modal, sent_bodies

PNG_TEXT = f"image/png, {len(PNG)} bytes (inline base64)"
GIF_TEXT = f"image/gif, {len(GIF)} bytes (inline base64)"


def test_complete_with_every_image_document_form(
    nugen_target: NugenTarget, tmp_path: Path, vcr: Any
) -> None:
    png_file = image_file(tmp_path, "pixel.png", PNG)
    documents: list[Any] = [
        ImageDocument(image_path=str(png_file)),
        ImageDocument(image=base64.b64encode(GIF).decode()),
        ImageNode(image_url="https://example.com/photo.jpg"),
        ImageNode(image=base64.b64encode(PNG).decode(), image_mimetype="image/png"),
        ImageBlock(image=GIF),
    ]
    response = multi_modal(nugen_target).complete("Describe the images.", documents)
    assert response.text == (
        'You asked: "Describe the images.". I received 5 images: '
        f"image 1 is {PNG_TEXT}; image 2 is {GIF_TEXT}; "
        "image 3 is a URL image hosted at example.com; "
        f"image 4 is {PNG_TEXT}; image 5 is {GIF_TEXT}."
    )
    assert response.additional_kwargs["total_tokens"] > 0
    (body,) = sent_bodies(nugen_target, vcr)
    assert body["model"] == "nugen-flash-vision"
    assert nugen_target.emulator is None or (
        nugen_target.emulator.requests[0].path.endswith("/chat/vision")
    )


async def test_acomplete(nugen_target: NugenTarget) -> None:
    response = await multi_modal(nugen_target).acomplete("What?", [ImageBlock(image=PNG)])
    assert response.text == f'You asked: "What?". I received 1 image: image 1 is {PNG_TEXT}.'


def test_stream_complete(nugen_target: NugenTarget) -> None:
    (only,) = list(multi_modal(nugen_target).stream_complete("What?", [ImageBlock(image=PNG)]))
    assert (
        only.text
        == only.delta
        == (f'You asked: "What?". I received 1 image: image 1 is {PNG_TEXT}.')
    )


async def test_astream_complete(nugen_target: NugenTarget) -> None:
    stream = await multi_modal(nugen_target).astream_complete("What?", [ImageBlock(image=GIF)])
    responses = [r async for r in stream]
    assert responses[-1].text.endswith(f"image 1 is {GIF_TEXT}.")


def _picture_message() -> list[ChatMessage]:
    return [
        ChatMessage(role="system", content="You describe pictures."),
        ChatMessage(role="user", blocks=[TextBlock(text="And this?"), ImageBlock(image=PNG)]),
    ]


def test_chat(nugen_target: NugenTarget) -> None:
    response = multi_modal(nugen_target).chat(_picture_message())
    assert response.message.content == (
        f'You asked: "And this?". I received 1 image: image 1 is {PNG_TEXT}. '
        'The system prompt says: "You describe pictures.".'
    )


async def test_achat_and_astream_chat(nugen_target: NugenTarget) -> None:
    model = multi_modal(nugen_target)
    whole = await model.achat(_picture_message())
    streamed = [r async for r in await model.astream_chat(_picture_message())]
    assert streamed[-1].message.content == whole.message.content


def test_stream_chat_on_chat_completions(nugen_target: NugenTarget) -> None:
    """With use_vision_endpoint=False the answer streams word by word from /chat/completions."""
    model = multi_modal(nugen_target, model="qwen3-vl-30b", use_vision_endpoint=False)
    responses = list(model.stream_chat(_picture_message()))
    assert len(responses) > 3
    assert "".join(r.delta or "" for r in responses) == responses[-1].message.content
    assert str(responses[-1].message.content).startswith('You asked: "And this?".')
