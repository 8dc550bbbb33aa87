"""``ChatNugen``'s structured output parsers: LangChain's, made to raise on an answer that
is cut off or not the requested structure, where LangChain's would return a shorter value
or None as if it were the answer."""

import json
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, TypeGuard

from langchain_core import output_parsers as parsers
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, BaseMessage, BaseMessageChunk
from langchain_core.outputs import ChatGeneration, ChatResult, Generation
from langchain_core.runnables import Runnable, RunnableGenerator
from langchain_core.runnables.utils import AddableDict
from langchain_core.utils.json import parse_json_markdown
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel, SkipValidation


def with_parsed(result: ChatResult, kwargs: dict[str, Any]) -> ChatResult:
    """As ``ChatOpenAI``: a pydantic class bound as ``response_format`` puts each choice's
    answer, parsed, in its ``additional_kwargs["parsed"]`` (a stream's, on its last chunk)."""
    schema = parsed_format(kwargs)
    if schema is not None:
        for generation in result.generations:  # each choice of n
            message = generation.message
            message.additional_kwargs["parsed"] = parsed_answer(schema, message)
    return result


def parsed_format(kwargs: dict[str, Any]) -> type[BaseModel] | None:
    """The call's ``response_format`` when it is a pydantic class, else None."""
    schema = kwargs.get("response_format")
    return schema if isinstance(schema, type) and is_basemodel_subclass(schema) else None


def parsed_answer(schema: type[BaseModel], message: BaseMessage) -> BaseModel | None:
    """The whole answer as a ``schema`` object; None when it does not parse (where
    ChatOpenAI raises, losing the message)."""
    try:
        parsed: BaseModel = PydanticJsonParser(pydantic_object=schema).invoke(message)
    except OutputParserException:
        return None
    return parsed


def with_raw(parser: Runnable[BaseMessage, Any]) -> Runnable[BaseMessage, AddableDict]:
    """``include_raw``'s step: the raw answer's pieces as they come, then ``parsed`` and
    ``parsing_error`` from the whole answer. LangChain's fallback, which its own
    ``include_raw`` uses, catches no error raised once a stream has yielded."""

    def outcome(raw: BaseMessage) -> AddableDict:
        try:
            return AddableDict(parsed=parser.invoke(raw), parsing_error=None)
        except Exception as error:  # what that fallback catches
            return AddableDict(parsed=None, parsing_error=error)

    def pieces(raws: Iterator[BaseMessage]) -> Iterator[AddableDict]:
        whole: Any = None  # the one message of invoke, or a stream's chunks added up
        for raw in raws:
            whole = raw if whole is None else whole + raw
            yield AddableDict(raw=raw)
        if whole is not None:
            yield outcome(whole)

    async def apieces(raws: AsyncIterator[BaseMessage]) -> AsyncIterator[AddableDict]:
        whole: Any = None
        async for raw in raws:
            whole = raw if whole is None else whole + raw
            yield AddableDict(raw=raw)
        if whole is not None:
            yield outcome(whole)

    return RunnableGenerator(pieces, apieces, name="parse_with_raw")


def _is_last(result: list[Generation]) -> bool:
    message = getattr(result[0], "message", None)
    return getattr(message, "chunk_position", None) == "last" or _is_whole(message)


def _is_whole(message: Any) -> TypeGuard[BaseMessageChunk]:
    """The whole answer of a model that does not stream (``disable_streaming``), which
    LangChain hands a stream's parser as a plain ``BaseMessageChunk``, its tool calls lost."""
    return type(message) is BaseMessageChunk and message.type == "ai"


class _WholeAtTheEnd:
    """A stream's parser sees only partial results, and LangChain's JSON parsers yield
    nothing, and raise nothing, for text that never parses: the stream would end empty.
    Its last chunk is parsed as a whole answer, so such an answer raises."""

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        partial = partial and not _is_last(result)
        message = getattr(result[0], "message", None)
        refusal = getattr(message, "additional_kwargs", {}).get("refusal")
        if refusal and not partial:
            raise OutputParserException(f"the model refused: {refusal}")
        if _is_whole(message):
            result = [ChatGeneration(message=AIMessage(**message.model_dump()))]
        return super().parse_result(result, partial=partial)  # type: ignore[misc]


class _WholeJson(_WholeAtTheEnd):
    """A JSON answer cut off by ``max_tokens`` raises, as ``ChatOpenAI``'s does: LangChain's
    JSON parsing closes what the cut left open, so it would read as a shorter answer. The
    live service may end a cut answer with finish_reason "stop": a whole answer must also
    parse as strict JSON."""

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        message = getattr(result[0], "message", None)
        finish = getattr(message, "response_metadata", {}).get("finish_reason")
        if not (partial and not _is_last(result)):
            text = result[0].text
            if finish == "length":
                error = "the answer was cut off (finish_reason 'length'): raise max_tokens"
                raise OutputParserException(error, llm_output=text)
            if _only_leniently_json(text):
                error = "the answer is not complete JSON (cut off by max_tokens, or malformed)"
                raise OutputParserException(f"{error}: raise max_tokens", llm_output=text)
        return super().parse_result(result, partial=partial)


def _only_leniently_json(text: str) -> bool:
    """Whether ``text`` reads as JSON only once LangChain's lenient parse closes what was
    left open (a string, an object, a Markdown fence)."""
    try:
        parse_json_markdown(text, parser=lambda s: json.loads(s, strict=False))
    except ValueError as error:
        if getattr(error, "msg", None) == "Extra data":
            return False  # a complete value, then other text: nothing was cut
        try:
            parse_json_markdown(text)
        except ValueError:
            return False  # not JSON at all: the parser's own error says so
        return True
    return False


class PydanticJsonParser(_WholeJson, parsers.PydanticOutputParser[BaseModel]):
    pass


class JsonParser(_WholeJson, parsers.JsonOutputParser):
    # Redeclared: the parent's annotation names a type variable of another module, which
    # pydantic's mypy plugin cannot resolve in a subclass.
    pydantic_object: Annotated[type[BaseModel] | None, SkipValidation()] = None


class _CallRequired(_WholeAtTheEnd):
    """The parse of a forced tool call (``method="function_calling"``): an answer without
    a usable call of the tool raises, where LangChain's parsers would return None as if it
    were the answer (a call cut off by ``max_tokens``, a text reply)."""

    key_name: str

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        parsed = super().parse_result(result, partial=partial)
        if parsed is None and (not partial or _is_last(result)):
            message, name = getattr(result[0], "message", None), self.key_name
            finish = getattr(message, "response_metadata", {}).get("finish_reason")
            for call in getattr(message, "invalid_tool_calls", ()):
                if call.get("name") == name:
                    cut = " (cut off: raise max_tokens)" if finish == "length" else ""
                    error = f"the answer's call of the {name} tool has arguments that are not"
                    raise OutputParserException(
                        f"{error} complete, valid JSON{cut}", llm_output=call.get("args")
                    )
            error = f"the answer holds no call of the {name} tool (finish_reason {finish!r})"
            raise OutputParserException(error)
        return parsed


class PydanticCallParser(_CallRequired, parsers.PydanticToolsParser):
    key_name: str


class JsonCallParser(_CallRequired, parsers.JsonOutputKeyToolsParser):
    pass
