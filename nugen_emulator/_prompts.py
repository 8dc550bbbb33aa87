"""Which prompt a request carries, and what it holds: stock prompts from the frameworks'
own template constants (:data:`SOURCES`, so an upstream change is followed), prompts people
write (``Context: ... Question: ...``) by their labels."""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import json
import re
import string
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

Kind = Literal[
    "answer",
    "choice",
    "condense",
    "extract",
    "facts",
    "grade",
    "json",
    "keywords",
    "questions",
    "rating",
    "react",
    "relevant",
    "result",
    "select",
    "sql",
    "summary",
    "title",
    "verdict",
]

# What each stock template asks for, and where the framework keeps it. "answer": a context
# (and, in the same message or the next user message, a question) to answer from;
# "condense": rewrite a follow-up as a standalone question; "json": reply with JSON for
# the schema it shows; "react": the Thought/Action/Answer format of a ReAct agent;
# "relevant": YES or NO, is the context relevant to the question; "choice": which of the
# numbered documents answer the question, with a relevance score; "extract": the parts of
# the context that answer, or NO_OUTPUT; "summary": a question asking what the context is
# about; "select": pick from a numbered list of choices (a router's selector); "facts":
# the facts the conversation before it discloses, as <fact> tags, beyond the existing ones.
_QA, _ENGINE = "llama_index.core.prompts.", "llama_index.core.chat_engine."
_REACT, _PARSERS = "llama_index.core.agent.react.prompts", "langchain_core.output_parsers."
_CLASSIC = "langchain_classic.chains."
_COMPRESSORS = "langchain_classic.retrievers.document_compressors."
_TABLE: tuple[tuple[Kind, str, str], ...] = (
    ("answer", _QA + "default_prompts", "DEFAULT_TEXT_QA_PROMPT_TMPL DEFAULT_REFINE_PROMPT_TMPL"),
    ("answer", _QA + "default_prompts", "DEFAULT_TREE_SUMMARIZE_TMPL"),
    ("answer", _QA + "chat_prompts", "CHAT_TEXT_QA_PROMPT CHAT_REFINE_PROMPT"),
    ("answer", _QA + "chat_prompts", "CHAT_TREE_SUMMARIZE_PROMPT"),
    ("answer", _ENGINE + "context", "DEFAULT_CONTEXT_TEMPLATE DEFAULT_REFINE_TEMPLATE"),
    ("answer", _ENGINE + "condense_plus_context", "DEFAULT_CONTEXT_PROMPT_TEMPLATE"),
    ("answer", _ENGINE + "condense_plus_context", "DEFAULT_CONTEXT_REFINE_PROMPT_TEMPLATE"),
    ("condense", _ENGINE + "condense_question", "DEFAULT_TEMPLATE"),
    ("condense", _ENGINE + "condense_plus_context", "DEFAULT_CONDENSE_PROMPT_TEMPLATE"),
    # RetrievalQA / load_qa_chain "stuff" (text, and chat: the context in the system prompt)
    ("answer", _CLASSIC + "retrieval_qa.prompt", "prompt_template"),
    ("answer", _CLASSIC + "question_answering.stuff_prompt", "system_template"),
    ("condense", _CLASSIC + "conversational_retrieval.prompts", "_template"),
    # LLMChainExtractor (its prompt as built, a format string inside a format string),
    # LLMChainFilter, and LlamaIndex's LLMRerank and document-summary LLM retriever.
    ("extract", _COMPRESSORS + "chain_extract", "_get_default_chain_prompt"),
    ("relevant", _COMPRESSORS + "chain_filter_prompt", "prompt_template"),
    ("choice", _QA + "default_prompts", "DEFAULT_CHOICE_SELECT_PROMPT_TMPL"),
    ("choice", _QA + "chat_prompts", "CHAT_CONTENT_CHOICE_SELECT_PROMPT"),
    ("summary", "llama_index.core.indices.document_summary.base", "DEFAULT_SUMMARY_QUERY"),
    # The new Memory's FactExtractionMemoryBlock: extracting facts, and condensing them.
    ("facts", "llama_index.core.memory.memory_blocks.fact", "DEFAULT_FACT_EXTRACT_PROMPT"),
    ("facts", "llama_index.core.memory.memory_blocks.fact", "DEFAULT_FACT_CONDENSE_PROMPT"),
    ("react", _REACT, "REACT_CHAT_SYSTEM_HEADER CONTEXT_REACT_CHAT_SYSTEM_HEADER"),
    ("json", "llama_index.core.output_parsers.pydantic", "PYDANTIC_FORMAT_TMPL"),
    ("select", "llama_index.core.selectors.prompts", "DEFAULT_SINGLE_SELECT_PROMPT_TMPL"),
    ("select", "llama_index.core.selectors.prompts", "DEFAULT_MULTI_SELECT_PROMPT_TMPL"),
    ("json", _PARSERS + "format_instructions", "JSON_FORMAT_INSTRUCTIONS"),
    ("json", _PARSERS + "pydantic", "_PYDANTIC_FORMAT_INSTRUCTIONS"),
)
SOURCES: tuple[tuple[Kind, str, str], ...] = tuple(
    (kind, module, name) for kind, module, names in _TABLE for name in names.split()
)
# Stock templates known by a stable phrase of their constant (the template test checks
# each): "relevant" (LlamaIndex's faithfulness and relevancy evaluators), "grade" (its
# correctness one: a 1-5 score line, then why; against the query when it has no
# reference), "result" (its answer and context relevancy ones: why, then "[RESULT] n"),
# "summary" (LangChain's summarize chains and SummarizationMiddleware), LlamaIndex's
# metadata extractors, LangChain's string evaluators ("rating": why, then "Rating: [[n]]"
# out of 10; "verdict": "[[A]]", "[[B]]" or "[[C]]", which answer is better), and "sql": a
# query for the tables shown (LangChain's create_sql_query_chain, LlamaIndex's text-to-SQL).
_GRADE = "## User Query {query} ## Reference Answer {reference_answer} ## Generated Answer"
_ANSWER = "[Question] {input} [The Start of Assistant's Answer] {prediction} [The End of"
_ANSWERS = (
    "[User Question] {input} [The Start of Assistant A's Answer] {prediction} [The End{}"
    "B's Answer] {prediction_b} [The End of"
)
PHRASES: tuple[tuple[Kind, str], ...] = (
    ("relevant", "Answer: NO Information: {query_str} Context: {context_str} Answer:"),
    ("relevant", "otherwise NO. Query and Response: {query_str} Context: {context_str} Answer:"),
    ("relevant", "information: {query_str} We have{}YES/NO{}------------ {context_msg} ---"),
    ("grade", _GRADE + " {generated_answer}"),
    ("result", "is worth{}Query: {query} Response: {response} Feedback:"),
    ("result", "is worth{}Query: {query_str} Context: {context_str} Feedback:"),
    ("summary", 'Write a concise summary of the following: "{text}" CONCISE SUMMARY:'),
    ("summary", "summary up to a certain point: {existing_answer} We{}------------ {text} ---"),
    ("summary", "<messages> Messages to summarize: {messages} </messages>"),
    ("summary", "content of the section: {context_str} Summarize the key topics and entities"),
    ("title", "Context: {context_str}. Give a title that summarizes all"),
    ("title", "{context_str}. Based on the above candidate titles and content"),
    ("keywords", "{context_str}. Give {keywords} unique keywords for this document."),
    ("questions", "context: {context_str} Given the{}generate {num_questions} questions"),
    ("rating", "[Ground truth] {reference} Begin{}" + _ANSWER),
    ("rating", _ANSWER),
    ("verdict", "the user's question: {reference}" + _ANSWERS),
    ("verdict", _ANSWERS),
    ("sql", "Only use the following tables: {table_info} Question: {input}"),
    ("sql", "Only use tables listed below. {schema} Question: {query_str} SQLQuery:"),
)
# Template variables by what they hold.
_CONTEXT_SLOTS = (
    "existing_answer",
    "existing_facts",
    "context_str",
    "context_msg",
    "context",
    "context_messages",
    "context_list",
    "response",
    "generated_answer",
    "text",
    "messages",
    "prediction",
    "table_info",
    "schema",
)
_QUESTION_SLOTS = ("query_str", "question", "reference_answer", "query", "reference", "input")
# What LlamaIndex's correctness evaluator sends for no reference: no question (the query is).
_NO_REFERENCE = "(NO REFERENCE ANSWER SUPPLIED)"


