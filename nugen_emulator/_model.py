"""The emulator's deterministic "model": what it answers, and how many tokens that costs;
pure functions of the validated request (ids and timestamps are the server's)."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import re
import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

from nugen_emulator import _prompts
from nugen_emulator._schema_fill import Literals, fill, scalars
from nugen_emulator._validation import (
    CROSS_ENCODER_METHODS,
    ChatBody,
    CompletionBody,
    Message,
    OpenAIChatBody,
    RerankBody,
    as_list,
    describe_image_url,
    token_id_prompts,
)
from nugen_emulator._wire import Choice, Generation, ToolCall, count_tokens, pieces
from nugen_emulator._words import best_sentence, similarity, unit_vector, words
from nugen_emulator._words import sentences as split_sentences

_WORD_SPLIT_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# Verbs that say nothing about what a tool is for: "get_weather" is about "weather".
_GENERIC_TOOL_WORDS = frozenset(
    {"get", "set", "fetch", "find", "lookup", "look", "up", "search", "call", "run", "use"}
    | {"do", "make", "create", "compute", "calculate", "tool", "function", "the", "a", "an"}
    | {"of", "for", "to", "by", "and", "or", "with", "from", "in", "on", "at", "is", "my"}
)
_JSON_WORD_RE = re.compile(r"\bJSON\b", re.IGNORECASE)
_QUOTED_KEY_RE = re.compile(r"[\"'`]([A-Za-z_][A-Za-z0-9_]*)[\"'`]")
_CHOICE_RE = re.compile(r"^\((\d+)\) (.*)$", re.MULTILINE)  # "(2) Facts about birds"
# A table's name as a schema shows it: quoted as the dialect needs (LangChain's CREATE TABLE),
# or in LlamaIndex's quotes, which are not SQL's.
_TABLE_RE = re.compile(r"CREATE TABLE (\"[^\"]+\"|`[^`]+`|\[[^]]+]|[\w$.]+)|Table '([^']+)' has")
_EFFORT_EXTRA_STEPS = {"minimal": 0, "low": 1, "medium": 2, "high": 3, "xhigh": 4}


def quote(text: str, limit: int = 60) -> str:
    """``text`` on one line, cut to ``limit`` words, for quoting inside a reply."""
    words = text.split()
    cut = " ".join(words[:limit])
    return cut + " ..." if len(words) > limit else cut


def text_of(content: Any) -> str:
    """The text of a message's content (a string, or the text parts of a part list)."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []  # validated parts
    return " ".join(part["text"] for part in parts if part["type"] == "text")


def images_of(message: Message) -> list[str]:
    """What each of a message's images holds, in part order (their URLs proved valid)."""
    parts = message.content if isinstance(message.content, list) else []
    return [describe_image_url(p["image_url"]["url"]) for p in parts if p["type"] == "image_url"]


def tools_of(request: ChatBody) -> list[dict[str, Any]]:
    """The offered tools' functions (``name``, ``description``?, ``parameters``?), as sent."""
    return [tool.function.model_dump(exclude_unset=True) for tool in request.tools or []]


def describe_images(images: list[str]) -> str:
    """One sentence saying what arrived: count, mime type and decoded size, or URL host."""
    parts = [f"image {i} is {image}" for i, image in enumerate(images, start=1)]
    noun = "image" if len(images) == 1 else "images"
    return f"I received {len(images)} {noun}: " + "; ".join(parts) + "."


class _Conversation:
    """What the model pays attention to, extracted once from the messages."""

    def __init__(self, request: ChatBody) -> None:
        messages = request.messages
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        together = last_user  # the first of the user messages sent with the last one
        while together > 0 and messages[together - 1].role == "user":
            together -= 1
        user_texts = [text_of(m.content) for m in messages if m.role == "user"]
        call_names: dict[str, str] = {}
        self.called_since_user: list[str] = []
        self.used_values: list[Any] = []  # the arguments of the calls since the last user turn
        self.tool_results: list[tuple[str, str, list[str]]] = []  # since the last user turn
        for i, message in enumerate(messages):
            if message.role == "assistant":
                for call in message.tool_calls or []:
                    call_names[call.id] = call.function.name
                    if i > last_user:
                        self.called_since_user.append(call.function.name)
                        with contextlib.suppress(ValueError):  # arguments need not be JSON
                            self.used_values.extend(
                                scalars(json.loads(call.function.arguments, strict=False))
                            )
            elif message.role == "tool" and i > last_user:
                name = call_names.get(message.tool_call_id or "", message.name or "")
                result = (name or "tool", text_of(message.content), images_of(message))
                self.tool_results.append(result)
        self.last_user_text = user_texts[-1] if user_texts else ""
        self.earlier_user_text = user_texts[-2] if len(user_texts) > 1 else ""
        self.user_texts = user_texts
        # The user messages sent together with the last one, before it.
        together_texts = (text_of(m.content) for m in messages[together:last_user])
        self.preceding_user_text = "\n".join(together_texts)
        self.system_text = " ".join(text_of(m.content) for m in messages if m.role == "system")
        self.images = [image for message in messages for image in images_of(message)]


