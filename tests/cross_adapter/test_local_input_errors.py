"""What the docs' "Error classes" section says about local input
errors holds: a bad constructor field is pydantic's ``ValidationError`` (a ``ValueError``),
bad call input and client settings are ``InvalidInputError`` (a ``NugenError`` and a
``ValueError``)."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.llms import ChatMessage
from pydantic import ValidationError

from langchain_nugen import ChatNugen, NugenEmbeddings, NugenLLM
from langchain_nugen import NugenRerank as LangChainRerank
from llama_index_nugen import Nugen, NugenEmbedding
from llama_index_nugen import NugenRerank as LlamaIndexRerank
from nugen_client import InvalidInputError, NugenClient, NugenError
from nugen_emulator import NugenEmulator


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (ChatNugen, {"temperature": 5}),
        (ChatNugen, {"max_retries": -1}),
        (NugenEmbeddings, {"max_retries": -1}),
        (Nugen, {"temperature": 5}),
        (NugenEmbedding, {"max_retries": -1}),
    ],
)
def test_a_bad_constructor_field_is_a_pydantic_value_error(
    cls: type[Any], fields: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as info:
        cls(api_key="k", **fields)
    assert isinstance(info.value, ValueError)


def test_bad_client_settings_are_invalid_input_errors() -> None:
    with pytest.raises(InvalidInputError) as info:
        NugenClient(api_key="k", base_url="https://u:p@example.com/v1")
    assert isinstance(info.value, NugenError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("per_call", [False, True], ids=["field", "call"])
@pytest.mark.parametrize("field", ["session_id", "provider"])
def test_a_header_breaking_session_or_provider_is_refused_naming_it(
    emu: NugenEmulator, field: str, per_call: bool
) -> None:
    """The error names the parameter the user set, not the header it becomes."""
    bad = {field: "a\r\nX-Evil: 1"}
    calls = [
        (ChatNugen, lambda model, kw: model.invoke("hi", **kw)),
        (NugenLLM, lambda model, kw: model.invoke("hi", **kw)),
        (Nugen, lambda model, kw: model.chat([ChatMessage(role="user", content="hi")], **kw)),
    ]
    for cls, call in calls:
        model = cls(base_url=emu.base_url, api_key=emu.api_key, **({} if per_call else bad))
        with pytest.raises(InvalidInputError) as info:
            call(model, bad if per_call else {})
        assert str(info.value).startswith(f"{field} holds"), (cls.__name__, str(info.value))
    assert emu.requests == []


def test_the_calls_input_given_again_as_a_keyword_is_refused(emu: NugenEmulator) -> None:
    # invoke gets Python's TypeError from LangChain's own signature; these reach our rule.
    kw = {"base_url": emu.base_url, "api_key": emu.api_key}
    calls = [
        lambda: list(ChatNugen(**kw).stream("hi", messages=[{"role": "user", "content": "x"}])),
        lambda: NugenLLM(**kw).invoke("hi", prompt="x"),
        lambda: ChatNugen(**kw, model_kwargs={"messages": []}).invoke("hi"),
        lambda: Nugen(**kw, additional_kwargs={"messages": []}).complete("hi"),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match="the call's input is its first argument"):
            call()
    assert emu.requests == []


@pytest.mark.parametrize("value", ["false", "no", 0, 1])
def test_use_vision_endpoint_given_for_one_call_must_be_a_bool(
    emu: NugenEmulator, value: object
) -> None:
    # bool("false") is True: the request would go to the vision endpoint.
    kw = {"base_url": emu.base_url, "api_key": emu.api_key}
    calls = [
        lambda: ChatNugen(**kw).invoke("hi", use_vision_endpoint=value),
        lambda: Nugen(**kw).chat([ChatMessage(content="hi")], use_vision_endpoint=value),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match="use_vision_endpoint must be a bool"):
            call()
    assert emu.requests == []


def test_the_texts_to_embed_given_again_as_an_extra_body_field_are_refused(
    emu: NugenEmulator,
) -> None:
    # Sent, ``input`` would replace the texts: "hello" would get the vector of "zebra".
    kw = {"base_url": emu.base_url, "api_key": emu.api_key}
    calls = [
        lambda: NugenEmbeddings(**kw, model_kwargs={"input": ["zebra"]}).embed_query("hello"),
        lambda: NugenEmbedding(**kw, additional_kwargs={"input": "zebra"}).get_text_embedding("hi"),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match=r"input= cannot be.*first argument"):
            call()
    assert emu.requests == []


@pytest.mark.parametrize(
    "cls",
    [
        ChatNugen,
        NugenLLM,
        NugenEmbeddings,
        LangChainRerank,
        Nugen,
        NugenEmbedding,
        LlamaIndexRerank,
    ],
    ids=lambda c: f"{c.__module__.split('.')[0]}.{c.__name__}",
)
def test_a_setting_given_under_two_of_its_names_is_refused(cls: type[Any]) -> None:
    # Neither is kept in silence: which one was meant is the caller's to say.
    with pytest.raises(ValueError, match="not both"):
        cls(api_key="k", model="a", model_name="b")


def test_the_docs_say_exactly_that() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "errors-and-reliability.md").read_text()
    section = page.split("## Error classes", 1)[1].split("\n## ", 1)[0]
    assert "`ValidationError` (a `ValueError`, not a `NugenError`)" in section
    assert "`InvalidInputError` (a\n`NugenError` and a `ValueError`)" in section