@dataclass(frozen=True)
class Template:
    kind: Kind
    origin: str  # module.attribute, or the phrase
    pattern: re.Pattern[str]
    # A variable it opens with, kept out of the pattern (a leading group is retried at every
    # position: slow on long text that does not match): the text before the match.
    lead: str = ""
    # Words the text must hold for the pattern to be tried (a phrase's, longest first):
    # else each place its opening words occur starts a scan of the rest of the text.
    words: tuple[str, ...] = ()


@cache
def templates() -> tuple[Template, ...]:
    """The table: every template of :data:`SOURCES` whose framework is importable."""
    table: list[Template] = []
    for kind, module, attribute in SOURCES:
        try:
            value = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            continue  # the framework is not installed (the template test guards renames)
        table.extend(
            Template(kind, f"{module}.{attribute}", pattern) for pattern in _patterns(value)
        )
    for kind, phrase in PHRASES:
        lead, rest = phrase[1:].split("}", 1) if phrase[0] == "{" else ("", phrase)
        words = dict.fromkeys(re.sub(r"\{[^}]*\}", " ", rest).split())
        needed = tuple(sorted(words, key=len, reverse=True))
        table.extend(Template(kind, phrase, p, lead, needed) for p in [_compile(rest)] if p)
    return tuple(table)