def prompt_tokens(request: ChatBody) -> int:
    """The request's prompt tokens (docs/emulator.md, Tokens), at most ``prompt_truncate_len``."""
    total = 0
    for message in request.messages:
        total += 1 + count_tokens(text_of(message.content)) + len(images_of(message))
        for call in message.tool_calls or []:
            total += 1 + count_tokens(call.function.arguments)
    if request.tools:
        total += count_tokens(json.dumps(tools_of(request)))
    return max(1, min(total, request.prompt_truncate_len or 1500))


def mentioned_tools(text: str, tools: list[dict[str, Any]]) -> list[str]:
    """The tools ``text`` mentions (docs/emulator.md, Tools), in order of first mention."""
    lower = text.lower()
    found: list[tuple[int, str]] = []
    for tool in tools:
        name = tool["name"]
        match = re.search(r"(?<![\w])" + re.escape(name.lower()) + r"(?![\w])", lower)
        if match:
            found.append((match.start(), name))
            continue
        words = [w.lower() for w in _WORD_SPLIT_RE.findall(name)]
        meaningful = [w for w in words if w not in _GENERIC_TOOL_WORDS and not w.isdigit()]
        positions = [
            re.search(r"(?<![\w])" + re.escape(w) + r"s?(?![\w])", lower) for w in meaningful
        ]
        if meaningful and all(positions):
            found.append((min(p.start() for p in positions if p), name))
    return [name for _, name in sorted(found)]


def related_tool(text: str, tools: list[dict[str, Any]]) -> list[str]:
    """The tool sharing most words with ``text`` (the first on ties) as a list, or ``[]``."""
    asked = set(words(text)) - _GENERIC_TOOL_WORDS
    about = [words(t["name"] + " " + str(t.get("description") or "")) for t in tools]
    shared = [len(asked & set(tool_words)) for tool_words in about]
    best = max(range(len(tools)), key=shared.__getitem__, default=None)  # the first on ties
    return [tools[best]["name"]] if best is not None and shared[best] else []


def _plan_tools(request: ChatBody, tools: list[dict[str, Any]], conv: _Conversation) -> list[str]:
    """Which tools to call now (names), per the documented policy; [] means answer in text."""
    choice = request.tool_choice
    if not tools or choice == "none":
        return []
    if isinstance(choice, dict):
        return [choice["function"]["name"]]
    remaining = _due_tools(conv.last_user_text, tools, conv.called_since_user)
    if choice == "required" and not remaining:
        uncalled = [t["name"] for t in tools if t["name"] not in conv.called_since_user]
        remaining = uncalled[:1] or [tools[0]["name"]]
    return remaining if request.parallel_tool_calls else remaining[:1]


def _literal_source(conv: _Conversation) -> str:
    return "\n".join([conv.last_user_text, *(text for _, text, _ in conv.tool_results)])


def _due_tools(text: str, tools: list[dict[str, Any]], called: list[str]) -> list[str]:
    """The tools ``text`` mentions not called since it, else (none called) the related one."""
    due = [name for name in mentioned_tools(text, tools) if name not in called]
    return due or ([] if called else related_tool(text, tools))


def _arguments(
    tools: list[dict[str, Any]], names: list[str], source: str, used: list[Any]
) -> list[str]:
    """Each named tool's arguments (JSON), filled from the literals of ``source``; those an
    earlier call took (``used``, and this turn's earlier calls) are not reused, so "weather
    in Boston and time in Paris" sends them apart."""
    by_name = {tool["name"]: tool for tool in tools}
    literals = Literals(source, exclude=list(by_name), used=used)
    empty = {"type": "object", "properties": {}}
    return [
        json.dumps(fill(by_name[n].get("parameters") or empty, literals, name=n)) for n in names
    ]


