"""Message conversion in both frameworks, property-based, and bad input through the adapters.

Valid conversations (any mix of the message kinds each framework has, with names, tool
calls and their results, text and images in every form the framework offers) convert
without error into exactly what the service can carry, pass the client's request
validation and the service's documented schema (the emulator's validator), and leave the
caller's objects untouched.

Invalid ones (a bad ``name``, audio/PDF/video/document blocks, bad or non-https image
URLs, invalid data URLs, images over the size cap, wrong mime types, unreadable paths,
tool schemas and arguments that cannot be sent) raise a ``ValueError`` naming the
offending message or field, through the real adapter, before anything reaches the
emulator, again without touching the caller's objects.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import copy
import itertools
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call
from llama_index.core.base.llms.types import (
    AudioBlock,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)
from llama_index.core.base.llms.types import ChatMessage as LIMessage
from llama_index.core.tools import FunctionTool

from langchain_nugen import ChatNugen
from langchain_nugen._convert import to_wire_messages as lc_to_wire
from llama_index_nugen import Nugen
from llama_index_nugen._convert import to_wire_messages as li_to_wire
from nugen_client import InvalidInputError, NugenClient
from nugen_emulator import NugenEmulator
from nugen_emulator._validation import validate_chat

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Valid conversations also go over the wire, end to end: fewer examples.
END_TO_END = settings(PROPERTY, max_examples=25)

NAME_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
NAMES = st.from_regex(r"\A[A-Za-z0-9_]{1,64}\Z")
BAD_NAMES = st.text(min_size=1, max_size=80).filter(lambda n: not NAME_RE.fullmatch(n))
CALL_IDS = st.from_regex(r"\Acall_[A-Za-z0-9]{1,24}\Z")
TOOL_NAMES = st.from_regex(r"\A[A-Za-z][A-Za-z0-9_-]{0,40}\Z")
TEXT = st.text(max_size=30)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)
ARGS = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=4)
HTTPS_URLS = st.builds(
    "https://{}/{}".format,
    st.from_regex(r"\A[a-z][a-z0-9-]{0,15}\.(com|org|in)\Z"),
    st.from_regex(r"\A[A-Za-z0-9_.-]{1,12}(/[A-Za-z0-9_.-]{1,12}){0,2}\Z"),
)
# Image formats the client recognises from their first bytes; a zero byte after the
# signature keeps raw bytes from ever looking like base64 text to LlamaIndex.
SIGNATURES = [
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff\xe0"),
    ("image/gif", b"GIF89a"),
    ("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 "),
]
IMAGES = st.sampled_from(SIGNATURES).flatmap(
    lambda sig: st.binary(max_size=48).map(lambda tail: (sig[0], sig[1] + b"\x00" + tail))
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{b64(data)}"


def wire_image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def check_sendable(wire: list[dict[str, Any]]) -> None:
    """What the client would send, as the client and the service's schema see it."""
    client = NugenClient(api_key="k" * 12, base_url="https://api.example.test/v1")
    prepared = client._prepare_chat({"model": "m", "messages": wire}, stream=False)
    assert json.loads(prepared.content)["messages"] == wire
    validate_chat({"model": "m", "messages": wire})  # the emulator's 422 rules


# =============================================================== LangChain: valid input


@st.composite
def lc_image(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """An image block in one of LangChain's forms, and the URL the service must get."""
    if draw(st.booleans()):
        url = draw(HTTPS_URLS)
        block = draw(
            st.sampled_from(
                [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "image_url", "image_url": url},
                    {"type": "image", "url": url},
                    {"type": "image", "source_type": "url", "url": url},
                ]
            )
        )
        return block, url
    mime, data = draw(IMAGES)
    encoded = b64(data)
    block = draw(
        st.sampled_from(
            [
                {"type": "image", "base64": encoded, "mime_type": mime},
                {"type": "image", "source_type": "base64", "data": encoded, "mime_type": mime},
                {"type": "image_url", "image_url": {"url": data_url(mime, data)}},
            ]
        )
    )
    return block, data_url(mime, data)