@cache
def _of_kind(kind: Kind) -> tuple[Template, ...]:
    return tuple(template for template in templates() if template.kind == kind)


def recognise(text: str, kind: Kind) -> tuple[str | None, str | None] | None:
    """The (context, question) held by the first stock template of ``kind`` that ``text``
    was written from (``None`` for what it does not hold), or ``None``."""
    if (found := slots(text, kind)) is None:
        return None
    context = "\n".join(found[name] for name in _CONTEXT_SLOTS if found.get(name))
    asked = (found[name].strip() for name in _QUESTION_SLOTS if found.get(name))
    return context or None, next((q for q in asked if q != _NO_REFERENCE), None)


def slots(text: str, kind: Kind) -> dict[str, str] | None:
    """Each variable of the first stock template of ``kind`` that ``text`` was written from,
    as written, or ``None``."""
    for template in _of_kind(kind):
        if all(map(text.__contains__, template.words)) and (match := template.pattern.search(text)):
            return {template.lead: text[: match.start()]} | match.groupdict()
    return None


def _patterns(value: Any) -> list[re.Pattern[str]]:
    """Regexes for a template constant: a format string, a prompt template holding one, or a
    ``ChatPromptTemplate`` (one per message that has variables), or a function building
    one; any other kind gives none (the template test notices)."""
    if inspect.isfunction(value):
        value = value()
    if isinstance(getattr(value, "template", None), str):
        value = value.template
    if isinstance(getattr(value, "template_str", None), str):  # a Jinja RichPromptTemplate
        value = _from_jinja(value.template_str)
    if isinstance(value, str):
        texts = [value]
    else:
        messages = getattr(value, "message_templates", [])
        texts = [m.content for m in messages if isinstance(m.content, str) and "{" in m.content]
    return [pattern for text in texts if (pattern := _compile(text)) is not None]