def _retrieval(conv: _Conversation) -> tuple[str, str] | None:
    """(context, question) of a RAG-shaped prompt (docs/emulator.md), or ``None``."""
    for text in (conv.last_user_text, conv.system_text):
        context, question = _prompts.recognise(text, "answer") or (None, None)
        if context is not None:
            return context, question or conv.last_user_text
    rag = _prompts.rag_prompt(conv.last_user_text)
    if rag is None and conv.system_text.strip():
        rag = _prompts.rag_prompt(conv.system_text + "\nQuestion: " + conv.last_user_text)
    if rag is None and conv.preceding_user_text.strip() and conv.last_user_text.strip():
        context = _prompts.unlabelled(conv.preceding_user_text, _prompts.CONTEXT_LABEL)
        return context, _prompts.unlabelled(conv.last_user_text, _prompts.QUESTION_LABEL)
    return rag


_DOCUMENT_RE = re.compile(r"^Document (\d+):\n", re.MULTILINE)
# A judging prompt's lowest and highest score ("result": per point its criteria are worth).
_GRADES: dict[_prompts.Kind, tuple[int, int, str]] = {
    "relevant": (0, 1, "{yes_no}"),
    "grade": (1, 5, "{score}.0\n{why}"),
    "result": (0, 2, "{why}\n[RESULT] {score}"),
    "rating": (1, 10, "{why}\nRating: [[{score}]]"),
}


def _digest(text: str) -> str | None:
    """For a stock prompt asking about a text: a summary (its first two sentences), a title
    (its first), keywords (its most frequent words, as many as asked), or questions (one
    about each of those, a line each); else ``None``."""
    for kind in ("summary", "title", "keywords", "questions"):
        context, _ = _prompts.recognise(text, kind) or (None, None)
        if context:
            context = re.sub(r"<[^>]*>", " ", context)  # the XML a message history is in
            opening = [" ".join(s.split()) for s in split_sentences(context)] or [quote(context)]
            if kind in ("summary", "title"):
                return " ".join(opening[:2]) if kind == "summary" else quote(opening[0], 10)
            count = re.search(r"(?:Give|generate) (\d+) ", text)  # keywords, questions
            top = [w for w, _ in Counter(words(context)).most_common(int(count[1]) if count else 5)]
            asked = (f"What does the text say about {word}?" for word in top)
            return ", ".join(top) if kind == "keywords" else "\n".join(asked)
    return None


def _sql(text: str) -> str | None:
    """For a stock text-to-SQL prompt, a query that runs on the schema it shows: the rows
    of the table the question names (else the first), as many as it allows (else 5)."""
    schema, question = _prompts.recognise(text, "sql") or (None, None)
    asked = set(words(question or ""))
    shown = _TABLE_RE.findall(schema or "")
    names = [quoted or '"{}"'.format(name.replace('"', '""')) for quoted, name in shown]
    tables = sorted(names, key=lambda t: -len(asked & set(words(t))))
    limit = re.search(r"at most (\d+) results", text)
    return f"SELECT * FROM {tables[0]} LIMIT {limit[1] if limit else 5}" if tables else None


