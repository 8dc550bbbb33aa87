"""The conversation id of the run config (``config["configurable"]["session_id"]``) is sent
as ``X-Session-ID``: by ``ChatNugen`` and ``NugenLLM``, in every call form, through
``RunnableWithMessageHistory`` and a LangChain agent; a call keyword still wins. The
config's ``thread_id`` and ``provider`` are not taken."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from langchain_nugen import ChatNugen, NugenLLM
from nugen_emulator import NugenEmulator
from tests.support.langchain import NEEDS_3_11

pytestmark = pytest.mark.emulator


def sessions(emu: NugenEmulator) -> list[str | None]:
    return [r.headers.get("x-session-id") for r in emu.requests]


def connect(emu: NugenEmulator) -> dict[str, Any]:
    return {"api_key": emu.api_key, "base_url": emu.base_url}


def run(model: Any, form: str, config: dict[str, Any], **kwargs: Any) -> None:
    if form == "invoke":
        model.invoke("hello", config, **kwargs)
    elif form == "ainvoke":
        asyncio.run(model.ainvoke("hello", config, **kwargs))
    elif form == "stream":
        list(model.stream("hello", config, **kwargs))
    elif form == "batch":
        model.batch(["hello"], config, **kwargs)
    else:

        async def pieces() -> list[Any]:
            return [piece async for piece in model.astream("hello", config, **kwargs)]

        asyncio.run(pieces())


FORMS = ["invoke", "ainvoke", "stream", "astream", "batch"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM], ids=lambda c: c.__name__)
def test_the_configs_session_id_is_sent(
    nugen_emulator: NugenEmulator, cls: type[Any], form: str
) -> None:
    model = cls(**connect(nugen_emulator), session_id="from-the-model")
    run(model, form, {"configurable": {"session_id": "from-the-config"}})
    run(model, form, {"configurable": {"session_id": "from-the-config"}}, session_id="per-call")
    # Neither LangGraph's thread_id nor a provider in the config is taken (the docs' promise).
    run(model, form, {"configurable": {"thread_id": "t-1", "provider": "from-the-config"}})
    assert sessions(nugen_emulator) == ["from-the-config", "per-call", "from-the-model"]
    assert [r.headers.get("x-provider") for r in nugen_emulator.requests] == [None] * 3


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM], ids=lambda c: c.__name__)
def test_a_configs_session_id_that_is_not_a_string_is_refused_as_the_keyword_is(
    nugen_emulator: NugenEmulator, cls: type[Any], form: str
) -> None:
    model = cls(**connect(nugen_emulator))
    for session_id in (["a"], {"id": "a"}, 1.5, False, True, 0.0):
        messages = []
        for config, kwargs in (
            ({"configurable": {"session_id": session_id}}, {}),
            ({}, {"session_id": session_id}),
        ):
            with pytest.raises(ValueError, match="session_id must be a string") as refused:
                run(model, form, config, **kwargs)
            messages.append(str(refused.value))
        assert messages[0] == messages[1]
    assert nugen_emulator.requests == []


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM], ids=lambda c: c.__name__)
def test_a_configs_whole_number_or_uuid_is_sent_as_its_text(
    nugen_emulator: NugenEmulator, cls: type[Any], form: str
) -> None:
    # RunnableWithMessageHistory keys its histories by the same config value, often so.
    conversation = uuid.UUID(int=7)
    model = cls(**connect(nugen_emulator))
    run(model, form, {"configurable": {"session_id": 42}})
    run(model, form, {"configurable": {"session_id": 0}})
    run(model, form, {"configurable": {"session_id": conversation}})
    assert sessions(nugen_emulator) == ["42", "0", str(conversation)]
    for number in (42, 0):  # the keyword is the model's own: a string
        with pytest.raises(ValueError, match="session_id must be a string"):
            run(model, form, {}, session_id=number)


@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM], ids=lambda c: c.__name__)
def test_a_batch_of_several_conversations_sends_each_its_own_id(
    nugen_emulator: NugenEmulator, cls: type[Any]
) -> None:
    # Inputs whose configs name different conversations cannot share one call's header:
    # each input becomes its own call, with its own id (and the model's for none).
    model = cls(**connect(nugen_emulator), session_id="from-the-model")
    configs: list[Any] = [
        {"configurable": {"session_id": "first"}},
        {"configurable": {"session_id": "second"}},
        {},
    ]
    assert len(model.batch(["a", "b", "c"], configs)) == 3
    assert len(asyncio.run(model.abatch(["a", "b", "c"], configs))) == 3
    assert sorted(sessions(nugen_emulator)[:3]) == ["first", "from-the-model", "second"]
    assert sorted(sessions(nugen_emulator)[3:]) == ["first", "from-the-model", "second"]


def test_a_bound_session_id_wins_over_the_config(nugen_emulator: NugenEmulator) -> None:
    model = ChatNugen(**connect(nugen_emulator)).bind(session_id="bound")
    model.invoke("hello", {"configurable": {"session_id": "from-the-config"}})
    assert sessions(nugen_emulator) == ["bound"]


def test_runnable_with_message_history_sends_each_conversations_id(
    nugen_emulator: NugenEmulator,
) -> None:
    histories: dict[str, InMemoryChatMessageHistory] = {}
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chain = RunnableWithMessageHistory(
        prompt | ChatNugen(**connect(nugen_emulator)),
        lambda session_id: histories.setdefault(session_id, InMemoryChatMessageHistory()),
        input_messages_key="question",
        history_messages_key="history",
    )
    for conversation in ("alice", "bob", "alice"):
        chain.invoke({"question": "hi"}, {"configurable": {"session_id": conversation}})
    assert sessions(nugen_emulator) == ["alice", "bob", "alice"]
    assert len(histories["alice"].messages) == 4


def test_one_agent_serves_many_conversations(nugen_emulator: NugenEmulator) -> None:
    agent = create_agent(ChatNugen(**connect(nugen_emulator)), tools=[])
    for conversation in ("c-1", "c-2"):
        agent.invoke(
            {"messages": [("user", "hello")]}, {"configurable": {"session_id": conversation}}
        )
    assert sessions(nugen_emulator) == ["c-1", "c-2"]


@NEEDS_3_11
def test_one_async_agent_serves_many_conversations(nugen_emulator: NugenEmulator) -> None:
    agent = create_agent(ChatNugen(**connect(nugen_emulator)), tools=[])

    async def conversations() -> None:
        for conversation in ("c-1", "c-2"):
            await agent.ainvoke(
                {"messages": [("user", "hello")]}, {"configurable": {"session_id": conversation}}
            )

    asyncio.run(conversations())
    assert sessions(nugen_emulator) == ["c-1", "c-2"]
