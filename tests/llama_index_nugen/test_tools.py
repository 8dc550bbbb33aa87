"""Tool calling: tool_choice, _prepare_chat_with_tools, validation and tool-call extraction."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, TextBlock, ToolCallBlock
from llama_index.core.tools import FunctionTool

from llama_index_nugen import Nugen
from llama_index_nugen._convert import completion_to_chat_response
from nugen_client import APIResponseValidationError
from nugen_client.types import ChatCompletion


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


ADD = FunctionTool.from_defaults(add)
MULTIPLY = FunctionTool.from_defaults(multiply)
NAMED_ADD = {"type": "function", "function": {"name": "add"}}


@pytest.mark.parametrize(
    ("tool_choice", "tool_required", "names", "expected"),
    [
        (None, False, ["add"], None),  # not set: left out, the service decides
        (None, True, ["add"], NAMED_ADD),  # forced with one tool: by name
        (None, True, ["add", "multiply"], "required"),  # forced with several
        ("auto", True, ["add"], "auto"),  # an explicit choice wins over tool_required
        ("none", False, ["add"], "none"),
        ("required", False, ["add"], NAMED_ADD),
        ("required", False, ["add", "multiply"], "required"),
        ("any", False, ["add", "multiply"], "required"),
        ("add", False, ["add", "multiply"], NAMED_ADD),
        (NAMED_ADD, False, ["add", "multiply"], NAMED_ADD),
    ],
)
def test_tool_choice_reaches_the_request(
    llm: Nugen, tool_choice: Any, tool_required: bool, names: list[str], expected: Any
) -> None:
    tools = [tool for tool in (ADD, MULTIPLY) if tool.metadata.name in names]
    prepared = llm._prepare_chat_with_tools(
        tools, user_msg="hi", tool_required=tool_required, tool_choice=tool_choice
    )
    request = llm._chat_request(prepared.pop("messages"), prepared)
    assert request.kwargs.get("tool_choice") == expected


def test_prepare_chat_with_tools_builds_specs_and_never_mutates_the_history(llm: Nugen) -> None:
    history = [
        ChatMessage(role="user", content="first"),
        ChatMessage(role="assistant", content="ok"),
    ]
    snapshot = copy.deepcopy(history)
    prepared = llm._prepare_chat_with_tools(
        [ADD, MULTIPLY], user_msg="add 1 and 2", chat_history=history, tool_required=True, top_k=3
    )
    assert history == snapshot
    assert [m.content for m in prepared["messages"]] == ["first", "ok", "add 1 and 2"]
    assert prepared["messages"][-1].role == "user"
    assert [t["function"]["name"] for t in prepared["tools"]] == ["add", "multiply"]
    assert prepared["tools"][0]["function"]["parameters"]["required"] == ["a", "b"]
    assert prepared["tool_choice"] == "required"
    assert prepared["top_k"] == 3


def test_prepare_chat_with_tools_single_tool_required_is_named(llm: Nugen) -> None:
    prepared = llm._prepare_chat_with_tools(
        [ADD], user_msg=ChatMessage(content="x"), tool_required=True
    )
    request = llm._chat_request(prepared.pop("messages"), prepared)
    assert request.kwargs["tool_choice"] == NAMED_ADD


def test_prepare_chat_with_tools_without_choice_sends_none(llm: Nugen) -> None:
    prepared = llm._prepare_chat_with_tools([ADD], chat_history=[ChatMessage(content="x")])
    assert "tool_choice" not in prepared


def test_prepare_chat_with_no_tools_sends_no_tool_fields(llm: Nugen) -> None:
    prepared = llm._prepare_chat_with_tools([], user_msg="x", tool_required=True)
    assert "tools" not in prepared
    assert "tool_choice" not in prepared


def _response(*blocks: Any, **kwargs: Any) -> ChatResponse:
    return ChatResponse(message=ChatMessage(role="assistant", blocks=list(blocks), **kwargs))


def _streaming(*blocks: Any, **kwargs: Any) -> ChatResponse:
    """A step of a stream that has not finished yet."""
    response = _response(*blocks, **kwargs)
    response.delta = ""
    return response


def test_validate_keeps_one_call_unless_parallel_calls_are_allowed(llm: Nugen) -> None:
    calls = [
        ToolCallBlock(tool_call_id="1", tool_name="add"),
        ToolCallBlock(tool_call_id="2", tool_name="multiply"),
    ]
    wire = [{"id": "1"}, {"id": "2"}]
    single = llm._validate_chat_with_tools_response(
        _response(TextBlock(text="t"), *calls, additional_kwargs={"tool_calls": wire}),
        [ADD, MULTIPLY],
    )
    assert [b.tool_call_id for b in single.message.blocks if isinstance(b, ToolCallBlock)] == ["1"]
    assert single.message.additional_kwargs["tool_calls"] == [{"id": "1"}]
    assert single.message.content == "t"
    parallel = llm._validate_chat_with_tools_response(
        _response(*calls), [ADD, MULTIPLY], allow_parallel_tool_calls=True
    )
    assert len(parallel.message.blocks) == 2


def test_get_tool_calls_reads_blocks(llm: Nugen) -> None:
    response = _streaming(
        ToolCallBlock(tool_call_id="1", tool_name="add", tool_kwargs={"a": 1, "b": 2}),
        ToolCallBlock(tool_call_id="2", tool_name="multiply", tool_kwargs='{"a": 3'),
    )
    selections = llm.get_tool_calls_from_response(response)
    assert [(s.tool_id, s.tool_name, s.tool_kwargs) for s in selections] == [
        ("1", "add", {"a": 1, "b": 2}),
        ("2", "multiply", {"a": 3}),
    ]


def test_get_tool_calls_reads_openai_style_additional_kwargs(llm: Nugen) -> None:
    sdk_like = SimpleNamespace(
        model_dump=lambda: {"id": "2", "function": {"name": "multiply", "arguments": '{"a": 2'}}
    )
    response = _streaming(
        TextBlock(text=""),
        additional_kwargs={
            "tool_calls": [
                {
                    "id": "1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 1}'},
                },
                sdk_like,
            ]
        },
    )
    selections = llm.get_tool_calls_from_response(response)
    assert [(s.tool_id, s.tool_name, s.tool_kwargs) for s in selections] == [
        ("1", "add", {"a": 1}),
        ("2", "multiply", {"a": 2}),
    ]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("", {}),
        ("{", {}),
        ('{"a": ', {"a": None}),  # a key whose value has not arrived yet
        ('{"a": 1, "b": ', {"a": 1, "b": None}),
        ('{"a": [1, 2', {"a": [1, 2]}),
        ('{"a": {"b": 1', {"a": {"b": 1}}),
        ("[1, 2]", {}),  # valid JSON, but not an object of arguments
        ("not json at all }", {}),
    ],
)
def test_get_tool_calls_reads_what_partial_arguments_hold_and_never_raises(
    llm: Nugen, arguments: str, expected: dict[str, Any]
) -> None:
    """FunctionAgent asks on every streamed chunk: what has arrived, as a dict."""
    response = _streaming(ToolCallBlock(tool_call_id="1", tool_name="add", tool_kwargs=arguments))
    (selection,) = llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
    assert (selection.tool_id, selection.tool_name, selection.tool_kwargs) == ("1", "add", expected)


def test_error_on_no_tool_call(llm: Nugen) -> None:
    response = _response(TextBlock(text="no tools today"))
    with pytest.raises(ValueError, match="Expected at least one tool call"):
        llm.get_tool_calls_from_response(response)
    assert llm.get_tool_calls_from_response(response, error_on_no_tool_call=False) == []


def test_streamed_structured_output_program_forces_the_tool(llm: Nugen) -> None:
    from llama_index.core.prompts import PromptTemplate
    from llama_index.core.types import PydanticProgramMode
    from pydantic import BaseModel

    class Album(BaseModel):
        title: str

    program = llm._program(Album, PromptTemplate("{x}"))
    assert program._tool_choice == "required"  # type: ignore[attr-defined]  # one tool: by name
    text_mode = llm.model_copy(update={"pydantic_program_mode": PydanticProgramMode.LLM})
    assert not hasattr(text_mode._program(Album, PromptTemplate("{x}")), "_tool_choice")
    no_tools = llm.model_copy(update={"is_function_calling_model": False})
    assert not hasattr(no_tools._program(Album, PromptTemplate("{x}")), "_tool_choice")
    # FUNCTION mode builds the same program, whose stream drops tool_required: the model
    # could answer in prose, and the stream end on an object of Nones.
    function_mode = llm.model_copy(update={"pydantic_program_mode": PydanticProgramMode.FUNCTION})
    program = function_mode._program(Album, PromptTemplate("{x}"))
    assert program._tool_choice == "required"  # type: ignore[attr-defined]


@pytest.mark.parametrize("arguments", ['{"path": "/srv/data/proj', "[1, 2]", '{"a": 1}{"b"'])
@pytest.mark.parametrize("finish_reason", ["length", None])
def test_a_finished_call_that_does_not_parse_is_an_error(
    llm: Nugen, arguments: str, finish_reason: str | None
) -> None:
    extras = {"finish_reason": finish_reason} if finish_reason else {}
    block = ToolCallBlock(tool_call_id="1", tool_name="read_file", tool_kwargs=arguments)
    whole = _response(block)
    whole.additional_kwargs = extras
    last_step = _streaming(block)
    last_step.additional_kwargs = {"finish_reason": "length"}
    wire = {"id": "1", "function": {"name": "read_file", "arguments": arguments}}
    openai_style = _response(TextBlock(text=""), additional_kwargs={"tool_calls": [wire]})
    for response in (whole, last_step, openai_style):
        with pytest.raises(APIResponseValidationError, match="'read_file' cannot be run"):
            llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)


def test_a_truncated_call_from_the_service_is_never_selected(llm: Nugen) -> None:
    completion = ChatCompletion.model_validate(
        {
            "choices": [
                {
                    "message": {
                        "tool_calls": [
                            {
                                "id": "c",
                                "function": {
                                    "name": "read_file",
                                    "arguments": '{"path": "/srv/data/proj',
                                },
                            }
                        ]
                    },
                    "finish_reason": "length",
                }
            ]
        }
    )
    with pytest.raises(APIResponseValidationError, match="cut off"):
        llm.get_tool_calls_from_response(completion_to_chat_response(completion))