def _relevance(text: str) -> str | None:
    """The answer to a stock relevance prompt, or ``None``: the sentence that answers or
    ``NO_OUTPUT`` (LangChain's LLMChainExtractor); ``YES`` or ``NO``, whether the context
    holds half the question's words (its LLMChainFilter, LlamaIndex's evaluators); a
    score for that share (LlamaIndex's correctness and relevancy evaluators, LangChain's
    string ones), or which of two answers holds the larger (its pairwise ones); or the
    numbered documents sharing a word with the question, most similar first, as
    ``Doc: 2, Relevance: 7`` lines (its LLMRerank)."""
    found = _prompts.recognise(text, "extract")
    if found is not None:
        return best_sentence(found[0] or "", found[1] or "") or "NO_OUTPUT"
    for kind, (low, high, reply) in _GRADES.items():
        found = _prompts.recognise(text, kind)
        if found is not None:  # for the share of the question's words the context holds
            asked = set(words(found[1] or ""))
            shared = len(asked & set(words(found[0] or "")))
            points = re.search(r"is worth (\d) points?\b", text) if kind == "result" else None
            high *= int(points[1]) if points else 1
            score = low + int((high - low) * shared / len(asked) + 0.5) if asked else low
            why = f"It covers {shared} of {len(asked)} key words."
            return reply.format(score=score, why=why, yes_no="YES" if score > low else "NO")
    pair = _prompts.slots(text, "verdict")
    if pair is not None:  # which answer holds more of the reference's (question's) words
        asked = set(words(pair.get("reference") or pair["input"]))
        a, b = (len(asked & set(words(pair[key]))) for key in ("prediction", "prediction_b"))
        verdict = "C" if a == b else "A" if a > b else "B"
        return f"A covers {a} and B {b} of {len(asked)} key words.\n[[{verdict}]]"
    found = _prompts.recognise(text, "choice")
    if found is None:
        return None
    parts = _DOCUMENT_RE.split(found[0] or "")
    scores = [
        (similarity(doc, found[1] or ""), int(n))
        for n, doc in zip(parts[1::2], parts[2::2], strict=True)
    ]
    lines = [
        f"Doc: {n}, Relevance: {max(1, round(10 * score))}"
        for score, n in sorted(scores, key=lambda pair: -pair[0])
        if score > 0
    ]
    return "\n".join(lines) or "None of the documents is relevant to the question."


def _text_answer(conv: _Conversation) -> str:
    sentences: list[str] = []
    if conv.tool_results:
        for name, text, images in conv.tool_results:
            said = f': "{quote(text)}".' if text.strip() else " no text."
            sentences.append(f"The {name} tool returned{said}")
            if images:
                sentences.append(describe_images(images))
        if conv.last_user_text.strip():
            sentences.append(f'That answers "{quote(conv.last_user_text, 30)}".')
        return " ".join(sentences)
    judged = _relevance(text := conv.last_user_text) or _digest(text) or _sql(text)
    if judged is not None:
        return judged
    found = _prompts.recognise(conv.last_user_text, "facts")
    if found is not None:  # the user's earlier sentences, each one fact, but the known ones
        known = re.findall(r"<fact>(.*?)</fact>", found[0] or "", re.DOTALL)
        told = [" ".join(s.split()) for text in conv.user_texts[:-1] for s in split_sentences(text)]
        new = [fact for fact in dict.fromkeys(told) if fact not in known]
        facts = "".join(f"\n  <fact>{fact}</fact>" for fact in new)
        return f"<facts>{facts}\n</facts>" if facts else "<facts></facts>"
    retrieval = _retrieval(conv)
    if retrieval is not None:  # the context sentence that best matches the question
        context, question = retrieval
        # Asked what the context is about (a document-summary index): its opening.
        opening = split_sentences(context)[:2] if _prompts.recognise(question, "summary") else []
        if opening:
            return " ".join(" ".join(sentence.split()) for sentence in opening)
        sentence = best_sentence(context, question)
        if sentence is None:
            return f'The context does not answer "{quote(question, 30)}".'
        return " ".join(sentence.split())
    _, follow_up = _prompts.recognise(conv.last_user_text, "condense") or (None, None)
    if follow_up:
        return follow_up  # as its own standalone question: retrieval uses its words
    if conv.last_user_text.strip():
        sentences.append(f'You asked: "{quote(conv.last_user_text)}".')
    else:
        sentences.append("You sent a message without text.")
    if conv.images:
        sentences.append(describe_images(conv.images))
    if conv.earlier_user_text.strip():
        sentences.append(f'Earlier you said: "{quote(conv.earlier_user_text, 30)}".')
    if conv.system_text.strip():
        sentences.append(f'The system prompt says: "{quote(conv.system_text, 30)}".')
    return " ".join(sentences)