_JINJA_LOOP = re.compile(
    r"{%-?\s*for \w+ in ([\w.]+)\s*-?%}(?:(?!{%-?\s*for ).)*?{%-?\s*endfor\s*-?%}", re.DOTALL
)
_JINJA_VARIABLE = re.compile(r"{{-?\s*([\w.]+)[^}]*}}")
_JINJA_TAG = re.compile(r"{%.*?%}|{#.*?#}", re.DOTALL)


def _from_jinja(template: str) -> str:
    """A Jinja template as a format string: each loop (innermost first) a variable named
    after what it iterates, each ``{{ name }}`` a variable, other tags dropped."""
    while match := _JINJA_LOOP.search(template):
        name = match[1].replace(".", "_")
        template = f"{template[: match.start()]}{{{name}}}{template[match.end() :]}"
    template = _JINJA_VARIABLE.sub(lambda match: "{" + match[1].replace(".", "_") + "}", template)
    return _JINJA_TAG.sub("", template)


def _compile(template: str) -> re.Pattern[str] | None:
    """A template as a regex: its literal words in order, any whitespace between them,
    each variable a named group. ``None`` for a template that is only variables."""
    pieces = list(string.Formatter().parse(template))
    if sum(len(literal.split()) for literal, _, _, _ in pieces) < 3:
        return None
    parts: list[str] = []
    named: set[str] = set()
    for i, (literal, name, _, _) in enumerate(pieces):
        words = literal.split()
        if words:
            parts.append(r"\s*".join(re.escape(word) for word in words))
        if name is None:
            continue
        # Greedy when only blank text follows, so the variable takes the rest of the text.
        last = all(not lit.strip() and n is None for lit, n, _, _ in pieces[i + 1 :])
        body = ".*" if last else ".*?"
        if name.isidentifier() and name not in named:
            named.add(name)
            parts.append(f"(?P<{name}>{body})")
        else:
            parts.append(f"(?:{body})")
    return re.compile(r"\s*".join(parts), re.DOTALL)


# -- Prompts people write: "Context: ... Question: ..." -----------------------------------------

_CONTEXT_LABEL_RE = re.compile(r"\bcontext(?: information)?[ \t]*:", re.IGNORECASE)
QUESTION_LABEL = re.compile(r"(?:^|\n)[ \t]*(?:query|question)[ \t]*:", re.IGNORECASE)
_BLOCK_END_RE = re.compile(
    r"\n[ \t]*(?:query|question|answer|helpful answer|context|instruction)[ \t]*:", re.IGNORECASE
)


def rag_prompt(text: str) -> tuple[str, str] | None:
    """The labelled (context block, question) of a hand-written RAG prompt, or ``None``."""
    questions = list(QUESTION_LABEL.finditer(text))
    contexts = list(_CONTEXT_LABEL_RE.finditer(text))
    if not questions or not contexts:
        return None
    question = _block(text, questions[-1].end()).strip()
    context = _block(text, contexts[-1].end())
    return (context, question) if question and context.strip() else None


def _block(text: str, start: int) -> str:
    """``text`` from ``start`` to the next label, or to its end."""
    end = _BLOCK_END_RE.search(text, start)
    return text[start : end.start() if end else len(text)]


def unlabelled(text: str, label: re.Pattern[str]) -> str:
    """``text`` without a leading ``Context:``/``Question:`` label."""
    match = label.match(text.lstrip())
    return text.lstrip()[match.end() :].strip() if match else text.strip()


CONTEXT_LABEL = re.compile(r"(?:context(?: information)?|documents?)[ \t]*:", re.IGNORECASE)


# -- ReAct (LlamaIndex's ReActAgent system header) -------------------------------------------

_REACT_TOOL_RE = re.compile(
    r"^> Tool Name: (?P<name>\S+)\s*\nTool Description: (?P<description>.*?)\nTool Args: ",
    re.MULTILINE | re.DOTALL,
)
# The tool names an earlier assistant turn of a ReAct loop asked for.
REACT_ACTION_RE = re.compile(r"^Action:\s*(\S+)", re.MULTILINE)
_REACT_INPUT_RE = re.compile(r"^Action Input:[ \t]*(.*)$", re.MULTILINE)
OBSERVATION_PREFIX = "Observation:"


