"""Pydantic-v2 lax coercion, with the error details FastAPI puts in a 422 body.

Each reader takes a value from a request body and returns it coerced (``"2000"`` -> 2000,
as pydantic's lax mode does), or records the error pydantic would report (``type``,
``loc`` from ``"body"``, ``msg``, ``input``, ``ctx``) and returns ``None``, so one pass
over a body reports every problem at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

Loc = tuple[str | int, ...]
MISSING: Any = object()  # a field absent from the body (``None`` is a value sent as null)
_MAX_ECHOED_INPUT = 1000
_DICT_MSG = "Input should be a valid dictionary or object to extract fields from"
T = TypeVar("T")


class InvalidBody(Exception):
    """Raised with the FastAPI-style ``detail`` list of everything wrong with a body."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        where = [".".join(str(part) for part in e["loc"][1:]) or "body" for e in errors]
        super().__init__("; ".join(f"{w}: {e['msg']}" for w, e in zip(where, errors, strict=True)))
        self.errors = errors


def literal_msg(options: tuple[str, ...]) -> str:
    quoted = [f"'{o}'" for o in options]
    head = ", ".join(quoted[:-1])
    return "Input should be " + (f"{head} or {quoted[-1]}" if head else quoted[-1])


class Errors:
    """Collects every problem in a body, the way pydantic reports all of them at once."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(
        self, type_: str, loc: Loc, msg: str, value: Any, ctx: dict[str, Any] | None = None
    ) -> None:
        if isinstance(value, str) and len(value) > _MAX_ECHOED_INPUT:
            value = value[:_MAX_ECHOED_INPUT] + "..."
        item: dict[str, Any] = {"type": type_, "loc": ["body", *loc], "msg": msg, "input": value}
        if ctx:
            item["ctx"] = ctx
        self.items.append(item)

    def missing(self, loc: Loc, parent: Any) -> None:
        self.add("missing", loc, "Field required", parent)

    def value_error(self, loc: Loc, message: str, value: Any) -> None:
        self.add("value_error", loc, f"Value error, {message}", value)

    def literal(self, loc: Loc, options: tuple[str, ...], value: Any, *, ctx: bool = False) -> None:
        message = literal_msg(options)
        expected = {"expected": message.removeprefix("Input should be ")} if ctx else None
        self.add("literal_error", loc, message, value, expected)

    def pattern(self, loc: Loc, pattern: str, value: Any) -> None:
        message = f"String should match pattern '{pattern}'"
        self.add("string_pattern_mismatch", loc, message, value, {"pattern": pattern})

    def bound(self, loc: Loc, key: str, limit: float, value: Any) -> None:
        """``value`` is below ``limit`` (``key`` ``"ge"``) or above it (``"le"``)."""
        kind = "greater" if key == "ge" else "less"
        shown = str(int(limit)) if float(limit).is_integer() else str(limit)
        message = f"Input should be {kind} than or equal to {shown}"
        self.add(f"{kind}_than_equal", loc, message, value, {key: limit})

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidBody(self.items)


def _finite(value: Any) -> float | None:
    # pydantic refuses nan and infinities however they are written.
    if isinstance(value, (int, float)) and math.isfinite(number := float(value)):
        return number
    return None


def _lax_number(
    errors: Errors, loc: Loc, value: Any, integer: bool, ge: float | None, le: float | None
) -> Any:
    """An int (ints, integral floats, integer strings) or a finite float, in lax mode."""
    name, noun, article = ("int", "integer", "an") if integer else ("float", "number", "a")
    result: float | None = None
    if isinstance(value, str):
        try:
            result = int(value.strip()) if integer else _finite(float(value.strip()))
        except ValueError:
            message = f"Input should be a valid {noun}, unable to parse string as {article} {noun}"
            errors.add(f"{name}_parsing", loc, message, value)
            return None
    elif integer and isinstance(value, float) and value.is_integer():
        result = int(value)
    elif not isinstance(value, bool) and (isinstance(value, int) or not integer):
        result = _finite(value) if not integer else value
    if result is None:
        errors.add(f"{name}_type", loc, f"Input should be a valid {noun}", value)
    elif ge is not None and result < ge:
        errors.bound(loc, "ge", ge, value)
    elif le is not None and result > le:
        errors.bound(loc, "le", le, value)
    else:
        return result
    return None


def lax_int(errors: Errors, loc: Loc, value: Any, *, ge: int | None = None) -> int | None:
    result: int | None = _lax_number(errors, loc, value, True, ge, None)
    return result


def lax_float(
    errors: Errors, loc: Loc, value: Any, *, ge: float | None = None, le: float | None = None
) -> float | None:
    result: float | None = _lax_number(errors, loc, value, False, ge, le)
    return result


_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


def lax_bool(errors: Errors, loc: Loc, value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    kind = "bool_parsing" if isinstance(value, str) else "bool_type"
    errors.add(kind, loc, "Input should be a valid boolean", value)
    return None


def _typed(kind: type, error: str, message: str) -> Callable[[Errors, Loc, Any], Any]:
    def read(errors: Errors, loc: Loc, value: Any) -> Any:
        if isinstance(value, kind):
            return value
        errors.add(error, loc, message, value)
        return None

    return read


as_str: Callable[[Errors, Loc, Any], str | None] = _typed(
    str, "string_type", "Input should be a valid string"
)
as_dict: Callable[[Errors, Loc, Any], dict[str, Any] | None] = _typed(
    dict, "dict_type", "Input should be a valid dictionary"
)
as_model_dict: Callable[[Errors, Loc, Any], dict[str, Any] | None] = _typed(
    dict, "model_attributes_type", _DICT_MSG
)


def as_list(errors: Errors, loc: Loc, value: Any, *, min_len: int = 0) -> list[Any] | None:
    if not isinstance(value, list):
        errors.add("list_type", loc, "Input should be a valid list", value)
        return None
    if len(value) < min_len:
        errors.add(
            "too_short",
            loc,
            f"List should have at least {min_len} item after validation, not {len(value)}",
            value,
            {"field_type": "List", "min_length": min_len, "actual_length": len(value)},
        )
        return None
    return value


def required(
    errors: Errors,
    loc: Loc,
    parent: dict[str, Any],
    key: str,
    read: Callable[..., T | None],
    **options: Any,
) -> T | None:
    """``parent[key]`` as ``read(errors, loc, value, **options)`` takes it; None when absent
    ("Field required", its ``input`` the parent) or refused (null included)."""
    value = parent.get(key, MISSING)
    if value is MISSING:
        errors.missing((*loc, key), parent)
        return None
    return read(errors, (*loc, key), value, **options)


def optional(
    errors: Errors, body: dict[str, Any], key: str, read: Callable[..., T | None], **options: Any
) -> T | None:
    """A top-level field that may be absent or null (``Optional[...] = None``)."""
    value = body.get(key)
    return None if value is None else read(errors, (key,), value, **options)
