"""Build JSON values that satisfy a JSON schema, filled from literals found in a message
(``"weather in Boston in fahrenheit?"`` gives ``{"location": "Boston", "unit":
"fahrenheit"}``), so a test sees its tool-call arguments round-trip."""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Iterable, Iterator
from typing import Any

_NUMBER_RE = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w]|\.\d)")
_QUOTED_RE = re.compile(
    r"\"([^\"\n]{1,200})\"|(?<![\w])'([^'\n]{1,200})'(?![\w])|`([^`\n]{1,200})`"
)
_WORD_RE = re.compile(r"[A-Za-z][\w'-]*")
# Where a word opens the text, a line or a sentence.
_SENTENCE_START_RE = re.compile(r"(?:\A|[.!?:;\n])\s*")
_BOOL_RE = re.compile(r"\b(true|false|yes|no)\b", re.IGNORECASE)
# Capitalised words that are vocabulary rather than values the user wants passed on.
_NOT_VALUES = frozenset(
    {"I", "I'm", "I'd", "I'll", "JSON", "API", "URL", "ID", "AI", "LLM", "XML", "HTML", "CSV"}
    | {"YAML", "SQL", "HTTP", "HTTPS", "OK"}
)
_FORMAT_DEFAULTS = {"date": "2024-01-01", "date-time": "2024-01-01T00:00:00Z", "time": "00:00:00"}
_FORMAT_DEFAULTS |= {"email": "user@example.com", "hostname": "example.com"}
_FORMAT_DEFAULTS |= {"uri": "https://example.com/", "url": "https://example.com/"}
_FORMAT_DEFAULTS |= {"uuid": "00000000-0000-4000-8000-000000000000"}
_FORMAT_DEFAULTS |= {"ipv4": "127.0.0.1", "ipv6": "::1"}
_MAX_DEPTH = 8
_DATE_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug"
    r"|sep|oct|nov|dec)[a-z]*\.? \d{1,2}\b|\b(?:today|tomorrow|yesterday|(?:mon|tues|wednes|thurs"
    r"|fri|satur|sun)day)\b",
    re.IGNORECASE,
)
_DATE_FIELD_RE = re.compile(r"date|\bday\b|\bwhen\b", re.IGNORECASE)
_HINT_STOP_WORDS = frozenset({"the", "a", "an", "of", "to", "for", "in", "on", "and", "or", "is"})


def string_literals(text: str, exclude: Iterable[str] = ()) -> list[tuple[int, str]]:
    """Quoted text and capitalised phrases not starting a sentence ("in New York" gives
    ``"New York"``), with where they start, in order."""
    excluded = {e.lower() for e in exclude}
    found: list[tuple[int, str]] = []
    for match in _QUOTED_RE.finditer(text):
        value = next(g for g in match.groups() if g is not None).strip()
        if value and value.lower() not in excluded:
            found.append((match.start(), value))
    # Blank quoted text out (same length, so positions still sort): the comma ends a
    # phrase without starting a sentence.
    unquoted = _QUOTED_RE.sub(lambda m: "," + " " * (len(m.group(0)) - 1), text)
    sentence_starts = {m.end() for m in _SENTENCE_START_RE.finditer(unquoted)}
    phrases: list[tuple[int, str]] = []
    phrase_end = -1
    for match in _WORD_RE.finditer(unquoted):
        word = match.group(0).strip("'-")
        if not (
            word[:1].isupper()
            and match.start() not in sentence_starts
            and word not in _NOT_VALUES
            and word.lower() not in excluded
            and "_" not in word
        ):
            continue
        # One space from the last capitalised word (no other word between): the same phrase.
        if phrases and unquoted[phrase_end : match.start()] == " ":
            phrases[-1] = (phrases[-1][0], f"{phrases[-1][1]} {word}")
        else:
            phrases.append((match.start(), word))
        phrase_end = match.end()
    found += phrases
    first: dict[str, int] = {}  # each value where it first appears
    for start, value in sorted(found, key=lambda pair: pair[0]):
        first.setdefault(value, start)
    return [(start, value) for value, start in first.items()]


