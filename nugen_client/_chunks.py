"""Stream handling written once, pure, shared by both clients and both adapters (sync and
async streams differ only in how bytes arrive): events into chunks and their completeness
(:class:`ChunkDecoder`), tool-call fragments into whole calls (:class:`ToolCallAccumulator`),
a stream into the whole answer it adds up to (:class:`StreamAccumulator`), and a whole
answer into chunks (:func:`completion_to_chunks`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from nugen_client._errors import (
    APIResponseValidationError,
    StreamInterruptedError,
    loads_error_json,
    make_status_error,
    redact,
)
from nugen_client._sse import Event
from nugen_client.types import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    FunctionCallDelta,
    ResponseMessage,
    TextChoice,
    TextCompletion,
    TextCompletionChunk,
    Timing,
    ToolCall,
    ToolCallDelta,
    Usage,
)

_DONE = "[DONE]"

_ChunkT = TypeVar("_ChunkT", ChatCompletionChunk, TextCompletionChunk)


@functools.cache
def _json_validator(model: type[BaseModel]) -> Callable[[str], Any]:
    """``model_validate_json`` without its Python wrapper (it runs once per streamed chunk),
    looked up once per process. The wire models are built on first use (``defer_build``):
    this is that use."""
    model.model_rebuild()
    return model.__pydantic_validator__.validate_json


class ChunkDecoder(Generic[_ChunkT]):
    """Decodes the events of one streamed response into chunks of the subclass's
    ``chunk_type`` and tracks its completeness (the same rules for chat and text
    completion streams)."""

    chunk_type: ClassVar[type[BaseModel]]

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.chunks_received = 0
        self.done = False
        self.finished = False
        self.usage_seen = False
        self._first_choice = False
        self._other_choice = False
        # The text of choice 0 so far, as pieces: what a broken stream's error carries.
        self._text: list[str] = []
        self._secrets = tuple(secrets)
        self._validate_json: Callable[[str], _ChunkT] = _json_validator(self.chunk_type)

    @property
    def complete(self) -> bool:
        """True once ``[DONE]`` or a choice with a ``finish_reason`` arrived."""
        return self.done or self.finished

    def decode(self, event: Event) -> _ChunkT | None:
        """The chunk an event carries, or None for keep-alives, empty events and
        ``[DONE]``, after which a reader stops (:attr:`done`): the live service sends one more
        chunk after it, the usage again, which would count twice. Timing events come back
        as choice-less chunks (``is_chunk`` False) so that what they carry is read. Runs
        once per streamed chunk: everything a chunk needs is done here, in one call."""
        data = event.data
        if not data:
            if event.event == "error":
                raise make_status_error(500, None, context="error event in stream")
            return None
        if data == _DONE:
            self.done = True
            self._check_choices()
            return None
        if event.event == "error" or '"error"' in data:
            self._raise_if_error_event(data, explicit=event.event == "error")
        try:
            chunk = self._validate_json(data)
            if chunk.__pydantic_extra__ and chunk.confidence_score is None:
                chunk._read_either_confidence()
        except ValidationError as exc:
            raise self._malformed(data, exc) from None
        choices = chunk.choices
        if choices or chunk.is_chunk:
            self.chunks_received += 1
        if chunk.usage is not None:
            self.usage_seen = True
        # Any: the two kinds of choice are told apart by their exact type, which costs less
        # than isinstance on a model class (an ABC), and a type checker cannot narrow by it.
        choice: Any
        for choice in choices:
            if choice.index == 0:
                self._first_choice = True
                if type(choice) is TextChoice:
                    piece = choice.text
                else:
                    piece = choice.delta.content
                    # A text completion's choice (``text``, no ``delta``) is an answer of
                    # another endpoint, and a whole answer's (``message``) holds no text a
                    # stream reads: checked where a delta holds no text, rather than by a
                    # validator that would run for every chunk of every stream.
                    if piece is None and "delta" not in choice.model_fields_set:
                        self._check_no_delta(choice.model_extra or {})
                if piece:
                    self._text.append(piece)
            else:
                self._other_choice = True
            if choice.finish_reason:
                self.finished = True
        return chunk

    @staticmethod
    def _check_no_delta(extra: dict[str, Any]) -> None:
        for key, what in (
            ("text", "an answer of another endpoint than /chat/completions"),
            ("message", "a whole answer sent as a stream event, whose text a stream cannot read"),
        ):
            if key in extra:
                raise APIResponseValidationError(
                    f"a stream choice has {key!r} but no 'delta': {what}", body=None
                )

    def _malformed(self, data: str, exc: ValidationError) -> APIResponseValidationError:
        # The data may echo the key (a proxy reflecting headers): never quote it, not
        # even the part of it before the cut.
        shown = redact(data, self._secrets)[:200]
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        problem = f"{where}: {first['msg']}" if where else first["msg"]
        return APIResponseValidationError(
            f"malformed stream event after {self.received}: {problem} (data: {shown!r})",
            body=shown,
        )

    def _check_choices(self) -> None:
        # Readers take choice 0: a stream without it would read as an empty answer (a whole
        # answer without choices is refused too).
        if not self._first_choice:
            problem = "no index 0 (the first choice)" if self._other_choice else "no choices"
            raise APIResponseValidationError(
                f"the stream's chunks have {problem}: the answer cannot be read", body=None
            )

    def _raise_if_error_event(self, data: str, *, explicit: bool) -> None:
        try:
            payload = loads_error_json(data)
        except ValueError:
            if explicit:
                raise make_status_error(
                    500, data, secrets=self._secrets, context="error event in stream"
                ) from None
            return  # not JSON: reported as malformed
        if not isinstance(payload, dict):
            return
        error = payload.get("error")
        if error is None and not explicit:
            return
        fields = error if isinstance(error, dict) else {}
        codes = (fields.get(key) for key in ("status_code", "status", "code"))
        status = next((code for code in codes if isinstance(code, int) and 400 <= code < 600), 500)
        raise make_status_error(
            status, payload, secrets=self._secrets, context="error event in stream"
        )

    @property
    def received(self) -> str:
        """``chunks_received`` in words, for error messages."""
        count = self.chunks_received
        return f"{count} chunk" if count == 1 else f"{count} chunks"

    def interrupted(self, cause: str) -> StreamInterruptedError:
        return StreamInterruptedError(
            f"the stream broke after {self.received}, before [DONE] or a "
            f"finish_reason ({cause}); the answer is incomplete",
            partial="".join(self._text),
            chunks_received=self.chunks_received,
        )

    def check_complete(self) -> None:
        """Raise :class:`StreamInterruptedError` if the stream ended early."""
        if not self.complete:
            raise self.interrupted("the connection closed")
        self._check_choices()


class StreamDecoder(ChunkDecoder[ChatCompletionChunk]):
    chunk_type = ChatCompletionChunk


class TextStreamDecoder(ChunkDecoder[TextCompletionChunk]):
    chunk_type = TextCompletionChunk


@dataclass(slots=True)
class ToolCallFragment:
    """One tool-call fragment, normalised: ``index`` is always set, ``id`` and ``name``
    appear only on the first fragment of a call."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(slots=True)
