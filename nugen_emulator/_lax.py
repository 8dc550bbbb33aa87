"""Pydantic-v2 lax coercion, with the error details FastAPI puts in a 422 body.

The building blocks of ``_validation``: each helper takes a value from a request body,
returns it coerced (``"2000"`` -> 2000, as pydantic's lax mode does) or records the error
pydantic would report (``type``, ``loc`` from ``"body"``, ``msg``, ``input``, ``ctx``) and
returns ``None``, so one pass over a body reports every problem at once. ``required`` and
``optional`` read a field with one of them, and say what an absent or null field means.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Loc = tuple[str | int, ...]
MISSING: Any = object()  # a field absent from the body (``None`` is a value sent as null)
_MAX_ECHOED_INPUT = 1000


class InvalidBody(Exception):
    """Raised with the FastAPI-style ``detail`` list of everything wrong with a body."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{_loc_text(e['loc'])}: {e['msg']}" for e in errors))
        self.errors = errors


def _loc_text(loc: list[str | int]) -> str:
    return ".".join(str(part) for part in loc[1:]) or "body"


class Errors:
    """Collects every problem in a body, the way pydantic reports all of them at once."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(
        self,
        type_: str,
        loc: Loc,
        msg: str,
        value: Any,
        ctx: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(value, str) and len(value) > _MAX_ECHOED_INPUT:
            value = value[:_MAX_ECHOED_INPUT] + "..."
        item: dict[str, Any] = {"type": type_, "loc": ["body", *loc], "msg": msg, "input": value}
        if ctx:
            item["ctx"] = ctx
        self.items.append(item)

    def missing(self, loc: Loc, parent: Any) -> None:
        self.add("missing", loc, "Field required", parent)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidBody(self.items)


def literal_msg(options: tuple[str, ...]) -> str:
    quoted = [f"'{o}'" for o in options]
    return "Input should be " + ", ".join(quoted[:-1]) + " or " + quoted[-1]


N = TypeVar("N", int, float)
T = TypeVar("T")


@dataclass(frozen=True)
class _Numeric(Generic[N]):
    """How lax mode reads one numeric type, and the words pydantic's errors use for it."""

    name: str  # errors are f"{name}_type" and f"{name}_parsing"
    noun: str  # "Input should be a valid {noun}"
    article: str  # "unable to parse string as {article} {noun}"
    from_number: Callable[[Any], N | None]  # any other input but a bool; None if refused
    from_string: Callable[[str], N | None]  # raises ValueError when the text does not parse


def _integral(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _finite(value: Any) -> float | None:
    # pydantic refuses nan and infinities however they are written.
    if isinstance(value, (int, float)) and math.isfinite(number := float(value)):
        return number
    return None


_INTEGER = _Numeric("int", "integer", "an", from_number=_integral, from_string=int)
_NUMBER = _Numeric(
    "float", "number", "a", from_number=_finite, from_string=lambda text: _finite(float(text))
)


def _lax_number(
    errors: Errors, loc: Loc, value: Any, kind: _Numeric[N], ge: float | None, le: float | None
) -> N | None:
    result: N | None = None
    if isinstance(value, str):
        try:
            result = kind.from_string(value.strip())
        except ValueError:
            errors.add(
                f"{kind.name}_parsing",
                loc,
                f"Input should be a valid {kind.noun}, "
                f"unable to parse string as {kind.article} {kind.noun}",
                value,
            )
            return None
    elif not isinstance(value, bool):
        result = kind.from_number(value)
    if result is None:
        errors.add(f"{kind.name}_type", loc, f"Input should be a valid {kind.noun}", value)
        return None
    if ge is not None and result < ge:
        errors.add(
            "greater_than_equal",
            loc,
            f"Input should be greater than or equal to {_num(ge)}",
            value,
            {"ge": ge},
        )
        return None
    if le is not None and result > le:
        errors.add(
            "less_than_equal",
            loc,
            f"Input should be less than or equal to {_num(le)}",
            value,
            {"le": le},
        )
        return None
    return result


def lax_int(errors: Errors, loc: Loc, value: Any, *, ge: int | None = None) -> int | None:
    """An integer field in pydantic's lax mode: ints, integral floats, integer strings."""
    return _lax_number(errors, loc, value, _INTEGER, ge=ge, le=None)


def lax_float(
    errors: Errors, loc: Loc, value: Any, *, ge: float | None = None, le: float | None = None
) -> float | None:
    """A number field in pydantic's lax mode: ints, finite floats, numeric strings."""
    return _lax_number(errors, loc, value, _NUMBER, ge=ge, le=le)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


def lax_bool(errors: Errors, loc: Loc, value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    errors.add(
        "bool_parsing" if isinstance(value, str) else "bool_type",
        loc,
        "Input should be a valid boolean",
        value,
    )
    return None


def as_str(errors: Errors, loc: Loc, value: Any) -> str | None:
    if isinstance(value, str):
        return value
    errors.add("string_type", loc, "Input should be a valid string", value)
    return None


def as_dict(errors: Errors, loc: Loc, value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    errors.add("dict_type", loc, "Input should be a valid dictionary", value)
    return None


def as_model_dict(errors: Errors, loc: Loc, value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    errors.add(
        "model_attributes_type",
        loc,
        "Input should be a valid dictionary or object to extract fields from",
        value,
    )
    return None


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
    """``parent[key]`` as ``read`` takes it (``read(errors, loc, value, **options)``).

    None when the field is absent ("Field required", its ``input`` the parent) or ``read``
    refused the value; a null value is passed to ``read``, which refuses it.
    """
    value = parent.get(key, MISSING)
    if value is MISSING:
        errors.missing((*loc, key), parent)
        return None
    return read(errors, (*loc, key), value, **options)


def optional(
    errors: Errors, body: dict[str, Any], key: str, read: Callable[..., T | None], **options: Any
) -> T | None:
    """A top-level field that may be left out or sent as null, as ``Optional[...] = None``.

    None then, or when ``read`` refused the value; otherwise what ``read`` returned.
    """
    value = body.get(key)
    return None if value is None else read(errors, (key,), value, **options)