def react_inputs(text: str) -> list[Any]:
    """The arguments of an earlier ReAct step's actions: JSON, or the Python dict
    LlamaIndex's ReActAgent writes back (``Action Input: {'city': 'Oslo'}``)."""
    values = [value for _, _, value in json_objects(text)]
    for match in _REACT_INPUT_RE.finditer(text):
        if json_objects(match[1]):
            continue  # read above
        with contextlib.suppress(ValueError, SyntaxError, TypeError, RecursionError):
            value = ast.literal_eval(match[1].strip())
            if isinstance(value, dict):
                values.append(value)
    return values


def react_tools(system_text: str) -> list[dict[str, Any]]:
    """The tools a ReAct header lists, as ``{"name", "description", "parameters"}``."""
    decoder = json.JSONDecoder()
    tools = []
    for match in _REACT_TOOL_RE.finditer(system_text):
        try:
            parameters, _ = decoder.raw_decode(system_text, match.end())
        except ValueError:
            parameters = {}
        about = {"name": match["name"], "description": match["description"].strip()}
        tools.append(about | {"parameters": parameters if isinstance(parameters, dict) else {}})
    return tools


# -- JSON instructions (``response_format: {"type": "json_object"}``) -------------------------

_FIELD_LIST_RE = re.compile(
    r"\b(?:keys|fields|properties|key|field)\b(?:\s+(?:named|called))?\s*:?\s*"
    r"(?P<names>[A-Za-z_]\w*(?:\s*(?:,\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+)[A-Za-z_]\w*)*)",
    re.IGNORECASE,
)
_NOT_FIELD_NAMES = frozenset({"a", "an", "the", "with", "in", "of", "for", "to", "that"})


def json_objects(text: str) -> list[tuple[int, int, Any]]:
    """Every JSON object embedded in ``text``: (start, end, value), in order."""
    decoder = json.JSONDecoder()
    found = []
    position = text.find("{")
    while position >= 0:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        found.append((position, end, value))  # an object: it opens with "{"
        position = text.find("{", end)
    return found


def schema_in(text: str) -> tuple[dict[str, Any], str] | None:
    """The JSON schema a prompt shows (the last one: format instructions show an example
    schema before the real one; else the structure of the last example object), and the
    prompt without any embedded JSON. Braces a template left doubled count too."""
    if "{{" in text:
        text = text.replace("{{", "{").replace("}}", "}")
    objects = json_objects(text)
    if not objects:
        return None
    schemas = [
        value
        for _, _, value in objects
        if isinstance(value.get("properties"), dict) or value.get("type") == "object"
    ]
    prose = text
    for start, end, _ in reversed(objects):  # from the end: earlier positions stay valid
        prose = prose[:start] + " " + prose[end:]
    return schemas[-1] if schemas else schema_of(objects[-1][2]), prose


def schema_of(example: Any) -> dict[str, Any]:
    """The JSON schema of an example value's structure."""
    if isinstance(example, dict):
        properties = {key: schema_of(value) for key, value in example.items()}
        return {"type": "object", "properties": properties, "required": list(properties)}
    if isinstance(example, list):
        return {"type": "array", "items": schema_of(example[0]) if example else {}}
    return {"type": {bool: "boolean", int: "integer", float: "number"}.get(type(example), "string")}


def field_names(text: str) -> list[str]:
    """Field names a prompt lists in words ("with the keys name, city and height_m")."""
    separators = r"\s*,\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+"
    lists = (re.split(separators, match["names"]) for match in _FIELD_LIST_RE.finditer(text))
    names = (name for names in lists for name in names if name)
    return list(dict.fromkeys(name for name in names if name.lower() not in _NOT_FIELD_NAMES))
