"""Prompt shapes the emulator's model recognises: RAG templates, ReAct, JSON instructions.

Frameworks put structure into plain text (a context block and a question, a tool list and
a Thought/Action format, a JSON schema to follow). These functions find that structure;
``_model.py`` decides what to answer with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# LlamaIndex's text-QA and refine templates ("Context information is below.\n-----\n...");
# LangChain's RAG prompts label a block "Context:" or end a sentence with "... context:".
_LLAMA_CONTEXT_RE = re.compile(r"context information is below\.?\s*\n", re.IGNORECASE)
_RULE_RE = re.compile(r"^\s*-{3,}\s*$", re.MULTILINE)
_CONTEXT_LABEL_RE = re.compile(r"\bcontext(?: information)?[ \t]*:", re.IGNORECASE)
_QUESTION_LABEL_RE = re.compile(r"(?:^|\n)[ \t]*(?:query|question)[ \t]*:", re.IGNORECASE)
_BLOCK_END_RE = re.compile(
    r"\n[ \t]*(?:query|question|answer|helpful answer|context|instruction)[ \t]*:", re.IGNORECASE
)


@dataclass(frozen=True)
class RagPrompt:
    context: str
    question: str


def rag_prompt(text: str) -> RagPrompt | None:
    """The context block and the question of a RAG prompt, or ``None`` if it is not one."""
    questions = list(_QUESTION_LABEL_RE.finditer(text))
    if not questions:
        return None
    question_start = questions[-1].end()
    end = _BLOCK_END_RE.search(text, question_start)
    question = text[question_start : end.start() if end else len(text)].strip()
    context = _context_block(text, exclude=(questions[-1].start(), end.start() if end else None))
    if not question or context is None or not context.strip():
        return None
    return RagPrompt(context=context, question=question)


def _context_block(text: str, exclude: tuple[int, int | None]) -> str | None:
    llama = _LLAMA_CONTEXT_RE.search(text)
    if llama:
        rules = list(_RULE_RE.finditer(text, llama.end()))
        if len(rules) >= 2:
            return text[rules[0].end() : rules[1].start()]
        return None
    labels = [m for m in _CONTEXT_LABEL_RE.finditer(text) if m.start() != exclude[0]]
    if not labels:
        return None
    start = labels[-1].end()
    end = _BLOCK_END_RE.search(text, start)
    return text[start : end.start() if end else len(text)]


# LlamaIndex's chat engines first ask the model to condense the history and the follow-up
# into one standalone question ("... Follow Up Input: {question}\nStandalone question:").
_FOLLOW_UP_RE = re.compile(
    r"^[ \t]*Follow Up Input:[ \t]*(?P<question>.*?)\s*\n[ \t]*Standalone question:\s*\Z",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)


def follow_up_question(text: str) -> str | None:
    """The follow-up a condense-question prompt asks to rephrase, or ``None``."""
    match = _FOLLOW_UP_RE.search(text)
    return match["question"].strip() or None if match else None


# -- ReAct (LlamaIndex's ReActAgent system header) -------------------------------------------

_REACT_TOOL_RE = re.compile(
    r"^> Tool Name: (?P<name>\S+)\s*\nTool Description: (?P<description>.*?)\nTool Args: ",
    re.MULTILINE | re.DOTALL,
)
_REACT_ACTION_RE = re.compile(r"^Action:\s*(\S+)", re.MULTILINE)
OBSERVATION_PREFIX = "Observation:"


def is_react(system_text: str) -> bool:
    return "Action Input:" in system_text and "Thought:" in system_text


def react_tools(system_text: str) -> list[dict[str, Any]]:
    """The tools a ReAct header lists, as ``{"name", "description", "parameters"}``."""
    decoder = json.JSONDecoder()
    tools = []
    for match in _REACT_TOOL_RE.finditer(system_text):
        try:
            parameters, _ = decoder.raw_decode(system_text, match.end())
        except ValueError:
            parameters = {}
        tools.append(
            {
                "name": match.group("name"),
                "description": match.group("description").strip(),
                "parameters": parameters if isinstance(parameters, dict) else {},
            }
        )
    return tools


def react_actions(assistant_text: str) -> list[str]:
    """The tool names an earlier assistant turn of a ReAct loop asked for."""
    return _REACT_ACTION_RE.findall(assistant_text)


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
        if isinstance(value, dict):
            found.append((position, end, value))
        position = text.find("{", end)
    return found


def schema_in(text: str) -> tuple[dict[str, Any], str] | None:
    """The last JSON schema the text carries, and the text without any embedded JSON.

    The last one, because format instructions (LangChain's ``PydanticOutputParser``) show
    an example schema before the real one.
    """
    objects = json_objects(text)
    schemas = [value for _, _, value in objects if _looks_like_schema(value)]
    if not schemas:
        return None
    rest, cursor = [], 0
    for start, end, _ in objects:
        rest.append(text[cursor:start])
        cursor = end
    rest.append(text[cursor:])
    return schemas[-1], " ".join(rest)


def _looks_like_schema(value: dict[str, Any]) -> bool:
    return isinstance(value.get("properties"), dict) or value.get("type") == "object"


def field_names(text: str) -> list[str]:
    """Field names a prompt lists in words ("with the keys name, city and height_m")."""
    names: list[str] = []
    for match in _FIELD_LIST_RE.finditer(text):
        for name in re.split(r"\s*,\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+", match["names"]):
            if name and name.lower() not in _NOT_FIELD_NAMES and name not in names:
                names.append(name)
    return names