class Literals:
    """Values taken from the user's text, consumed in order as a schema is filled."""

    def __init__(
        self,
        text: str,
        exclude: Iterable[str] = (),
        used: Iterable[str | float] = (),
        listed: Iterable[str] = (),
    ) -> None:
        """``exclude``: words that are never values (tool names, JSON keys); ``used``:
        values an earlier tool call of this turn already took, so the next call gets fresh
        ones; ``listed``: field names the text lists ("with the fields name and city"), whose
        mentions say nothing about where their values are."""
        used_strings = {v.lower() for v in used if isinstance(v, str)}
        used_numbers = {float(v) for v in used if not isinstance(v, str)}
        self._lower = text.lower()
        self._listed = {name.lower() for name in listed}
        self.numbers = [
            m.group(0) for m in _NUMBER_RE.finditer(text) if float(m.group(0)) not in used_numbers
        ]
        self.strings = [
            (start, value)
            for start, value in string_literals(text, exclude)
            if value.lower() not in used_strings
        ]
        self.booleans = [m.group(1).lower() in ("true", "yes") for m in _BOOL_RE.finditer(text)]

    def take_string(self, hints: str = "") -> str | None:
        """The literal for a field described by ``hints`` (name, description), picked as
        docs/emulator.md says (Arguments and JSON values)."""
        if not self.strings:
            return None
        wants_date = bool(_DATE_FIELD_RE.search(hints))
        candidates = [
            i for i, (_, v) in enumerate(self.strings) if bool(_DATE_RE.search(v)) == wants_date
        ]
        candidates = candidates or list(range(len(self.strings)))
        # The words of the field's name and description the text may mention near its value.
        hint_words = re.findall(r"[a-z]{3,}", re.sub(r"([a-z])([A-Z])", r"\1 \2", hints).lower())
        mentions = [
            (m.start(), m.end())
            for word in dict.fromkeys(hint_words)
            if word not in _HINT_STOP_WORDS and word not in self._listed
            for m in re.finditer(r"(?<![\w])" + re.escape(word) + r"\w*", self._lower)
        ]
        best = candidates[0]
        if mentions:
            best = min(candidates, key=lambda i: self._distance(self.strings[i], mentions))
        return self.strings.pop(best)[1]

    @staticmethod
    def _distance(literal: tuple[int, str], mentions: list[tuple[int, int]]) -> int:
        """How far a literal is from the nearest mention; values usually follow their
        label ("severity 'mild'"), so a literal before a mention counts double."""
        start, value = literal
        end = start + len(value)
        return min(
            start - m_end if start >= m_end else 2 * max(0, m_start - end) + 1
            for m_start, m_end in mentions
        )

    def mentioned(self, options: list[Any]) -> list[Any]:
        """Enum options that appear in the text (as whole words), in order of appearance."""
        found: list[tuple[int, Any]] = []
        for option in options:
            if not isinstance(option, (str, int, float)) or isinstance(option, bool):
                continue
            pattern = r"(?<![\w])" + re.escape(str(option).lower()) + r"(?![\w])"
            match = re.search(pattern, self._lower)
            if match:
                found.append((match.start(), option))
        return [option for _, option in sorted(found, key=lambda pair: pair[0])]


