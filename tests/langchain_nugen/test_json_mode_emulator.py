"""``with_structured_output(method="json_mode")`` against the emulator's JSON mode.

JSON mode sends ``response_format: {"type": "json_object"}`` and nothing else: the schema
reaches the model only if the prompt carries it, as LangChain's format instructions do.
"""

from __future__ import annotations

from langchain_core.output_parsers import PydanticOutputParser
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, Field

from langchain_nugen import ChatNugen
from nugen_emulator import NugenEmulator
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