@st.composite
def lc_human(draw: st.DrawFn) -> tuple[BaseMessage, dict[str, Any]]:
    name = draw(st.none() | NAMES)
    if draw(st.booleans()):
        content: Any = draw(TEXT)
        wire_content: Any = content
    else:
        content, wire_content = [], []
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(["str", "text", "image"]))
            if kind == "image":
                block, url = draw(lc_image())
                content.append(block)
                wire_content.append(wire_image(url))
            else:
                text = draw(TEXT)
                content.append(text if kind == "str" else {"type": "text", "text": text})
                wire_content.append({"type": "text", "text": text})
    wire = {"role": "user", "content": wire_content}
    if name:
        wire["name"] = name
    return HumanMessage(content=content, name=name), wire


@st.composite
def lc_system(draw: st.DrawFn) -> tuple[BaseMessage, dict[str, Any]]:
    name = draw(st.none() | NAMES)
    texts = draw(st.lists(TEXT, max_size=3))
    content: Any = draw(
        st.sampled_from(["".join(texts), [{"type": "text", "text": t} for t in texts]])
    )
    wire = {"role": "system", "content": "".join(texts)}
    if name:
        wire["name"] = name
    return SystemMessage(content=content, name=name), wire


@st.composite
def lc_assistant(draw: st.DrawFn) -> tuple[BaseMessage, dict[str, Any]]:
    name = draw(st.none() | NAMES)
    text = draw(TEXT)
    ids = draw(st.lists(CALL_IDS, max_size=3, unique=True))
    calls = [tool_call(name=draw(TOOL_NAMES), args=draw(ARGS), id=call_id) for call_id in ids]
    # A turn of tool calls only has null content, in both adapters.
    wire: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        wire["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
            }
            for call in calls
        ]
    if name:
        wire["name"] = name
    return AIMessage(content=text, tool_calls=calls, name=name), wire


@st.composite
def lc_tool(draw: st.DrawFn) -> tuple[BaseMessage, dict[str, Any]]:
    text = draw(TEXT)
    status = draw(st.sampled_from(["success", "error"]))
    call_id = draw(CALL_IDS)
    expected = text
    if status == "error" and not text.lstrip().lower().startswith("error"):
        expected = f"Error: {text}"
    wire = {"role": "tool", "tool_call_id": call_id, "content": expected}
    return ToolMessage(content=text, tool_call_id=call_id, status=status), wire


LC_CONVERSATIONS = st.lists(
    st.one_of(lc_human(), lc_system(), lc_assistant(), lc_tool()), min_size=1, max_size=6
)


