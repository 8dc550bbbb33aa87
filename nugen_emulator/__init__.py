"""NugenEmulator: a real HTTP stand-in for the Nugen inference API, for your tests.

This docstring is the emulator's behaviour spec (``python -m pydoc nugen_emulator``). It is
a stand-in for wire-format testing, not a model: it checks how a client talks to the
service, not answer quality.

Install and import
==================

``pip install "nugen-integrations[testing]"`` (starlette and uvicorn), then
``from nugen_emulator import NugenEmulator, Fault, RecordedRequest, DEFAULT_API_KEY``.
Without the extra, ``Fault``, ``RecordedRequest`` and ``DEFAULT_API_KEY`` still import, and
so does the package (cheaply: it holds the pytest plugin pytest loads wherever
nugen-integrations is installed); ``NugenEmulator`` (and ``python -m nugen_emulator``)
raises an ``ImportError`` that names the extra.

Running it
==========

- ``with NugenEmulator() as emu:`` (or ``emu = NugenEmulator().start()`` ... ``emu.stop()``):
  a server on 127.0.0.1, a free port, in a background thread; point a client at
  ``emu.base_url`` with ``emu.api_key`` (``test-key``). Options: :class:`NugenEmulator`.
- pytest: the fixtures ``nugen_emulator`` (nugen dialect) and ``nugen_emulator_openai``
  (:mod:`nugen_emulator.pytest_plugin`): one server per dialect per session, its faults
  and request log cleared before each test.
- A shell: ``python -m nugen_emulator --port 8000`` (``--dialect openai``, ``--host``,
  ``--api-key``, ``--no-auth``, ``--seed``, ``--forms``, ``--served-model``, ``--latency``,
  ``--access-log``) prints the base URL and key and serves until Ctrl-C or SIGTERM.

Conformance
===========

``python -m nugen_emulator conformance --base-url URL [--api-key KEY] [--json FILE]``
(key default ``$NUGEN_API_KEY``; ``--chat-model``, ``--vision-model``, ``--embedding-model``,
``--rerank-model``) sends 11 cheap requests to ``URL`` and to an embedded emulator: chat
whole, streamed and with a forced tool call, an image on ``/chat/completions`` and
``/chat/vision``, a text completion whole and streamed, embeddings, rerank, one 422 and
one 401. It compares structure, never text: the status, ``content-type``, whether
``x-request-id`` is present, every JSON path with its JSON type (``integer`` and ``float``
apart, ``null`` and ``absent`` apart), and for streams the order of event kinds
(``_timing``, chunks, the chunk with ``finish_reason``/``usage``, ``timing``, ``[DONE]``,
``after [DONE]``) with each kind's fields. It prints the differences (endpoint, field,
live, emulator; an object one side lacks is one row), writes them as JSON, and exits 0
when nothing differs, 1 when something does, 2 when ``URL`` cannot be reached. The key
never appears.

Dialects
========

``"nugen"`` (base path ``/api/v3/inference``) answers like the live ``api.nugen.in`` by
default (``forms="live"``): ids ``chatcmpl-...``, integer ``created``, ``object``, the
OpenAI SDK's null fields (``refusal``, ``annotations``, ``audio``, ``function_call``,
``tool_calls``, ``logprobs``, ``service_tier``, ``system_fingerprint``,
``usage.*_details``), and in every whole answer ``timing`` (``ttft_seconds``,
``throughput_tokens_per_second``, ``total_seconds``, a function of the token counts) and
``confidence`` (a score for the domain-aligned models ``nugen-legal``,
``nugen-lvm-legal`` and ``nugen-embed-legal``, else ``null``). A stream is the live
sequence: ``{"_timing": {"gpu_processing_seconds": ...}}``, a chunk with ``delta:
{"content": ""}``, the deltas (an empty one among them), one ``delta: {}`` chunk per
choice with its ``finish_reason`` (the last with ``usage`` and, for aligned models,
``confidence``), ``{"object": "timing", "timing": {...}}``, ``[DONE]``, and one chunk
after ``[DONE]`` (no ``choices``, the usage again). Faults count chunks, not the opening
timing event. Embeddings carry the live envelope (``id``, ``object: list``, float
``created``). ``/chat/vision`` answers like ``/chat/completions``.

``forms="reference"`` gives the provider's reference pages instead: float ``created`` (on
``/chat/vision`` ten times too large, as in the provider's example), no ``object`` on
vision replies and stream chunks, ``confidence_score`` (absent for other models), no
timing, usage on the final stream chunk with the last ``finish_reason``, nothing after
``[DONE]``. Both forms put reasoning in ``reasoning_content`` and errors as FastAPI's
``{"detail": [...]}`` (422) or ``{"detail": "..."}``. ``served_model=`` (a name, or a
function of the requested name) makes chat and text completion answers, in every form
and dialect, report another model than the one requested, as the live service names its
backend (``llama-3.2-3b-reasoning`` for ``llama-v3p2-3b-reasoning``).

``"openai"`` (base path ``/v1``): an OpenAI-compatible host such as NebulaBlock:
``object``, integer ``created``, ``system_fingerprint``, ``service_tier``,
``prompt_logprobs``, null ``*_tokens_details``, reasoning in ``reasoning``, a separate
final chunk for ``finish_reason`` and a usage chunk (empty ``choices``) only when
``stream_options.include_usage`` is true, errors as
``{"error": {"message", "type", "param", "code"}}``, and 400 (as vLLM-based hosts
answer) rather than 422 for invalid bodies. There is no ``/chat/vision``.

Endpoints
=========

Under ``base_url``: ``POST /chat/completions`` (JSON, or SSE with ``stream``),
``POST /chat/vision`` (nugen only; documented as non-streaming, so like the real FastAPI
service it ignores ``stream`` and other undocumented fields such as ``tools`` and
answers with one JSON completion), ``POST /embeddings``, ``POST /completions``
(``prompt`` instead of ``messages``), ``POST /reranker``. The nugen dialect also answers
``GET /api/v3/models/aligned`` (the inference base's sibling) with a fixed
``domain_aligned_models`` list: one ``DEPLOYED`` model whose ``endpoint`` is the
emulator's base URL, one ``UNDEPLOYED`` with id ``alignment-<alignment_id>``, every
documented field present. Every response, errors and unknown paths included, carries
``x-request-id`` and ``server: nugen-emulator`` headers. An unknown path gets 404 in the
dialect's error shape; a failure inside the emulator, a 500 in the dialect, logged on
the ``nugen_emulator`` logger.

Validation
==========

Before anything is generated: a missing or wrong bearer key gives 401 (``Not
authenticated`` / ``Invalid API key``; ``api_key=None`` accepts any). Then 422 with one
``detail`` entry per problem (``loc``, ``msg``, ``type`` as FastAPI + pydantic v2 write
them): an empty or non-JSON body, or one nesting lists and objects more than 64 levels
deep; missing ``model``; missing or empty ``messages``; a role other than
system/user/assistant/tool; missing content (an assistant turn may carry only
``tool_calls``); a tool message without ``tool_call_id``; ``name`` not matching
``^[A-Za-z0-9_]{1,64}$``; content parts other than ``text`` / ``image_url``; image URLs
that are neither ``https://`` nor a decodable ``data:image/...;base64,`` URL;
``temperature`` outside 0..2, ``top_p`` outside 0..1, ``max_tokens``/``n`` < 1
(``max_tokens`` < 0 on ``/completions``, where 0 gives an empty text); malformed
``tools``; a ``tool_choice`` naming a tool not in ``tools``; a malformed
``response_format`` or ``reasoning``; in the openai dialect, ``stream_options`` without
``stream``. Numbers and booleans are coerced like pydantic's lax mode (``"max_tokens":
"2000"`` is fine); undocumented fields are ignored.

The deterministic model
=======================

Same request, same answer (ids and ``created`` aside: see ``seed`` and ``created``).

Tokens are whitespace-separated words. ``prompt_tokens`` = for each message 1 + its words
+ 1 per image (+ tool-call argument words), plus the words of the JSON of the offered
tools, capped at ``prompt_truncate_len`` (default 1500); ``completion_tokens`` counts the
reply's words, each tool call's argument words + 1, and reasoning words;
``total_tokens`` is their sum. Usage is never null unless a fault asks for it.

Text: ``You asked: "<the last user message>".`` (cut at 60 words), then, when they
apply, a description of every image (``I received 2 images: image 1 is image/png, 68
bytes (inline base64); image 2 is a URL image hosted at example.com.``: nothing is
fetched), ``Earlier you said: "<the previous user message>".`` and ``The system prompt
says: "<...>".``. With ``n`` > 1, choice *i* > 0 starts with ``(Alternative i+1)``.
``stop`` cuts the text at the first stop sequence (``finish_reason="stop"``);
``max_tokens`` keeps the first ``max_tokens`` words (``finish_reason="length"``).

Stock prompts: those of LlamaIndex (text-QA, refine and tree-summarize, text and chat
forms; the context, condense-question and condense-plus-context chat engines' templates;
the ReAct header; the structured-output programs' JSON instructions) and LangChain (its
JSON format instructions) are recognised from the frameworks' own template constants,
when the framework is importable in the emulator's process (the table is
``nugen_emulator._prompts.SOURCES``). Hand-written prompts are recognised by their labels.

Retrieval-shaped answers (RAG prompts): when the request carries a context and a question
(a stock QA, refine or summarize template in the last user message; a stock context
template in the system prompt, the question being the user message; a ``Context:`` or
``... following context:`` block and a ``Question: ...`` line, in the user message or
across the system prompt and it; or the context in user messages sent just before the
question's, with no other turn between), the answer is the context sentence most similar
to the question, verbatim (whitespace collapsed): the cosine of the two sentences' bags of
words (see Embeddings), the first on ties. Lines, Markdown list items, headings and table
rows end a sentence as ``.``/``!``/``?`` do; fragments under 4 words, rules, code fences
and ``key: value`` metadata lines are never picked. No sentence sharing a word gives
``The context does not answer "<question>".``. A condense prompt ("rewrite the follow-up
as a standalone question") is answered with the follow-up itself, so the next retrieval
searches for its words. Retrieval, not reading: it proves a pipeline hands the right
chunks to the model, not that anything understood them.

ReAct (LlamaIndex's ``ReActAgent``): when the system prompt is LlamaIndex's ReAct header
and the request offers no ``tools``, the tools are read from the header's ``> Tool Name:``
/ ``Tool Args:`` entries and the question is the last user message that is not an
``Observation:``. A tool due by the rules for tools below (named or related, not yet
named in an ``Action:`` since the question) is called: ``Thought: ... I need to use a tool
...``, ``Action: <name>``, ``Action Input: <JSON>`` (arguments as below, from the question
and observations). Otherwise ``Thought: I can answer without using any more tools. I'll
use the user's language to answer`` and ``Answer: <the observations' text>``, or the
plain text reply to the question when there were no observations.

Tools: with tools offered and ``tool_choice`` not ``"none"``, the model calls
(``finish_reason="tool_calls"``, ids ``call_<hex>``, ``content`` null): the named tool
when ``tool_choice`` is ``{"type": "function", "function": {"name": ...}}`` (always);
otherwise the tools the last user message mentions, in order of mention, not called since
that message; when it mentions none and nothing was called since it, the one tool whose
name and description share most words with it (the first offered on ties; none when no
meaningful word is shared); with ``"required"`` and none left, the first offered tool not
called yet (else the first tool). A tool is mentioned by its exact name as a word (``use
get_weather``), or by every meaningful word of its name (``weather`` for ``get_weather``;
generic verbs like get/fetch/search/compute do not count). One call per turn, so an agent
told to use two tools calls the first, then (after its result) the second, then answers in
text; all at once with ``parallel_tool_calls: true``. After tool results the text quotes
them: ``The get_weather tool returned: "It's sunny.".`` (and describes images in them).
Anything else (another tool, other arguments, a failure) is scripted with the
``chat_reply`` hook.

Arguments satisfy the tool's JSON schema (``$ref``/``$defs``, ``anyOf``/``oneOf`` (first
non-null), ``allOf``, nested objects, arrays, enums, ``const``, min/max bounds, string
``format``), filling every property, in schema order, from literals in the last user
message and any tool results after it: numbers in order of appearance for
number/integer; for strings, quoted text and capitalised phrases that do not start a
sentence (``"in New York"`` gives ``"New York"``): a date-like one (``2024-05-01``, ``May
3``, ``Monday``) for a field whose name or description says date/day/when, the others for
other fields, and among those the one nearest after (or, at double the distance, before)
a word of the field's name or description (``severity 'mild'`` fills ``severity``), else
the first left; enum values the text mentions; ``true``/``false``/``yes``/``no`` for
booleans. An array of scalars takes every matching literal left once the other fields are
filled. Values an earlier tool call received since the last user message are not reused,
so each call of a multi-tool request gets its own. Without a literal: the schema's
default, else 1 (within bounds) for numbers, ``false``, ``"sample <property name>"``, or a
fixed value for ``date``/``date-time``/``email``/``uri``/``uuid`` formats. Patterns are
not honoured.

Structured output: ``response_format={"type": "json_schema", "json_schema": {"schema":
...}}`` answers with JSON satisfying the schema (same generator). ``{"type":
"json_object"}``, a stock JSON-instructions prompt (LangChain's format instructions,
LlamaIndex's structured-output programs) or a prompt that says "JSON" and shows an object
answers with an object shaped by the prompt (system and last user message): the last JSON
schema in it (an object with ``properties`` or ``"type": "object"``; braces a template
left doubled, ``{{...}}``, count) filled from the prompt's other text; else the structure
of the last example object in it (``{"symptoms": ["..."], "patient": {"age": 0}}``: lists
stay lists, nested objects nested, numbers and booleans keep their type), filled the same
way; else, for ``json_object``, the field names it lists in words (``with the keys name,
city and height_m``), else the words it puts in quotes or backticks (``'setup'`` and
``'punchline'``), as strings; a prompt naming none gets ``{"answer": <the text reply>}``.

Reasoning: ``reasoning`` with ``enabled: true``, an ``effort`` other than ``"none"``, or
``max_tokens`` makes the model reason: a short plan whose length grows with effort (cut to
``reasoning.max_tokens`` words), returned as ``reasoning_content`` (nugen) / ``reasoning``
(openai) unless ``exclude`` is true, and always counted in
``usage.completion_tokens_details.reasoning_tokens``.

Streaming: ``data: {chunk}`` events then ``data: [DONE]``. Reasoning and content arrive
one word per chunk, tool-call arguments in 8-character fragments after a first fragment
with ``id``/``name``; the first chunk of each choice has ``role``; choices of ``n`` > 1
are interleaved; ``finish_reason`` appears once per choice, on its last chunk; usage as
the dialect does (see above).

Text completions: each prompt (``prompt`` a string or a list) is answered as a chat of one
user message holding it would be (RAG, condense, JSON, ``n``, ``stop``, ``max_tokens``):
one choice per prompt and per ``n``, the prompts' choices in order; ``prompt_tokens``
counts the prompts' words; streamed one word per chunk. The ``nugen`` dialect answers in
the live shape: ``object: "text_completion"``, integer ``created``, a ``chatcmpl-`` id,
``logprobs: null``, ``system_fingerprint: null``, usage with null ``*_details``,
``timing`` (``ttft_seconds`` 0.05, ``throughput_tokens_per_second`` 50,
``total_seconds`` from the completion tokens) and ``confidence`` (null but for
domain-aligned models), on a stream's last chunk. A body without ``prompt`` gets a 422;
every fault of chat applies.

Embeddings: bag-of-words feature hashing, so texts sharing words get close vectors.
Words are runs of letters and digits, lower-cased (``_`` and punctuation split them);
English stop words ("the", "how", "do", ...) are dropped, and a plural/third-person ``s``
is cut (``tests`` -> ``test``). Each distinct word adds ``1 + ln(count)`` at a
SHA-256-hashed index with a hashed sign; the bag is scaled to unit length, then a unit
vector drawn from a hash of the whole text is mixed in at 1/20 of its weight (and the sum
scaled to unit length): texts sharing no word are near orthogonal but never exactly tied,
so a retriever's ranking does not fall back on random node ids. A text without any word
is that hashed vector alone. ``dimensions`` is honoured (default
``embedding_dimensions``, 384); ``encoding_format="base64"`` is supported.

Reranking: each document (a string, an object's ``text`` field, or else the object as
JSON) scores the bag-of-words cosine (``relevance_score``, 0 with no shared word);
``results`` most relevant first (ties in request order), cut to ``top_n``, each
``document`` as given when ``return_documents``. ``meta`` has ``method`` (default
``fast``), ``deployed_model_id`` (the requested model), ``model_cross`` for
``standard``/``optimal`` and ``stage1_top_k`` (default 100) for ``optimal``. 422 for a
missing ``model``/``query``/``documents``, an unknown ``method``, ``model_cross``
missing for ``standard``/``optimal``, ``top_n``/``stage1_top_k``/``max_tokens_per_doc``/
``batch_size`` below 1, and wrong types.

Latency: ``NugenEmulator(latency=(per_request, per_input))`` makes each valid
``/embeddings`` request wait ``per_request + per_input * len(input)`` seconds (a service's
compute time, e.g. ``(0.025, 0.0002)``); requests wait concurrently. Default: none.

Replacing the model's chat replies
==================================

``NugenEmulator(chat_reply=hook)``: ``hook(call)`` answers every valid chat request, and
every prompt of a valid text completion request (``call.endpoint`` says which), instead of
the model, or returns ``None`` to let the model answer. Validation, faults, rendering and
the request log stay the emulator's; an exception in the hook is a 500 whose message names
the hook and the exception. See :mod:`nugen_emulator.replies`.

Faults
======

``emu.inject(status=429, headers={"Retry-After": "0"}, times=2)`` (or
``emu.inject(Fault(...))``) arms a misbehaviour for the next matching requests, first in,
first out, one per request: an HTTP status with any body and headers (served before the
key and the body are checked), a delay before answering, a stream cut after *k* events
(cleanly, or by dropping the connection), a malformed event, an error event after the
200, a stall mid-stream, a connection dropped halfway through a JSON body, ``usage:
null``; optionally only for paths ending with ``path``. A status without a body gets the
dialect's error body; 402 says ``Insufficient balance: ...`` as the platform does when an
account runs out of credit. :class:`Fault` documents every field;
``emu.pending_faults`` counts what is still armed.

Request log
===========

Every request is recorded before it is answered and before any fault applies (so a test
can count retries): ``emu.requests`` (oldest first), ``emu.last_request``, each a
:class:`RecordedRequest` (method, path, query, lower-case headers, parsed JSON body, raw
body, and ``received_at`` in ``time.monotonic()`` seconds). The log keeps the last
``request_log_limit`` requests (default 1000) and at most 64 MiB of bodies, dropping the
oldest first (the newest is always kept). ``emu.reset()`` clears the log and the armed
faults. A client that leaves before its body is complete is neither recorded nor logged
as a failure; a stream whose client left stops writing quietly.

With a ``seed``, ids (``x-request-id``, response and tool-call ids) are drawn from the
seed and the request itself (and how many identical requests came before), so they repeat
run to run even when a client sends requests in parallel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nugen_emulator._records import Fault, RecordedRequest

if TYPE_CHECKING:
    from nugen_emulator._server import NugenEmulator

__all__ = [
    "DEFAULT_API_KEY",
    "Fault",
    "NugenEmulator",
    "RecordedRequest",
]

DEFAULT_API_KEY = "test-key"
_BASE_PATHS: dict[str, str] = {"nugen": "/api/v3/inference", "openai": "/v1"}
_DEFAULT_EMBEDDING_DIMENSIONS = 384
_SERVER_STACK = ("starlette", "uvicorn")
_INSTALL_HINT = (
    "nugen_emulator.NugenEmulator needs starlette and uvicorn ({missing} is not "
    'installed): pip install "nugen-integrations[testing]"'
)


def __getattr__(name: str) -> Any:
    # Imported on first use: the pytest plugin (imported with the package) stays cheap.
    if name == "NugenEmulator":
        try:
            from nugen_emulator._server import NugenEmulator
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            if missing in _SERVER_STACK:
                raise ImportError(_INSTALL_HINT.format(missing=missing), name=exc.name) from exc
            raise
        return NugenEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