def _json_answer(request: ChatBody, conv: _Conversation, text_answer: str) -> str | None:
    """JSON for ``response_format`` or for a stock prompt asking for JSON, else ``None``."""
    form = request.response_format
    kind = form.type if form is not None else None
    if form is not None and form.json_schema is not None and kind == "json_schema":
        schema = form.json_schema.schema_
        return json.dumps(fill(schema, Literals(_literal_source(conv))))
    instructions = conv.system_text + "\n" + conv.last_user_text
    embedded = _prompts.schema_in(instructions)
    # Asked for: by json_object, a stock JSON prompt, or a prompt saying JSON and showing it.
    shown = embedded is not None and _JSON_WORD_RE.search(instructions)
    if kind != "json_object" and not shown and _prompts.recognise(instructions, "json") is None:
        return None
    # A JSON schema in the prompt, else the structure of an example object in it, else the
    # field names it lists in words, else the keys it names in quotes, else one "answer".
    if embedded is not None:
        schema, prose = embedded
        source = "\n".join([prose, *(text for _, text, _ in conv.tool_results)])
        keys = list(schema.get("properties") or {})
        return json.dumps(fill(schema, Literals(source, exclude=keys)))
    keys = _prompts.field_names(instructions) or list(
        dict.fromkeys(_QUOTED_KEY_RE.findall(instructions))
    )
    if not keys:
        return json.dumps({"answer": text_answer})
    schema = {"type": "object", "properties": {key: {"type": "string"} for key in keys}}
    return json.dumps(fill(schema, Literals(_literal_source(conv), exclude=keys, listed=keys)))


_REACT_CALL = (
    "Thought: The current language of the user is: English. "
    "I need to use a tool to help me answer the question.\n"
)
_REACT_DONE = (
    "Thought: I can answer without using any more tools. I'll use the user's language to answer\n"
)


def _react_reply(request: ChatBody, conv: _Conversation) -> str | None:
    """A step of LlamaIndex's ReAct format when the system prompt is its header, or ``None``."""
    if request.tools or _prompts.recognise(conv.system_text, "react") is None:
        return None
    tools = _prompts.react_tools(conv.system_text)
    question = ""
    observations: list[str] = []
    called: list[str] = []
    used: list[Any] = []
    for message in request.messages:
        text = text_of(message.content)
        if message.role == "assistant":
            called.extend(_prompts.REACT_ACTION_RE.findall(text))
            for value in _prompts.react_inputs(text):
                used.extend(scalars(value))
        elif text.lstrip().startswith(_prompts.OBSERVATION_PREFIX):
            observations.append(text.lstrip()[len(_prompts.OBSERVATION_PREFIX) :].strip())
        elif message.role == "user":  # a new question: the steps before it answered another
            question, observations, called, used = text, [], [], []
    due = _due_tools(question, tools, called)[:1]
    if due:
        [arguments] = _arguments(tools, due, "\n".join([question, *observations]), used)
        return f"{_REACT_CALL}Action: {due[0]}\nAction Input: {arguments}"
    if observations:
        return _REACT_DONE + "Answer: " + " ".join(observations)
    plain = copy.copy(conv)
    plain.last_user_text, plain.system_text = question, ""
    return _REACT_DONE + "Answer: " + _text_answer(plain)


def _choice_reply(conv: _Conversation) -> str | None:
    """For a router's selector prompt, the numbered choice most similar to the question (the
    first on ties) as the JSON list its parser reads; else ``None``."""
    choices, question = _prompts.recognise(conv.last_user_text, "select") or (None, None)
    numbered = _CHOICE_RE.findall(choices or "")
    if not numbered or question is None:
        return None
    number, _ = max(numbered, key=lambda choice: similarity(question, choice[1]))
    return json.dumps([{"choice": int(number), "reason": "closest to the question"}])


def _reasoning(request: ChatBody, conv: _Conversation, plan: str) -> str | None:
    """The model's reasoning about ``plan``, when the request asks it to reason."""
    reasoning = request.reasoning
    if reasoning is None or reasoning.enabled is False or reasoning.effort == "none":
        return None
    if not (reasoning.enabled or reasoning.effort or reasoning.max_tokens):
        return None
    checks = _EFFORT_EXTRA_STEPS.get(reasoning.effort or "medium", 2)
    words = count_tokens(conv.last_user_text)
    steps = [
        f"The last user message has {words} words and the conversation has "
        f"{len(request.messages)} messages.",
        f"Plan: {plan}.",
    ]
    steps += [f"Check {n}: the plan still fits the request." for n in range(1, checks + 1)]
    return "".join(pieces(" ".join(steps))[: reasoning.max_tokens])  # all when it is None


def _apply_stop_and_limit(
    text: str, stop: str | list[str] | None, max_tokens: int | None
) -> tuple[str, str]:
    """Cut at the first stop sequence, then at ``max_tokens`` tokens ("length")."""
    stops = [s for s in as_list(stop or []) if s]
    text = text[: min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))]
    if max_tokens is None or len(tokens := pieces(text)) <= max_tokens:
        return text, "stop"
    return "".join(tokens[:max_tokens]), "length"