def scalars(value: Any) -> Iterator[str | float]:
    """Every string and number inside a JSON value (to mark literals as used)."""
    if isinstance(value, (dict, list)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from scalars(item)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        yield value


def fill(schema: Any, literals: Literals, *, name: str = "value") -> Any:
    """A value valid against ``schema``, preferring literals from the user's text."""
    return _Filler(schema if isinstance(schema, dict) else {}, literals).value(schema, name, 0)


class _Filler:
    def __init__(self, root: dict[str, Any], literals: Literals) -> None:
        self.root = root
        self.literals = literals
        self.used_enum: set[str] = set()

    def resolve(self, raw: Any, depth: int) -> dict[str, Any]:
        """The schema with ``$ref`` followed, ``allOf`` merged and ``anyOf``/``oneOf`` chosen."""
        if not isinstance(raw, dict) or depth > _MAX_DEPTH * 4:
            return {}
        schema: dict[str, Any] = raw
        while "$ref" in schema and depth < _MAX_DEPTH:
            ref = schema["$ref"]
            target: Any = None
            if isinstance(ref, str) and ref.startswith("#"):
                target = self.root
                for part in filter(None, ref.lstrip("#").split("/")):
                    part = part.replace("~1", "/").replace("~0", "~")
                    target = target.get(part) if isinstance(target, dict) else None
            schema = {**_mapping(target), **{k: v for k, v in schema.items() if k != "$ref"}}
            depth += 1
        if "allOf" in schema and isinstance(schema["allOf"], list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for member in schema["allOf"]:
                sub = self.resolve(member, depth + 1)
                props = {**_mapping(sub.get("properties")), **_mapping(merged.get("properties"))}
                required = _names(sub.get("required")) + _names(merged.get("required"))
                merged = {**sub, **merged}
                if props:
                    merged["properties"] = props
                if required:
                    merged["required"] = required
            schema = merged
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                rest = {k: v for k, v in schema.items() if k != key}
                if all(isinstance(o, dict) and "const" in o for o in options):
                    return {**rest, "enum": [o["const"] for o in options]}  # Literal unions
                chosen = next(
                    (o for o in options if isinstance(o, dict) and o.get("type") != "null"),
                    options[0],
                )
                return self.resolve({**rest, **self.resolve(chosen, depth + 1)}, depth + 1)
        return schema

    def value(self, raw_schema: Any, name: str, depth: int) -> Any:
        schema = self.resolve(raw_schema, depth)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.enum(schema["enum"], schema)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        if depth >= _MAX_DEPTH:
            return {"object": {}, "array": [], "null": None}.get(kind, self.default(kind, schema))
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind in ("integer", "number"):
            return self.number(schema, integer=kind == "integer")
        if kind == "boolean":
            booleans = self.literals.booleans
            return booleans.pop(0) if booleans else bool(schema.get("default", False))
        if kind == "null":
            return None
        return self.string(schema, name)

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = _mapping(schema.get("properties"))
        # Lists take every matching literal, so they go last: scalars get first pick.
        order = sorted(properties, key=lambda key: self._is_list(properties[key], depth))
        values = {key: self.value(properties[key], key, depth + 1) for key in order}
        result = {key: values[key] for key in properties}
        for key in _names(schema.get("required")):
            if key not in result:
                result[key] = self.string({}, key)
        return result

    def _is_list(self, schema: Any, depth: int) -> bool:
        kind = self.resolve(schema, depth + 1).get("type")
        return kind == "array" or (isinstance(kind, list) and "array" in kind)

    def array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return [self.value(sub, name, depth + 1) for sub in prefix]
        items = self.resolve(schema.get("items", {}), depth + 1)
        min_items = _count(schema.get("minItems")) or 0
        limit = _count(schema.get("maxItems"))
        result: list[Any] = []
        kind = items.get("type")
        # A list of scalars takes every matching literal, so "add 1, 2 and 3" gives [1, 2, 3].
        if isinstance(items.get("enum"), list):
            result = list(self.literals.mentioned(items["enum"]))
        elif kind in ("integer", "number"):
            found = iter(lambda: self._number_literal(items, integer=kind == "integer"), None)
            result = list(itertools.islice(found, limit))
        elif kind == "string" and "format" not in items:
            while (limit is None or len(result) < limit) and self.literals.strings:
                result.append(self.string(items, name))
        while len(result) < max(min_items, 1 if not result else 0):
            result.append(self.value(items, name, depth + 1))
        return result[:limit]

    def enum(self, options: list[Any], schema: dict[str, Any]) -> Any:
        for option in self.literals.mentioned(options):
            key = repr(option)
            if key not in self.used_enum:
                self.used_enum.add(key)
                return option
        default = schema.get("default")
        return default if default in options else options[0]

    def _number_literal(self, schema: dict[str, Any], *, integer: bool) -> int | float | None:
        """The first number literal left that fits ``schema`` (taken), or ``None``."""
        numbers = self.literals.numbers
        for i, raw in enumerate(numbers):
            number = float(raw)
            if (number.is_integer() or not integer) and _within(number, schema):
                del numbers[i]
                return int(number) if integer or "." not in raw else number
        return None

    def number(self, schema: dict[str, Any], *, integer: bool) -> int | float:
        found = self._number_literal(schema, integer=integer)
        if found is not None:
            return found
        default = schema.get("default")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            return default
        fallback: int | float = self.default("integer" if integer else "number", schema)
        return fallback

    def default(self, kind: str, schema: dict[str, Any]) -> Any:
        if kind in ("integer", "number"):
            # 1 rather than 0: a divisor, a count or a page number all accept it.
            value: float = 1
            low, high = _bound(schema, "minimum"), _bound(schema, "maximum")
            low_x, high_x = _bound(schema, "exclusiveMinimum"), _bound(schema, "exclusiveMaximum")
            if low is not None:
                value = max(value, math.ceil(low) if kind == "integer" else low)
            if low_x is not None:
                value = max(value, math.floor(low_x) + 1)
            if high is not None:
                value = min(value, math.floor(high) if kind == "integer" else high)
            if high_x is not None:
                value = min(value, math.ceil(high_x) - 1)
            return int(value) if kind == "integer" else float(value)
        return {"boolean": False, "null": None}.get(kind, "sample")

    def string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMAT_DEFAULTS:
            return _FORMAT_DEFAULTS[fmt]
        description = schema.get("description")
        hints = name + " " + (description if isinstance(description, str) else "")
        found = self.literals.take_string(hints)
        if found is None:
            default = schema.get("default")
            found = default if isinstance(default, str) else f"sample {name.replace('_', ' ')}"
        found = found[: _count(schema.get("maxLength"))]
        return found.ljust(_count(schema.get("minLength")) or 0, "_")


_MAX_GENERATED = 256  # caps minItems/minLength: a hostile schema must not exhaust memory


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _names(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _bound(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return min(value, _MAX_GENERATED)
    return None


_CHECKS = {"minimum": operator.ge, "maximum": operator.le}
_CHECKS |= {"exclusiveMinimum": operator.gt, "exclusiveMaximum": operator.lt}


def _within(number: float, schema: dict[str, Any]) -> bool:
    bounds = ((_bound(schema, key), check) for key, check in _CHECKS.items())
    return all(bound is None or check(number, bound) for bound, check in bounds)