class _PendingCall:
    id: str = ""
    name: str = ""
    type: str = "function"
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class ToolCallAccumulator:
    """Joins streamed tool-call fragments into whole calls, in linear time.

    Fragments are matched by ``index``, else by ``id``, else continue the latest call. One
    that reuses an index with a *different* id (hosts that send every parallel call at
    index 0) starts a new call.
    """

    _calls: list[_PendingCall] = field(default_factory=list, init=False)
    _by_wire_index: dict[int, int] = field(default_factory=dict, init=False)
    _by_id: dict[str, int] = field(default_factory=dict, init=False)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def _slot_for(self, delta: ToolCallDelta) -> int:
        wire_index, call_id = delta.index, delta.id or None
        slot: int | None = None
        if wire_index is not None:
            slot = self._by_wire_index.get(wire_index)
            if slot is not None and call_id and self._calls[slot].id not in ("", call_id):
                slot = None  # same index, another id: a new call
        elif call_id is not None:
            slot = self._by_id.get(call_id)
        elif self._calls:
            slot = len(self._calls) - 1
        if slot is None:
            slot = len(self._calls)
            self._calls.append(_PendingCall())
            if wire_index is not None:
                self._by_wire_index[wire_index] = slot
        return slot

    def add(self, deltas: Iterable[ToolCallDelta]) -> list[ToolCallFragment]:
        """Take the tool-call deltas of one chunk; return them normalised."""
        fragments = []
        for delta in deltas:
            slot = self._slot_for(delta)
            call = self._calls[slot]
            new_id = None
            if delta.id and not call.id:
                call.id = new_id = delta.id
                self._by_id[delta.id] = slot
            if delta.type:
                call.type = delta.type
            function = delta.function
            new_name = None
            arguments = ""
            if function is not None:
                if function.name and not call.name:
                    call.name = new_name = function.name
                if function.arguments:
                    arguments = function.arguments
                    call.arguments.append(arguments)
            fragments.append(ToolCallFragment(slot, new_id, new_name, arguments))
        return fragments

    def tool_calls(self) -> list[ToolCall]:
        """The whole calls, in the order they started."""
        return [
            ToolCall(
                id=call.id,
                type=call.type,
                function=FunctionCall(name=call.name, arguments="".join(call.arguments)),
            )
            for call in self._calls
        ]


@dataclass(slots=True)
class _ChoiceState:
    role: str = "assistant"
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tools: ToolCallAccumulator = field(default_factory=ToolCallAccumulator)
    finish_reason: str | None = None