def _text_reply(request: ChatBody, conv: _Conversation) -> tuple[str, str, bool]:
    """The text to answer with, the plan reasoning describes, and whether the alternatives
    of ``n`` > 1 are numbered (not for ReAct steps or JSON)."""
    react = _react_reply(request, conv)
    if react is not None:
        return react, "follow the ReAct format", False
    choice = _choice_reply(conv)
    if choice is not None:
        return choice, "pick the choice closest to the question", False
    answer = _text_answer(conv)
    structured = _json_answer(request, conv, answer)
    if structured is not None:
        return structured, "reply with JSON", False
    plan = "answer with the tool results" if conv.tool_results else "quote the request back"
    return answer, plan, True


def generate_chat(request: ChatBody) -> Generation:
    """The reply to a validated chat request (specified in docs/emulator.md)."""
    conv = _Conversation(request)
    tools = tools_of(request)
    names = _plan_tools(request, tools, conv)
    text, plan, numbered = _text_reply(request, conv) if not names else ("", "", False)
    if names:
        arguments = _arguments(tools, names, _literal_source(conv), conv.used_values)
        plan = "call " + " and ".join(names)
    reasoning = _reasoning(request, conv, plan)
    shown = reasoning if request.reasoning and not request.reasoning.exclude else None
    limit = getattr(request, "max_completion_tokens", None) or request.max_tokens  # openai
    choices: list[Choice] = []
    for index in range(request.n or 1):
        if names:
            calls = [ToolCall(name, args) for name, args in zip(names, arguments, strict=True)]
            choice = Choice(content=None, finish_reason="tool_calls", tool_calls=calls)
        else:
            alternative = f"(Alternative {index + 1}) {text}" if index and numbered else text
            content, finish = _apply_stop_and_limit(alternative, request.stop, limit)
            choice = Choice(content=content, finish_reason=finish)
        choice.reasoning_tokens, choice.reasoning = count_tokens(reasoning or ""), shown
        choices.append(choice)
    return Generation(choices=choices, prompt_tokens=prompt_tokens(request))


def generate_completion(
    request: CompletionBody, answer: Callable[[ChatBody], Generation]
) -> Generation:
    """Each prompt answered by ``answer`` as a chat of one user message; the choices prompt
    by prompt, ``prompt_tokens`` the prompts' words."""
    choices: list[Choice] = []
    ids = token_id_prompts(request.prompt)  # each read as the numbers it holds
    prompts = as_list(request.prompt) if ids is None else [" ".join(map(str, i)) for i in ids]
    for prompt in prompts:
        # The request's own fields (stream_options in the openai dialect; prompt left out).
        message = Message.model_construct(role="user", content=prompt)
        chat = OpenAIChatBody.model_construct(**dict(request), messages=[message])
        choices.extend(answer(chat).choices)
    prompt_total = sum(count_tokens(p) for p in prompts)
    return Generation(choices=choices, prompt_tokens=max(1, prompt_total))


def embedding(text: str, dimensions: int, encoding_format: str | None) -> list[float] | str:
    """A unit-norm bag-of-words vector (texts that share words get close vectors); for
    ``encoding_format="base64"``, as little-endian float32, base64-encoded."""
    vector = unit_vector(text, dimensions)
    if encoding_format != "base64":
        return list(vector)
    return base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode("ascii")


def document_text(document: str | dict[str, Any]) -> str:
    """What a document says: itself, an object's ``text`` field, or else the whole object."""
    if isinstance(document, str):
        return document
    text = document.get("text")
    return text if isinstance(text, str) else json.dumps(document, sort_keys=True)


def rerank_body(request: RerankBody) -> dict[str, Any]:
    """``{"results": [...], "meta": {...}}``, most relevant first (ties in request order)."""
    scores = [similarity(request.query, document_text(d)) for d in request.documents]
    ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[: request.top_n]
    results = [
        {"index": i, "relevance_score": round(scores[i], 6)}
        | ({"document": request.documents[i]} if request.return_documents else {})
        for i in ranked
    ]
    method = request.method or "fast"
    meta: dict[str, Any] = {"method": method, "deployed_model_id": request.model}
    if method in CROSS_ENCODER_METHODS:
        meta["model_cross"] = request.model_cross
    if method == "optimal":  # the hybrid method: a first stage, then the cross-encoder
        meta["stage1_top_k"] = request.stage1_top_k or 100
    return {"results": results, "meta": meta}
