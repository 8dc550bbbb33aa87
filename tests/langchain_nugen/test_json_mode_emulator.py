"""``with_structured_output(method="json_mode" | "json_schema")`` against the emulator.

JSON mode sends ``response_format: {"type": "json_object"}`` and nothing else: the schema
reaches the model only if the prompt carries it, as LangChain's format instructions do.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import PydanticOutputParser
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, Field

from langchain_nugen import ChatNugen
from nugen_emulator import NugenEmulator
from nugen_emulator.replies import ChatReplyHook, Choice, Generation
from tests.support.langchain import keep


class Landmark(BaseModel):
    """A landmark mentioned in a text."""

    name: str = Field(description="The landmark's name")
    city: str = Field(description="The city it stands in")
    height_m: int = Field(description="Its height in metres")


def test_json_mode_fills_the_schema_in_the_format_instructions(
    nugen_emulator: NugenEmulator,
) -> None:
    model = keep(ChatNugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key))
    parser = PydanticOutputParser(pydantic_object=Landmark)
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Extract the landmark.\n{format_instructions}"), ("human", "{text}")]
    ).partial(format_instructions=parser.get_format_instructions())
    chain = prompt | model.with_structured_output(Landmark, method="json_mode")

    landmark = chain.invoke({"text": "The 'Eiffel Tower' in 'Paris' is 330 metres tall."})

    assert landmark == Landmark(name="Eiffel Tower", city="Paris", height_m=330)
    body = nugen_emulator.last_request.body
    assert body["response_format"] == {"type": "json_object"}
    assert "tools" not in body


class Note(BaseModel):
    """A note."""

    title: str
    body: str | None = None


NOTE_SCHEMA = {
    "title": "Note",
    "type": "object",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
    "required": ["title"],
}
ASK = "Note 'Owls', body 'Owls hunt at night'. Reply in JSON with the keys 'title' and 'body'."


def _answer(content: str) -> ChatReplyHook:
    """A hook answering ``content`` with finish_reason "stop", as the live service does
    even when max_tokens cut the answer."""
    return lambda call: Generation([Choice(content, "stop")], call.prompt_tokens)


@pytest.mark.parametrize("schema", [Note, NOTE_SCHEMA])
@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
def test_a_json_answer_cut_with_finish_reason_stop_is_an_error_not_a_shorter_object(
    nugen_emulator: NugenEmulator, method: Literal["json_schema", "json_mode"], schema: Any
) -> None:
    # LangChain's lenient JSON parsing closes what the cut left open: '{"title": "Owls",
    # "body":' would read as {"title": "Owls"}, an answer missing its body.
    model = keep(
        ChatNugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key, max_tokens=3)
    )
    structured = model.with_structured_output(schema, method=method)
    with pytest.raises(OutputParserException, match=r"not complete JSON.*raise max_tokens"):
        list(structured.stream(ASK))
    # Without structured output the cut answer stays text.
    assert "".join(str(c.content) for c in model.stream(ASK)) == 'You asked: "Note'
    raw = model.with_structured_output(schema, method=method, include_raw=True)
    *chunks, outcome = raw.stream(ASK)
    assert chunks[-1]["raw"].response_metadata["finish_reason"] == "stop"
    assert outcome["parsed"] is None
    assert isinstance(outcome["parsing_error"], OutputParserException)

    nugen_emulator.chat_reply = _answer('{"title": "Owls", "body": "Owls hunt')
    with pytest.raises(OutputParserException, match=r"not complete JSON.*raise max_tokens"):
        structured.invoke(ASK)
    result = raw.invoke(ASK)
    assert result["parsed"] is None
    assert isinstance(result["parsing_error"], OutputParserException)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "answer",
    [
        '```json\n{"title": "Owls", "body": "hunt\tat night"}\n```',  # a raw tab
        'Here it is:\n```json\n{"title": "Owls", "body": "hunt\tat night"}\n```\nEnjoy!',
    ],
)
def test_complete_json_still_parses_fenced_with_raw_control_characters_or_a_remark(
    nugen_emulator: NugenEmulator, stream: bool, answer: str
) -> None:
    model = keep(ChatNugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key))
    structured = model.with_structured_output(Note, method="json_mode")
    nugen_emulator.chat_reply = _answer(answer)
    parsed = list(structured.stream(ASK))[-1] if stream else structured.invoke(ASK)
    assert parsed == Note(title="Owls", body="hunt\tat night")


@pytest.mark.parametrize("is_async", [False, True])
def test_a_pydantic_response_format_puts_the_parsed_answer_in_additional_kwargs(
    nugen_emulator: NugenEmulator, is_async: bool
) -> None:
    # As ChatOpenAI; an answer that does not parse keeps its message, with parsed None.
    model = keep(ChatNugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key))
    bound = model.bind(response_format=Note)
    call: Any = (lambda: asyncio.run(bound.ainvoke(ASK))) if is_async else lambda: bound.invoke(ASK)
    for answer, parsed in (
        (
            '{"title": "Owls", "body": "Owls hunt at night"}',
            Note(title="Owls", body="Owls hunt at night"),
        ),
        ('{"title": "Owls", "body": "Owls hunt', None),
        ("Owls hunt at night.", None),
    ):
        nugen_emulator.chat_reply = _answer(answer)
        message = call()
        assert message.content == answer
        assert message.additional_kwargs["parsed"] == parsed
    assert "parsed" not in model.bind(response_format=NOTE_SCHEMA).invoke(ASK).additional_kwargs


def test_each_of_several_choices_gets_its_parsed_answer(nugen_emulator: NugenEmulator) -> None:
    # n=2 gives two generations: each is parsed, none left without the key.
    model = keep(ChatNugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key))
    nugen_emulator.chat_reply = lambda call: Generation(
        [Choice('{"title": "Owls"}', "stop"), Choice("not JSON", "stop")], call.prompt_tokens
    )
    result = model.generate([[HumanMessage(ASK)]], response_format=Note, n=2)
    parsed = [g.message.additional_kwargs["parsed"] for g in result.generations[0]]  # type: ignore[attr-defined]
    assert parsed == [Note(title="Owls"), None]


@pytest.mark.parametrize("is_async", [False, True])
def test_a_streamed_answer_gets_its_parsed_answer_on_the_last_chunk(
    nugen_emulator: NugenEmulator, is_async: bool
) -> None:
    # invoke streams internally with streaming=True (or a streaming callback, as LangGraph's
    # "messages" mode): its message has "parsed" as a non-streamed one has.
    kwargs = {"base_url": nugen_emulator.base_url, "api_key": nugen_emulator.api_key}
    streaming = keep(ChatNugen(**kwargs, streaming=True)).bind(response_format=Note)
    nugen_emulator.chat_reply = _answer('{"title": "Owls"}')
    message = asyncio.run(streaming.ainvoke(ASK)) if is_async else streaming.invoke(ASK)
    assert message.additional_kwargs["parsed"] == Note(title="Owls")
    *chunks, last = keep(ChatNugen(**kwargs)).bind(response_format=Note).stream(ASK)
    assert last.additional_kwargs["parsed"] == Note(title="Owls")
    assert all("parsed" not in chunk.additional_kwargs for chunk in chunks)
