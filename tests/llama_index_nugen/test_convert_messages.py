"""LlamaIndex messages -> wire messages: one test per conversion rule."""

from __future__ import annotations

import base64
import copy
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    AudioBlock,
    CacheControl,
    CachePoint,
    ChatMessage,
    CitableBlock,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)
from llama_index.core.schema import ImageDocument, ImageNode

from llama_index_nugen._convert import (
    image_block_to_part,
    image_document_to_part,
    prompt_with_images,
    to_wire_message,
    to_wire_messages,
)
from nugen_client import InvalidInputError
from tests.support.llama_index_wire import JPEG, PNG

PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
JPEG_URL = "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()


def user(*blocks: Any, **kwargs: Any) -> ChatMessage:
    return ChatMessage(role="user", blocks=list(blocks), **kwargs)


# ------------------------------------------------------------------------------ roles, text


@pytest.mark.parametrize(
    ("role", "wire"),
    [
        ("system", "system"),
        ("developer", "system"),
        ("user", "user"),
        ("assistant", "assistant"),
        ("chatbot", "assistant"),
        ("model", "assistant"),
    ],
)
def test_roles_map_onto_the_four_the_service_knows(role: str, wire: str) -> None:
    assert to_wire_message(ChatMessage(role=role, content="x")) == {"role": wire, "content": "x"}


@pytest.mark.parametrize("message", [{"role": "user", "content": "hi"}, "hi", None])
def test_a_message_that_is_not_a_chat_message_is_refused_naming_it(message: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"messages\[1\] must be a ChatMessage"):
        to_wire_messages([ChatMessage(role="user", content="hello"), message])


def test_text_only_content_is_a_string_joined_like_message_content() -> None:
    message = user(TextBlock(text="one"), TextBlock(text="two"))
    assert to_wire_message(message) == {"role": "user", "content": "one\ntwo"}
    assert to_wire_message(message)["content"] == message.content


def test_empty_message_is_an_empty_string() -> None:
    assert to_wire_message(ChatMessage(role="user", blocks=[])) == {"role": "user", "content": ""}


def test_name_is_passed_on() -> None:
    message = ChatMessage(role="user", content="hi", additional_kwargs={"name": "alice_1"})
    assert to_wire_message(message) == {"role": "user", "content": "hi", "name": "alice_1"}


def test_other_additional_kwargs_are_not_sent() -> None:
    message = ChatMessage(role="user", content="hi", additional_kwargs={"foo": 1})
    assert to_wire_message(message) == {"role": "user", "content": "hi"}


def test_unknown_role_is_refused() -> None:
    message = ChatMessage.model_construct(role="narrator", blocks=[TextBlock(text="x")])
    with pytest.raises(InvalidInputError, match=r"messages\[0\]: role 'narrator'"):
        to_wire_message(message)


# ---------------------------------------------------------------------------------- images


def test_image_url_block_becomes_an_image_url_part_after_the_text() -> None:
    message = user(TextBlock(text="What is this?"), ImageBlock(url="https://example.com/cat.png"))
    assert to_wire_message(message) == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ],
    }


def test_image_detail_is_kept() -> None:
    part = image_block_to_part(ImageBlock(url="https://example.com/a.png", detail="low"))
    assert part["image_url"] == {"url": "https://example.com/a.png", "detail": "low"}


def test_image_bytes_become_a_data_url_with_the_detected_mime_type() -> None:
    part = image_block_to_part(ImageBlock(image=PNG, detail="high"))
    assert part == {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "high"}}


def test_image_bytes_mime_comes_from_the_bytes_not_the_declared_type() -> None:
    part = image_block_to_part(ImageBlock(image=JPEG, image_mimetype="image/png"))
    assert part["image_url"]["url"] == JPEG_URL


def test_image_bytes_of_unknown_format_use_the_declared_mime_type() -> None:
    odd = b"\x00\x01\x02\x03 not an image format we sniff"
    part = image_block_to_part(ImageBlock(image=odd, image_mimetype="image/x-odd"))
    assert part["image_url"]["url"] == ("data:image/x-odd;base64," + base64.b64encode(odd).decode())


