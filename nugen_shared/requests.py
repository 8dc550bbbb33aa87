"""How a request is built from an adapter's fields and a call's keywords, written once.

Everything both frameworks must agree on about a request lives here, so the two cannot
drift apart:

- :func:`chat_request`: a chat request from model fields, extra body fields and call
  keywords (later wins), with ``session_id`` / ``provider`` / ``extra_headers`` sent per
  call; :func:`completion_request`: the same rule for a text completion (``/completions``);
  :func:`embeddings_request` for embeddings; :func:`rerank_request` for reranking;
- :func:`tool_choice_to_wire`: every ``tool_choice`` form of both frameworks as the
  service's, converted once per request;
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from nugen_client import InvalidInputError
from nugen_client.params import ChatCompletionRequest, TextCompletionRequest

__all__ = [
    "CHAT_BODY_FIELDS",
    "COMPLETION_BODY_FIELDS",
    "chat_request",
    "completion_request",
    "embeddings_request",
    "rerank_request",
    "tool_choice_to_wire",
]

# Body fields of a chat request the client validates (its wire model's fields but the
# payload and ``stream``); any other name given as a call keyword or an extra body field
# goes into the body as it is.
CHAT_BODY_FIELDS: frozenset[str] = frozenset(ChatCompletionRequest.model_fields) - {
    "messages",
    "stream",
}

# The same for a text completion request.
COMPLETION_BODY_FIELDS: frozenset[str] = frozenset(TextCompletionRequest.model_fields) - {
    "prompt",
    "stream",
}
_FORCED = frozenset({"any", "required"})


# ------------------------------------------------------------------------------ tool_choice


def tool_choice_to_wire(
    tool_choice: str | bool | Mapping[str, Any] | None, tool_names: Sequence[str]
) -> str | dict[str, Any] | None:
    """Every ``tool_choice`` form of both frameworks as the service's ``tool_choice``.

    ``None`` / ``False``: not set (the field is left out). ``"auto"`` and ``"none"`` pass
    through. A forced call (LangChain ``"any"`` / ``True``, LlamaIndex
    ``tool_required=True``, ``"required"``) names the tool when exactly one is bound and is
    ``"required"`` with several. Any other string is a tool's name and becomes the
    specific-tool form; a dict is the wire form already. Whether a named tool is among
    the request's tools is the client's check, made once when it validates the request.
    Applying it to its own result changes nothing.

    Raises:
        InvalidInputError: a value of another type.
    """
    if tool_choice is None or tool_choice is False:
        return None
    if isinstance(tool_choice, Mapping):
        return dict(tool_choice)
    if tool_choice is True or tool_choice in _FORCED:
        if len(tool_names) == 1:
            return _named_tool(tool_names[0])
        return "required"
    if isinstance(tool_choice, str):
        return tool_choice if tool_choice in ("auto", "none") else _named_tool(tool_choice)
    raise InvalidInputError(
        f"tool_choice must be a str, bool or dict, got {type(tool_choice).__name__}"
    )


def _named_tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def _tool_names(tools: Any) -> list[str]:
    return [
        tool["function"]["name"]
        for tool in tools or ()
        if isinstance(tool, Mapping)
        and isinstance(tool.get("function"), Mapping)
        and isinstance(tool["function"].get("name"), str)
    ]


# --------------------------------------------------------------------------- chat request


def chat_request(
    messages: Sequence[Mapping[str, Any]],
    fields: Mapping[str, Any],
    extra_body: Mapping[str, Any],
    call: Mapping[str, Any],
    *,
    ignore: Collection[str] = (),
) -> dict[str, Any]:
    """The keyword arguments of one client chat call.

    Three layers, later wins: the model's ``fields`` (``model``, the sampling fields,
    ``stop``, ``session_id``, ``provider``, ``use_vision_endpoint``), its extra body
    fields (LangChain ``model_kwargs``, LlamaIndex ``additional_kwargs``: sent as they
    are, unvalidated), then the call's keywords. A chat body field
    (:data:`CHAT_BODY_FIELDS`) among the fields or keywords is validated by the client
    (``None`` clears it: unset fields are not sent). In every layer ``session_id`` /
    ``provider`` / ``extra_headers`` become this call's headers (never a setting of the
    cached client, so changing them never builds a new pool); ``timeout`` replaces the
    model's for this call (``None``: the model's); ``extra_body`` is merged; names in
    ``ignore`` (the framework's own keywords) are dropped; any other name with a value is
    sent as an unvalidated body field. ``tool_choice`` is converted once, here, for the
    request's tools (:func:`tool_choice_to_wire`); the client checks the result.
    """
    layered = _Layered(CHAT_BODY_FIELDS, ignore, ("messages", "stream"))
    layered.merge(fields, extra_body, call)
    body = layered.body
    body["tool_choice"] = tool_choice_to_wire(
        body.get("tool_choice"), _tool_names(body.get("tools"))
    )
    request: dict[str, Any] = {
        **body,
        "messages": messages,
        "endpoint": "vision" if layered.vision else "chat",
    }
    return layered.finish(request)


def completion_request(
    prompt: str | Sequence[str],
    fields: Mapping[str, Any],
    extra_body: Mapping[str, Any],
    call: Mapping[str, Any],
    *,
    ignore: Collection[str] = (),
) -> dict[str, Any]:
    """The keyword arguments of one client text completion call (``/completions``).

    The rule of :func:`chat_request`, with :data:`COMPLETION_BODY_FIELDS` as the
    validated body fields: any other field that has a value (a chat-only one such as
    ``reasoning`` included) is sent as an unvalidated body field, so what the user set is
    what is sent; ``use_vision_endpoint`` does not apply and is dropped. Several prompts
    are sent as one list (one choice, or ``n``, for each).
    """
    layered = _Layered(COMPLETION_BODY_FIELDS, ignore, ("prompt", "stream", "messages"))
    layered.merge(fields, extra_body, call)
    return layered.finish(
        {**layered.body, "prompt": prompt if isinstance(prompt, str) else list(prompt)}
    )


class _Layered:
    """The layers of a request (fields, extra body, call keywords) merged, later wins."""

    __slots__ = (
        "_body_fields",
        "_skip",
        "body",
        "headers",
        "provider",
        "session_id",
        "timeout",
        "unvalidated",
        "vision",
    )

    def __init__(
        self, body_fields: frozenset[str], ignore: Collection[str], skip: tuple[str, ...]
    ) -> None:
        self._body_fields = body_fields
        self._skip = frozenset(ignore) | frozenset(skip)
        self.body: dict[str, Any] = {}
        self.unvalidated: dict[str, Any] = {}
        self.headers: dict[str, str] = {}
        self.session_id: str | None = None
        self.provider: str | None = None
        self.timeout: float | None = None
        self.vision = False

    def merge(
        self, fields: Mapping[str, Any], extra_body: Mapping[str, Any], call: Mapping[str, Any]
    ) -> None:
        for layer in (fields, extra_body, call):
            for name, value in layer.items():
                if name in self._body_fields and layer is not extra_body:
                    self.body[name] = value
                    self.unvalidated.pop(name, None)
                elif name == "session_id":
                    self.session_id = value
                elif name == "provider":
                    self.provider = value
                elif name == "extra_headers":
                    self.headers.update(value or {})
                elif name == "timeout":
                    if value is not None:
                        self.timeout = value
                elif name == "extra_body":
                    self.unvalidated.update(value or {})
                elif name == "use_vision_endpoint":
                    self.vision = bool(value)
                elif name in self._skip:
                    continue
                elif value is not None:
                    self.unvalidated[name] = value

    def finish(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request`` with this call's session id, headers, timeout and extra body."""
        request["session_id"] = self.session_id
        headers = self.headers
        if self.provider:
            headers = {"X-Provider": self.provider, **headers}
        if headers:
            request["extra_headers"] = headers
        if self.timeout is not None:
            request["timeout"] = self.timeout
        if self.unvalidated:
            request["extra_body"] = self.unvalidated
        return request


def embeddings_request(
    model: str,
    texts: Sequence[str],
    *,
    dimensions: int | None,
    session_id: str | None,
    provider: str | None,
    extra_body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The keyword arguments of one client embeddings call; the headers follow the same
    rule as :func:`chat_request` (sent per call, never a setting of the cached client)."""
    request: dict[str, Any] = {
        "model": model,
        "input": list(texts),
        "dimensions": dimensions,
        "session_id": session_id,
    }
    if provider:
        request["extra_headers"] = {"X-Provider": provider}
    if extra_body:
        request["extra_body"] = dict(extra_body)
    return request


def rerank_request(
    model: str,
    query: str,
    documents: Sequence[str],
    *,
    top_n: int | None,
    options: Mapping[str, Any],
    session_id: str | None,
    provider: str | None,
) -> dict[str, Any]:
    """The keyword arguments of one client rerank call.

    ``top_n`` is at most the number of documents (``None``: every document comes back,
    scored); ``options`` are the reranker's other body fields (``method``,
    ``model_cross``, ...), each sent only when not None; the headers follow the rule of
    :func:`chat_request` (sent per call).
    """
    request: dict[str, Any] = {
        **options,
        "model": model,
        "query": query,
        "documents": list(documents),
        "top_n": None if top_n is None else min(top_n, len(documents)),
        "session_id": session_id,
        "provider": provider,
    }
    return request