def _same_wire(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Equal, with tool-call arguments compared as the JSON they encode."""
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        got, want = copy.deepcopy(got), copy.deepcopy(want)
        for message in (got, want):
            for call in message.get("tool_calls", ()):
                call["function"]["arguments"] = json.loads(call["function"]["arguments"])
        assert got == want


@END_TO_END
@given(conversation=LC_CONVERSATIONS)
def test_langchain_valid_conversations_round_trip(
    nugen_emulator: NugenEmulator,
    conversation: list[tuple[BaseMessage, dict[str, Any]]],
) -> None:
    messages = [message for message, _ in conversation]
    expected = [wire for _, wire in conversation]
    before = [message.model_dump() for message in messages]
    wire = lc_to_wire(messages)
    _same_wire(wire, expected)
    check_sendable(wire)
    # And end to end: the adapter sends exactly that, and the service accepts it.
    nugen_emulator.reset()
    model = ChatNugen(
        base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key, max_retries=0
    )
    assert model.invoke(messages).content
    [request] = nugen_emulator.requests
    _same_wire(request.body["messages"], expected)
    assert [message.model_dump() for message in messages] == before


# ============================================================= LlamaIndex: valid input

_LI_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "chatbot": "assistant",
    "model": "assistant",
    "tool": "tool",
    "function": "tool",
}
_IMAGE_DIR = Path(tempfile.mkdtemp(prefix="nugen-reliability-"))
atexit.register(shutil.rmtree, _IMAGE_DIR, ignore_errors=True)
_IMAGE_NUMBERS = itertools.count()


@st.composite
def li_image(draw: st.DrawFn) -> tuple[ImageBlock, str]:
    form = draw(st.sampled_from(["https", "bytes", "data-url", "path"]))
    if form == "https":
        block = ImageBlock(url=draw(HTTPS_URLS))
        return block, str(block.url)  # as pydantic normalised it
    mime, data = draw(IMAGES)
    if form == "bytes":
        # A declared type is only a hint: the bytes decide.
        declared = draw(st.none() | st.sampled_from([m for m, _ in SIGNATURES]))
        return ImageBlock(image=data, image_mimetype=declared), data_url(mime, data)
    if form == "data-url":
        return ImageBlock(url=data_url(mime, data)), data_url(mime, data)
    path = _IMAGE_DIR / f"image-{next(_IMAGE_NUMBERS)}.bin"
    path.write_bytes(data)
    return ImageBlock(path=path), data_url(mime, data)


@st.composite
def li_message(draw: st.DrawFn) -> tuple[LIMessage, dict[str, Any]]:
    role = draw(st.sampled_from(sorted(_LI_ROLES)))
    wire_role = _LI_ROLES[role]
    blocks: list[Any] = []
    parts: list[dict[str, Any]] = []
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    has_image = False
    for _ in range(draw(st.integers(0, 4))):
        kinds = ["text"]
        if wire_role in ("user", "tool"):
            kinds.append("image")
        if wire_role == "assistant":
            kinds += ["tool_call", "thinking"]
        kind = draw(st.sampled_from(kinds))
        if kind == "text":
            text = draw(TEXT)
            blocks.append(TextBlock(text=text))
            texts.append(text)
            parts.append({"type": "text", "text": text})
        elif kind == "image":
            block, url = draw(li_image())
            blocks.append(block)
            parts.append(wire_image(url))
            has_image = True
        elif kind == "thinking":
            blocks.append(ThinkingBlock(content=draw(TEXT)))  # never sent back
        else:
            call_id, name, args = draw(CALL_IDS), draw(TOOL_NAMES), draw(ARGS)
            if any(call["id"] == call_id for call in calls):
                continue
            blocks.append(ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=args))
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
            )
    extras: dict[str, Any] = {}
    wire: dict[str, Any] = {"role": wire_role, "content": parts if has_image else "\n".join(texts)}
    if calls:
        wire["tool_calls"] = calls
        if not wire["content"]:
            wire["content"] = None
    if wire_role == "tool":
        extras["tool_call_id"] = wire["tool_call_id"] = draw(CALL_IDS)
    name = draw(st.none() | NAMES)
    if name:
        extras["name"] = wire["name"] = name
    return LIMessage(role=role, blocks=blocks, additional_kwargs=extras), wire


@END_TO_END
@given(conversation=st.lists(li_message(), min_size=1, max_size=6))
def test_llama_index_valid_conversations_round_trip(
    nugen_emulator: NugenEmulator,
    conversation: list[tuple[LIMessage, dict[str, Any]]],
) -> None:
    messages = [message for message, _ in conversation]
    expected = [wire for _, wire in conversation]
    before = [message.model_dump() for message in messages]
    wire = li_to_wire(messages)
    _same_wire(wire, expected)
    check_sendable(wire)
    nugen_emulator.reset()
    llm = Nugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key, max_retries=0)
    assert llm.chat(messages).message.content is not None
    [request] = nugen_emulator.requests
    _same_wire(request.body["messages"], expected)
    assert [message.model_dump() for message in messages] == before


# ============================================================= invalid input, LangChain

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
BAD_DATA_URLS = st.one_of(
    st.sampled_from(
        [
            "data:image/png;base64,",  # no bytes
            "data:image/png," + b64(b"\x89PNG\r\n\x1a\n"),  # not base64-marked
            "data:;base64," + b64(b"\x89PNG\r\n\x1a\n"),  # no mime type
            data_url("image/png", PDF),  # a PDF calling itself a PNG
            data_url("image/jpeg", b"hello, world"),
        ]
    ),
    st.builds(
        data_url,
        st.sampled_from(["application/pdf", "text/plain", "audio/wav", "video/mp4"]),
        st.binary(min_size=1, max_size=16),
    ),
    st.text(alphabet="!#$%&*()<>?@[]^{}|~ ", min_size=1, max_size=12).map(
        "data:image/png;base64,{}".format
    ),
)
NOT_HTTPS = st.one_of(
    st.sampled_from(
        ["http://example.com/cat.png", "ftp://example.com/cat.png", "file:///etc/passwd"]
    ),
    st.sampled_from(["javascript:alert(1)", "cat.png", "//example.com/cat.png", "https://"]),
)
UNSUPPORTED_KINDS = [
    "audio",
    "input_audio",
    "file",
    "input_file",
    "document",
    "video",
    "input_video",
]


@st.composite
def lc_poison(draw: st.DrawFn) -> tuple[BaseMessage, str, dict[str, Any]]:
    """A message the service cannot take, what the error must mention (``{i}`` = the
    message's index), and model settings the case needs."""
    kind = draw(
        st.sampled_from(
            [
                "name",
                "block",
                "unknown-block",
                "data-url",
                "url",
                "oversized",
                "mime",
                "legacy",
                "file-id",
                "tool-block",
            ]
        )
    )
    if kind == "name":
        role = draw(st.sampled_from([HumanMessage, SystemMessage, AIMessage]))
        return role(content="hello", name=draw(BAD_NAMES)), "messages[{i}].name", {}
    if kind == "block":
        block = {"type": draw(st.sampled_from(UNSUPPORTED_KINDS)), "base64": b64(PDF)}
        return HumanMessage(content=["look:", block]), "messages[{i}].content[1]", {}
    if kind == "unknown-block":
        known = {"text", "image", "image_url", "text-plain"}
        tag = draw(st.text(min_size=1, max_size=10).filter(lambda t: t not in known))
        return HumanMessage(content=[{"type": tag, "x": 1}]), "messages[{i}].content[0]", {}
    if kind == "data-url":
        url = draw(BAD_DATA_URLS)
        block = draw(
            st.sampled_from(
                [{"type": "image_url", "image_url": {"url": url}}, {"type": "image", "url": url}]
            )
        )
        return HumanMessage(content=[block]), "messages[{i}].content[0]", {}
    if kind == "url":
        block = {"type": "image", "url": draw(NOT_HTTPS)}
        return HumanMessage(content=[block]), "messages[{i}].content[0]", {}
    if kind == "oversized":
        cap = draw(st.integers(16, 256))
        mime, data = draw(IMAGES)
        data += b"\x00" * max(0, cap + 1 - len(data))
        block = draw(
            st.sampled_from(
                [
                    {"type": "image", "base64": b64(data), "mime_type": mime},
                    {"type": "image_url", "image_url": {"url": data_url(mime, data)}},
                ]
            )
        )
        return HumanMessage(content=[block]), "limit", {"max_image_bytes": cap}
    if kind == "mime":
        mime, data = draw(IMAGES)
        block = draw(
            st.sampled_from(
                [
                    {"type": "image", "base64": b64(PDF), "mime_type": mime},
                    {"type": "image", "base64": b64(data), "mime_type": "application/pdf"},
                    {"type": "image", "base64": b64(b"plain text"), "mime_type": "image/png"},
                ]
            )
        )
        return HumanMessage(content=[block]), "messages[{i}].content[0]", {}
    if kind == "legacy":
        message = draw(
            st.sampled_from(
                [
                    FunctionMessage(content="42", name="f"),
                    ChatMessage(role="tool", content="hi"),
                    ChatMessage(role="narrator", content="hi"),
                ]
            )
        )
        return message, "messages[{i}]", {}
    if kind == "file-id":
        block = draw(
            st.sampled_from(
                [
                    {"type": "image", "file_id": "file-123"},
                    {"type": "image", "source_type": "id", "id": "file-123"},
                ]
            )
        )
        return HumanMessage(content=[block]), "messages[{i}].content[0]", {}
    block = {"type": draw(st.sampled_from(UNSUPPORTED_KINDS)), "base64": b64(PDF)}
    return ToolMessage(content=[block], tool_call_id="call_1"), "messages[{i}].content[0]", {}


LC_VALID_FILLER = [HumanMessage(content="first"), SystemMessage(content="be brief")]


def _lc_call(model: ChatNugen, messages: list[BaseMessage], style: str) -> None:
    if style == "invoke":
        model.invoke(messages)
    elif style == "stream":
        list(model.stream(messages))
    elif style == "ainvoke":
        asyncio.run(model.ainvoke(messages))
    else:

        async def consume() -> None:
            async for _ in model.astream(messages):
                pass

        asyncio.run(consume())


@PROPERTY
@given(
    poison=lc_poison(),
    position=st.integers(0, 2),
    style=st.sampled_from(["invoke", "stream", "ainvoke", "astream"]),
)
def test_langchain_bad_input_is_refused_before_sending(
    nugen_emulator: NugenEmulator,
    poison: tuple[BaseMessage, str, dict[str, Any]],
    position: int,
    style: str,
) -> None:
    bad, fragment, settings_ = poison
    messages = list(LC_VALID_FILLER)
    messages.insert(position, bad)
    before = [message.model_dump() for message in messages]
    model = ChatNugen(
        base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key, max_retries=0, **settings_
    )
    with pytest.raises(ValueError, match=re.escape(fragment.format(i=position))):
        _lc_call(model, messages, style)
    assert nugen_emulator.requests == []
    assert [message.model_dump() for message in messages] == before


# ============================================================ invalid input, LlamaIndex


@st.composite
def li_poison(draw: st.DrawFn) -> tuple[Callable[[], LIMessage], str]:
    """A factory of a message the service cannot take, and what the error must mention."""
    kind = draw(
        st.sampled_from(
            ["name", "block", "data-url", "url", "mime", "image-role", "tool-id", "call-id"]
        )
    )
    if kind == "name":
        name = draw(BAD_NAMES)
        role = draw(st.sampled_from(["user", "system", "assistant"]))
        return lambda: LIMessage(role=role, content="hi", additional_kwargs={"name": name}), (
            "messages[{i}].name"
        )
    if kind == "block":
        make = draw(
            st.sampled_from(
                [
                    lambda: AudioBlock(audio=b"RIFF\x00\x00\x00\x00WAVEfmt "),
                    lambda: DocumentBlock(data=PDF),
                    lambda: VideoBlock(video=b"\x00\x00\x00\x18ftypmp42"),
                ]
            )
        )
        return lambda: LIMessage(role="user", blocks=[TextBlock(text="see"), make()]), (
            "messages[{i}].blocks[1]"
        )
    if kind == "data-url":
        url = draw(BAD_DATA_URLS.filter(lambda u: not u.startswith("data:;")))
        return lambda: LIMessage(
            role="user", blocks=[ImageBlock(url=url)]
        ), "messages[{i}].blocks[0]"
    if kind == "url":
        url = draw(st.sampled_from(["http://example.com/cat.png", "ftp://example.com/cat.png"]))
        return lambda: LIMessage(
            role="user", blocks=[ImageBlock(url=url)]
        ), "messages[{i}].blocks[0]"
    if kind == "mime":
        # A PDF declared as an image: the bytes contradict the label.
        mime = draw(st.sampled_from([m for m, _ in SIGNATURES]))
        return (
            lambda: LIMessage(role="user", blocks=[ImageBlock(image=PDF, image_mimetype=mime)]),
            "messages[{i}].blocks[0]",
        )
    if kind == "image-role":
        role = draw(st.sampled_from(["system", "assistant"]))
        mime, data = draw(IMAGES)
        return lambda: LIMessage(
            role=role, blocks=[ImageBlock(image=data)]
        ), "messages[{i}].blocks[0]"
    if kind == "tool-id":
        return lambda: LIMessage(role="tool", content="42"), "messages[{i}]"
    return (
        lambda: LIMessage(
            role="assistant",
            blocks=[ToolCallBlock(tool_call_id=None, tool_name="f", tool_kwargs={})],
        ),
        "messages[{i}]",
    )


def _li_call(llm: Nugen, messages: list[LIMessage], style: str) -> None:
    if style == "chat":
        llm.chat(messages)
    elif style == "stream_chat":
        list(llm.stream_chat(messages))
    elif style == "achat":
        asyncio.run(llm.achat(messages))
    else:

        async def consume() -> None:
            async for _ in await llm.astream_chat(messages):
                pass

        asyncio.run(consume())


@PROPERTY
@given(
    poison=li_poison(),
    position=st.integers(0, 2),
    style=st.sampled_from(["chat", "stream_chat", "achat", "astream_chat"]),
)
def test_llama_index_bad_input_is_refused_before_sending(
    nugen_emulator: NugenEmulator,
    poison: tuple[Callable[[], LIMessage], str],
    position: int,
    style: str,
) -> None:
    make, fragment = poison
    messages = [LIMessage(role="user", content="first"), LIMessage(role="system", content="hi")]
    messages.insert(position, make())
    before = [message.model_dump() for message in messages]
    llm = Nugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key, max_retries=0)
    with pytest.raises(ValueError, match=re.escape(fragment.format(i=position))):
        _li_call(llm, messages, style)
    assert nugen_emulator.requests == []
    assert [message.model_dump() for message in messages] == before


# =========================================================== one-off cases, both adapters


@pytest.fixture
def emu(nugen_emulator: NugenEmulator) -> Iterator[NugenEmulator]:
    yield nugen_emulator
    assert nugen_emulator.requests == [], "bad input reached the service"


def _lc(emu: NugenEmulator, **kwargs: Any) -> ChatNugen:
    return ChatNugen(base_url=emu.base_url, api_key=emu.api_key, max_retries=0, **kwargs)


def _li(emu: NugenEmulator, **kwargs: Any) -> Nugen:
    return Nugen(base_url=emu.base_url, api_key=emu.api_key, max_retries=0, **kwargs)


DEFAULT_CAP = 20 * 1024 * 1024
OVERSIZED = b"\x89PNG\r\n\x1a\n" + b"\x00" * DEFAULT_CAP


def test_the_default_image_cap_holds_in_both_adapters(emu: NugenEmulator) -> None:
    """20 MiB: larger images are refused locally, whatever form they come in."""
    url = data_url("image/png", OVERSIZED)
    for content in (
        [{"type": "image", "base64": b64(OVERSIZED), "mime_type": "image/png"}],
        [{"type": "image_url", "image_url": {"url": url}}],
    ):
        with pytest.raises(InvalidInputError, match="20,971,520-byte limit"):
            _lc(emu).invoke([HumanMessage(content=content)])
    for block in (ImageBlock(image=OVERSIZED), ImageBlock(url=url)):
        with pytest.raises(InvalidInputError, match="20,971,520-byte limit"):
            _li(emu).chat([LIMessage(role="user", blocks=[block])])


def test_langchain_image_cap_is_configurable(emu: NugenEmulator) -> None:
    image = b"\x89PNG\r\n\x1a\n" + b"\x00" * 92  # 100 bytes
    block = {"type": "image", "base64": b64(image), "mime_type": "image/png"}
    with pytest.raises(InvalidInputError, match="100 bytes, over the 99-byte limit"):
        _lc(emu, max_image_bytes=99).invoke([HumanMessage(content=[block])])
    emu.reset()
    _lc(emu, max_image_bytes=100).invoke([HumanMessage(content=[block])])
    assert len(emu.requests) == 1
    emu.reset()


def test_llama_index_image_cap_is_configurable(nugen_emulator: NugenEmulator) -> None:
    image = b"\x89PNG\r\n\x1a\n" + b"\x00" * 92
    llm = _li(nugen_emulator, max_image_bytes=99)
    with pytest.raises(InvalidInputError, match="limit"):
        llm.chat([LIMessage(role="user", blocks=[ImageBlock(image=image)])])
    assert nugen_emulator.requests == []


def test_llama_index_unreadable_image_path(emu: NugenEmulator, tmp_path: Path) -> None:
    path = tmp_path / "gone.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    message = LIMessage(role="user", blocks=[TextBlock(text="see"), ImageBlock(path=path)])
    path.unlink()  # the file went away between building the message and sending it
    with pytest.raises(
        InvalidInputError, match=r"messages\[0\]\.blocks\[1\]: cannot read image file"
    ) as raised:
        _li(emu).chat([message])
    assert str(path) in str(raised.value)


def test_langchain_tool_schemas_that_cannot_be_converted(emu: NugenEmulator) -> None:
    model = _lc(emu)
    with pytest.raises(ValueError, match="Unsupported function"):
        model.bind_tools([object()])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="not one of the bound tools"):
        model.bind_tools([_tool("lookup")], tool_choice="other").invoke("hi")
    cases = [
        (_tool("bad name"), r"tools\[0\]\.function\.name"),
        (_tool("x" * 65), r"tools\[0\]\.function\.name"),
        ({"type": "function", "function": {"parameters": {}}}, r"tools\[0\]\.function\.name"),
        (_tool("lookup", parameters="a string"), r"tools\[0\]\.function\.parameters"),
        (
            _tool("lookup", parameters={"type": "object", "default": object()}),
            r"tools\[0\]\.function: tool 'lookup': its parameters schema is not JSON",
        ),
    ]
    for tool, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            model.bind_tools([tool]).invoke("hi")