def test_image_bytes_of_unknown_format_without_mime_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a recognised image format"):
        image_block_to_part(ImageBlock(image=b"\x00\x01\x02 not an image"))


def test_image_stream_is_read_and_left_where_it_was() -> None:
    stream = io.BytesIO(PNG)
    stream.seek(3)
    block = ImageBlock(image=stream)
    assert image_block_to_part(block)["image_url"]["url"] == PNG_URL
    assert stream.tell() == 3


class _Unseekable(io.RawIOBase):
    """A stream that can only be read on (a pipe, an HTTP response body)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._data.readinto(buffer)


def test_an_unseekable_image_stream_is_read_from_where_it_is() -> None:
    assert image_block_to_part(ImageBlock(image=_Unseekable(PNG)))["image_url"]["url"] == PNG_URL


def test_a_closed_image_stream_is_refused_as_invalid_input() -> None:
    block = ImageBlock(image=io.BytesIO(PNG))
    assert isinstance(block.image, io.BytesIO)
    block.image.close()
    with pytest.raises(InvalidInputError, match=r"messages\[0\]\.blocks\[0\]: .*image stream"):
        to_wire_message(user(block))


def test_image_path_is_read_and_sniffed(png_path: Path, jpeg_named_png: Path) -> None:
    assert image_block_to_part(ImageBlock(path=png_path))["image_url"]["url"] == PNG_URL
    # LlamaIndex guessed image/png from the suffix; the bytes are a JPEG.
    block = ImageBlock(path=jpeg_named_png)
    assert block.image_mimetype == "image/png"
    assert image_block_to_part(block)["image_url"]["url"] == JPEG_URL


def test_file_url_is_read_like_a_path(png_path: Path) -> None:
    spaced = png_path.with_name("my pixel.png")  # its URL is percent-encoded: my%20pixel.png
    spaced.write_bytes(png_path.read_bytes())
    for path in (png_path, spaced):
        block = ImageBlock(url=path.as_uri())
        assert image_block_to_part(block)["image_url"]["url"] == PNG_URL


def test_data_url_passes_through() -> None:
    assert image_block_to_part(ImageBlock(url=PNG_URL))["image_url"]["url"] == PNG_URL


def test_unreadable_image_path_names_the_path_and_the_block(tmp_path: Path) -> None:
    missing = tmp_path / "gone.png"
    block = ImageBlock.model_construct(path=missing, image=None, url=None, detail=None)
    message = ChatMessage(role="user", content="x")
    message.blocks.append(block)
    with pytest.raises(InvalidInputError, match=r"messages\[0\]\.blocks\[1\]: .*gone\.png"):
        to_wire_messages([message])


def test_a_directory_as_image_path_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"image_documents\[0\]: .*not a regular file"):
        prompt_with_images("x", [ImageNode(image_path=str(tmp_path))])
    with pytest.raises(InvalidInputError, match="not a regular file"):
        image_block_to_part(ImageBlock(url=tmp_path.as_uri()))


def test_plain_http_image_url_is_refused_with_the_url() -> None:
    with pytest.raises(InvalidInputError, match=r"https://.*'http://example.com/a.png'"):
        image_block_to_part(ImageBlock(url="http://example.com/a.png"))


def test_empty_image_block_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="ImageBlock has no image"):
        image_block_to_part(ImageBlock())


def test_images_only_in_user_and_tool_messages() -> None:
    message = ChatMessage(role="assistant", blocks=[ImageBlock(image=PNG)])
    with pytest.raises(InvalidInputError, match="only accepted in user and tool messages"):
        to_wire_message(message)
    result = ChatMessage(
        role="tool",
        blocks=[TextBlock(text="the screenshot"), ImageBlock(image=PNG)],
        additional_kwargs={"tool_call_id": "c1"},
    )
    assert to_wire_message(result) == {
        "role": "tool",
        "content": [
            {"type": "text", "text": "the screenshot"},
            {"type": "image_url", "image_url": {"url": PNG_URL}},
        ],
        "tool_call_id": "c1",
    }


# ------------------------------------------------------------------ image documents (multimodal)


def test_image_documents_in_every_form(png_path: Path) -> None:
    b64 = base64.b64encode(PNG).decode()
    documents: list[Any] = [
        ImageNode(image=b64),
        ImageNode(image_path=str(png_path)),
        ImageNode(image_url="https://example.com/x.jpg"),
        ImageDocument(image=b64),
        ImageDocument(image=PNG),  # raw bytes
        ImageDocument(image_path=str(png_path)),
        ImageBlock(image=PNG),
        SimpleNamespace(image=PNG, image_mimetype=None),  # raw bytes where base64 is expected
        ImageNode(image=PNG_URL),  # a whole data URL as the "base64 text"
        # The type the bytes announce wins over a declared one, an image type or not.
        ImageNode(image=b64, image_mimetype="image/jpeg"),
        ImageNode(image=b64, image_mimetype="application/octet-stream"),
    ]
    urls = [image_document_to_part(doc)["image_url"]["url"] for doc in documents]
    assert urls == [PNG_URL, PNG_URL, "https://example.com/x.jpg", *[PNG_URL] * 8]


def test_prompt_with_images_puts_the_prompt_first() -> None:
    message = prompt_with_images("Describe", [ImageNode(image_url="https://example.com/x.jpg")])
    assert message == {
        "role": "user",
        "content": [
            {"type": "text", "text": "Describe"},
            {"type": "image_url", "image_url": {"url": "https://example.com/x.jpg"}},
        ],
    }


def test_image_document_without_image_is_refused_with_its_position() -> None:
    with pytest.raises(InvalidInputError, match=r"image_documents\[1\]: ImageNode .* has no image"):
        prompt_with_images("x", [ImageNode(image_url="https://e.com/a.png"), ImageNode()])


@pytest.mark.parametrize("item", ["https://example.com/cat.png", Path("cat.png"), b"\x89PNG"])
def test_an_image_document_that_is_no_node_or_block_is_refused_naming_its_type(
    item: object,
) -> None:
    # A URL or path in place of an ImageDocument: said so, not "str '' has no image".
    with pytest.raises(
        InvalidInputError,
        match=rf"image_documents\[0\]: a {type(item).__name__} is not an ImageDocument, "
        "ImageNode or ImageBlock",
    ):
        prompt_with_images("x", [item])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "documents",
    [
        None,
        "cat.png",
        ImageNode(image_path="cat.png"),
        ImageDocument(image=base64.b64encode(PNG).decode()),  # a Document, not an ImageNode
    ],
)
def test_image_documents_that_are_not_a_list_are_refused(documents: Any) -> None:
    with pytest.raises(InvalidInputError, match="image_documents must be a list"):
        prompt_with_images("x", documents)


def test_image_document_with_bad_base64_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not valid base64"):
        image_document_to_part(ImageNode(image="***not base64***"))


# ----------------------------------------------------------------------- unsupported blocks


@pytest.mark.parametrize(
    "block",
    [
        AudioBlock(audio=b"RIFF\x00\x00\x00\x00WAVEfmt ", format="wav"),
        VideoBlock(url="https://example.com/v.mp4"),
        DocumentBlock(data=b"%PDF-1.4 hello", document_mimetype="application/pdf"),
        CitableBlock(title="t", source="s", content="quoted"),
    ],
    ids=["audio", "video", "document", "citable"],
)
def test_unsupported_blocks_are_refused_naming_the_block(block: Any) -> None:
    message = user(TextBlock(text="look"), block)
    with pytest.raises(
        InvalidInputError, match=rf"messages\[1\]\.blocks\[1\]: {type(block).__name__}"
    ):
        to_wire_messages([ChatMessage(role="system", content="s"), message])


def test_a_text_plain_document_is_text_as_langchains_text_plain_block_is(tmp_path: Any) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("from a file ü", encoding="utf-8")
    blocks = [
        DocumentBlock(data="inline ü".encode(), document_mimetype="text/plain"),
        DocumentBlock(path=notes, document_mimetype="text/plain"),
    ]
    assert to_wire_message(user(TextBlock(text="read:"), *blocks)) == {
        "role": "user",
        "content": "read:\ninline ü\nfrom a file ü",
    }
    image = ImageBlock(image=PNG)
    assert to_wire_message(user(blocks[0], image))["content"][0] == {
        "type": "text",
        "text": "inline ü",
    }
    bad = DocumentBlock(data=b"\xff\xfe\x00", document_mimetype="text/plain")
    with pytest.raises(InvalidInputError, match=r"blocks\[0\]: .* must hold UTF-8 text"):
        to_wire_message(user(bad))
    missing = DocumentBlock(path=str(tmp_path / "gone.txt"), document_mimetype="text/plain")
    with pytest.raises(InvalidInputError, match=r"blocks\[0\]: cannot read the DocumentBlock"):
        to_wire_message(user(missing))
    # A URL is not fetched (as LangChain's text-plain block with a url is refused).
    remote = DocumentBlock(url="https://example.com/a.txt", document_mimetype="text/plain")
    with pytest.raises(InvalidInputError, match="DocumentBlock is not supported"):
        to_wire_message(user(remote))


def test_a_document_file_with_no_mimetype_has_its_type_guessed_from_its_name(
    tmp_path: Any,
) -> None:
    # LlamaIndex guesses none for a text file (its guess reads binary signatures).
    notes, data = tmp_path / "notes.txt", tmp_path / "data.csv"
    notes.write_text("from a file", encoding="utf-8")
    data.write_text("a,b", encoding="utf-8")
    assert DocumentBlock(path=notes).document_mimetype is None
    assert to_wire_message(user(DocumentBlock(path=str(notes))))["content"] == "from a file"
    for block in (DocumentBlock(path=data), DocumentBlock(data=b"no name")):
        with pytest.raises(InvalidInputError, match="DocumentBlock is not supported"):
            to_wire_message(user(block))


def test_thinking_block_outside_assistant_turns_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="ThinkingBlock is not supported"):
        to_wire_message(user(ThinkingBlock(content="hmm")))


def test_cache_point_is_skipped() -> None:
    message = user(TextBlock(text="a"), CachePoint(cache_control=CacheControl(type="ephemeral")))
    assert to_wire_message(message) == {"role": "user", "content": "a"}


# ------------------------------------------------------------------- assistant turns, tools


def test_thinking_is_not_sent_back() -> None:
    message = ChatMessage(
        role="assistant", blocks=[ThinkingBlock(content="let me think"), TextBlock(text="42")]
    )
    assert to_wire_message(message) == {"role": "assistant", "content": "42"}


def test_assistant_with_only_thinking_sends_empty_content() -> None:
    message = ChatMessage(role="assistant", blocks=[ThinkingBlock(content="hmm")])
    assert to_wire_message(message) == {"role": "assistant", "content": ""}


def test_tool_call_blocks_become_tool_calls_with_json_arguments() -> None:
    message = ChatMessage(
        role="assistant",
        blocks=[
            ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs={"a": 1, "b": "é"}),
            ToolCallBlock(tool_call_id="c2", tool_name="neg", tool_kwargs='{"x": 2}'),
        ],
    )
    assert to_wire_message(message) == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "add", "arguments": '{"a": 1, "b": "é"}'},
            },
            {"id": "c2", "type": "function", "function": {"name": "neg", "arguments": '{"x": 2}'}},
        ],
    }


def test_text_and_tool_calls_travel_together() -> None:
    message = ChatMessage(
        role="assistant",
        blocks=[TextBlock(text="Let me add."), ToolCallBlock(tool_call_id="c1", tool_name="add")],
    )
    wire = to_wire_message(message)
    assert wire["content"] == "Let me add."
    assert wire["tool_calls"][0]["function"] == {"name": "add", "arguments": "{}"}


def test_tool_call_block_needs_an_id() -> None:
    message = ChatMessage(role="assistant", blocks=[ToolCallBlock(tool_name="add")])
    with pytest.raises(InvalidInputError, match="has no tool_call_id"):
        to_wire_message(message)


def test_tool_call_block_outside_assistant_turns_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="belongs in an assistant message"):
        to_wire_message(user(ToolCallBlock(tool_call_id="c", tool_name="add")))


def test_openai_style_tool_calls_in_additional_kwargs() -> None:
    sdk_object = SimpleNamespace(
        model_dump=lambda: {
            "id": "c2",
            "type": "function",
            "function": {"name": "f", "arguments": {"y": 1}},
        }
    )
    message = ChatMessage(
        role="assistant",
        content="",
        additional_kwargs={
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "g", "arguments": '{"x": 1}'},
                },
                sdk_object,
                # an object without model_dump: read from its attributes
                SimpleNamespace(id="c3", function={"name": "h", "arguments": "{}"}),
            ]
        },
    )
    assert to_wire_message(message) == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "g", "arguments": '{"x": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "f", "arguments": '{"y": 1}'}},
            {"id": "c3", "type": "function", "function": {"name": "h", "arguments": "{}"}},
        ],
    }


@pytest.mark.parametrize(
    ("tool_calls", "error"),
    [
        ({"id": "c1", "function": {"name": "g"}}, r"\['tool_calls'\] must be a list"),
        ("get_weather", r"\['tool_calls'\] must be a list"),
        (["get_weather"], r"\['tool_calls'\]\[0\] is not a tool call .*str"),
        ([{"id": "c1", "function": "g"}], r"\['tool_calls'\]\[0\] is not a tool call"),
    ],
)
def test_malformed_tool_calls_in_additional_kwargs_are_refused_naming_them(
    tool_calls: Any, error: str
) -> None:
    message = ChatMessage(role="assistant", additional_kwargs={"tool_calls": tool_calls})
    with pytest.raises(InvalidInputError, match=r"messages\[0\]\.additional_kwargs" + error):
        to_wire_messages([message])


def test_blocks_win_over_additional_kwargs_tool_calls() -> None:
    """Our own responses carry both: the calls must not be sent twice."""
    message = ChatMessage(
        role="assistant",
        blocks=[ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs={"a": 1})],
        additional_kwargs={
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 1}'},
                }
            ]
        },
    )
    assert len(to_wire_message(message)["tool_calls"]) == 1


def test_tool_result_carries_its_call_id_not_the_tool_name() -> None:
    # LlamaIndex's earlier agents stored the tool's name beside the call id; a tool name may
    # hold a hyphen, which a message name may not. The call id says which call it answers,
    # so the name is left out, as ChatNugen and OpenAI's adapter leave it out.
    message = ChatMessage(
        role=MessageRole.TOOL,
        content="5",
        additional_kwargs={"tool_call_id": "c1", "name": "add-numbers"},
    )
    assert to_wire_message(message) == {"role": "tool", "content": "5", "tool_call_id": "c1"}


def test_tool_result_without_call_id_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"messages\[0\]: a tool message needs"):
        to_wire_message(ChatMessage(role="tool", content="5"))


# ------------------------------------------------------------------------------ no mutation


def test_the_callers_messages_are_not_mutated(png_path: Path) -> None:
    stream = io.BytesIO(PNG)
    history = [
        ChatMessage(role="system", content="be brief"),
        user(TextBlock(text="hi"), ImageBlock(path=png_path), ImageBlock(image=PNG)),
        ChatMessage(
            role="assistant",
            blocks=[ThinkingBlock(content="t"), ToolCallBlock(tool_call_id="c", tool_name="f")],
            additional_kwargs={
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]
            },
        ),
        ChatMessage(role="tool", content="r", additional_kwargs={"tool_call_id": "c"}),
        user(ImageBlock(image=stream)),
    ]
    before = [m.model_dump() for m in history[:-1]]
    snapshot = copy.copy(history)
    to_wire_messages(history)
    assert history == snapshot
    assert [m.model_dump() for m in history[:-1]] == before
    assert stream.tell() == 0