class StreamAccumulator:
    """Folds a stream of chunks into the equivalent complete response, in linear time.

    Text and reasoning are kept as pieces, joined by each :meth:`text` / :meth:`reasoning`
    call; with ``running_text=True`` they are kept joined as they grow, so those calls cost
    nothing: for frameworks whose every streamed step carries the whole answer so far
    (LlamaIndex).
    """

    def __init__(self, *, running_text: bool = False) -> None:
        self._running = running_text
        self._choices: dict[int, _ChoiceState] = {}
        self.id: str = ""
        """The response id ("" until a chunk carried it)."""
        self.model: str = ""
        """The model the service says it ran ("" until a chunk named it)."""
        self._created: float | None = None
        # The other RESPONSE_METADATA_FIELDS the stream sent.
        self._header: dict[str, Any] = {}
        self.usage: Usage | None = None
        self.timing: Timing | None = None
        """The service's timing of the stream: its opening and closing timing events."""

    def add(self, chunk: ChatCompletionChunk) -> dict[int, list[ToolCallFragment]]:
        """Take one chunk; return its tool-call fragments (normalised), by choice index
        (empty when the chunk has none)."""
        header = self._header
        # RESPONSE_METADATA_FIELDS and the model, read directly rather than by name in a
        # loop: this runs once per streamed chunk. The id, time and model are taken from
        # the first event that has them: the live stream opens with a timing event that
        # has none.
        if not (self.id or self.model) and (chunk.id or chunk.model):
            self.id, self._created, self.model = chunk.id, chunk.created, chunk.model
        if chunk.timing is not None or chunk.gpu_timing is not None:
            for timing in (chunk.gpu_timing, chunk.timing):
                if timing is not None:
                    self.timing = timing if self.timing is None else self.timing.merged(timing)
        if chunk.confidence_score is not None:
            header["confidence_score"] = chunk.confidence_score
        if chunk.system_fingerprint is not None:
            header["system_fingerprint"] = chunk.system_fingerprint
        if chunk.service_tier is not None:
            header["service_tier"] = chunk.service_tier
        if chunk.usage is not None:
            self.usage = chunk.usage
        fragments: dict[int, list[ToolCallFragment]] = {}
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _ChoiceState()
            delta = choice.delta
            if delta.role:
                state.role = delta.role
            if delta.content:
                if self._running and state.content:
                    state.content[0] += delta.content
                else:
                    state.content.append(delta.content)
            reasoning = delta.reasoning_text
            if reasoning:
                if self._running and state.reasoning:
                    state.reasoning[0] += reasoning
                else:
                    state.reasoning.append(reasoning)
            if delta.tool_calls:
                fragments[choice.index] = state.tools.add(delta.tool_calls)
            if choice.finish_reason:
                state.finish_reason = choice.finish_reason
        return fragments

    def text(self, index: int = 0) -> str:
        state = self._choices.get(index)
        # Joining one piece returns it as it is: with running_text, no copy.
        return "".join(state.content) if state else ""

    def reasoning(self, index: int = 0) -> str | None:
        state = self._choices.get(index)
        return "".join(state.reasoning) if state and state.reasoning else None

    def tool_calls(self, index: int = 0) -> list[ToolCall]:
        state = self._choices.get(index)
        return state.tools.tool_calls() if state else []

    def completion(self) -> ChatCompletion:
        """The response the stream adds up to."""
        choices = [
            Choice(
                index=index,
                message=ResponseMessage(
                    role=state.role,
                    content="".join(state.content) if state.content or not state.tools else None,
                    tool_calls=state.tools.tool_calls() or None,
                    reasoning_content="".join(state.reasoning) if state.reasoning else None,
                ),
                finish_reason=state.finish_reason,
            )
            for index, state in sorted(self._choices.items())
        ]
        return ChatCompletion(
            id=self.id,
            created=self._created,
            model=self.model,
            **self._header,
            choices=choices,
            usage=self.usage,
            timing=self.timing,
        )


def completion_to_chunks(completion: ChatCompletion) -> list[ChatCompletionChunk]:
    """A complete response as a stream, one chunk per choice, usage on the last: for
    ``/chat/vision``, which answers whole, and hosts that ignore ``stream: true``."""
    header = {"model": completion.model, **completion.header_metadata()}
    chunks = [
        ChatCompletionChunk(**header, choices=[_chunk_choice(choice)])
        for choice in completion.choices
    ] or [ChatCompletionChunk(**header)]
    chunks[-1].usage = completion.usage
    chunks[-1].timing = completion.timing
    return chunks


def _chunk_choice(choice: Choice) -> ChunkChoice:
    message = choice.message
    tool_calls = [
        ToolCallDelta(
            index=i,
            id=call.id,
            type=call.type,
            function=FunctionCallDelta(name=call.function.name, arguments=call.function.arguments),
        )
        for i, call in enumerate(message.tool_calls or ())
    ]
    delta = Delta(
        role=message.role or "assistant",
        content=message.text or None,
        tool_calls=tool_calls or None,
        reasoning_content=message.reasoning_text,
    )
    return ChunkChoice(index=choice.index, delta=delta, finish_reason=choice.finish_reason)


def text_completion_to_chunks(completion: TextCompletion) -> list[TextCompletionChunk]:
    """A whole text completion as a stream: one chunk per choice, usage on the last (for a
    host that ignores ``stream: true`` and answers with JSON)."""
    header = completion.model_dump(exclude={"choices", "usage"}, exclude_none=True)
    chunks = [TextCompletionChunk(**header, choices=[choice]) for choice in completion.choices]
    chunks = chunks or [TextCompletionChunk(**header)]
    chunks[-1].usage = completion.usage
    return chunks