def test_llama_index_tool_choice_must_name_a_bound_tool(emu: NugenEmulator) -> None:
    def lookup(city: str) -> str:
        """Look a city up."""
        return city

    with pytest.raises(InvalidInputError, match="tool_choice 'other' is not one of the bound"):
        _li(emu).chat_with_tools([FunctionTool.from_defaults(lookup)], "hi", tool_choice="other")


def _tool(name: str, parameters: Any = None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    function["parameters"] = (
        {"type": "object", "properties": {}} if parameters is None else parameters
    )
    return {"type": "function", "function": function}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"foo": object()}, "request field 'foo' cannot be sent as JSON"),
        ({"foo": {1, 2}}, "request field 'foo' cannot be sent as JSON"),
        # json.dumps would write Infinity/NaN, which no JSON parser on the service accepts.
        ({"foo": float("inf")}, "request field 'foo' cannot be sent as JSON"),
        ({"foo": float("nan")}, "request field 'foo' cannot be sent as JSON"),
    ],
)
def test_values_that_are_not_json_are_refused_locally(
    emu: NugenEmulator, extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _lc(emu).invoke("hi", **extra)
    with pytest.raises(InvalidInputError, match=message):
        _li(emu).chat([LIMessage(role="user", content="hi")], **extra)


def test_langchain_tool_call_arguments_that_are_not_json(emu: NugenEmulator) -> None:
    history = [
        HumanMessage("hi"),
        AIMessage(content="", tool_calls=[tool_call(name="f", args={"when": object()}, id="c1")]),
        ToolMessage(content="done", tool_call_id="c1"),
    ]
    with pytest.raises(InvalidInputError, match=r"messages\[1\]: the arguments of tool call 'f'"):
        _lc(emu).invoke(history)


def test_llama_index_tool_call_arguments_that_are_not_json(nugen_emulator: NugenEmulator) -> None:
    history = [
        LIMessage(role="user", content="hi"),
        LIMessage(
            role="assistant",
            blocks=[
                ToolCallBlock(tool_call_id="c1", tool_name="f", tool_kwargs={"when": object()})
            ],
        ),
        LIMessage(role="tool", content="done", additional_kwargs={"tool_call_id": "c1"}),
    ]
    with pytest.raises(InvalidInputError, match=r"messages\[1\]"):
        _li(nugen_emulator).chat(history)
    assert nugen_emulator.requests == []


def test_text_that_cannot_be_encoded_is_refused_locally(emu: NugenEmulator) -> None:
    """A lone surrogate (text decoded with errors="surrogateescape") is not UTF-8."""
    broken = b"caf\xe9".decode("utf-8", "surrogateescape")
    with pytest.raises(InvalidInputError, match="request field 'messages'"):
        _lc(emu).invoke(broken)
    with pytest.raises(InvalidInputError, match="request field 'messages'"):
        _li(emu).chat([LIMessage(role="user", content=broken)])
