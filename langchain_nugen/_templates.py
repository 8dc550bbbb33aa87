"""Fresh copies of a validated pydantic object, for the streaming hot path.

Every text delta of a stream becomes an ``AIMessageChunk`` inside a
``ChatGenerationChunk``. Validating that pair costs about 7 us, a third of what a whole
streamed chunk costs, yet from one chunk to the next the pair differs only in its text.
A :class:`Template` holds one validated object and makes copies of it with some fields
replaced: the template's field values, a fresh container for every mutable field (no two
copies share a list or a dict), and pydantic's bookkeeping (fields set, extras) as
validation left it. That is what pydantic's own ``__copy__`` does, without its generic
overhead; like ``model_copy(update=...)``, the replaced values are not validated, so the
caller passes only values validation would keep as they are.

A copy is worth having only if it cannot be told apart from a validated object, so users
of a template compare the two once (:func:`same`) and fall back to validating when they
differ (a future langchain-core could derive a field from the text). The tests assert the
copies are in use, so such a change is noticed rather than silently slower.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

__all__ = ["Template", "same"]

M = TypeVar("M", bound=BaseModel)

_CONTAINERS = (list, dict, set)
_new = object.__new__
_set = object.__setattr__


class Template(Generic[M]):
    """Copies of the validated ``model`` with some fields replaced."""

    __slots__ = ("_cls", "_extra", "_fields", "_fields_set", "_mutable")

    def __init__(self, model: M) -> None:
        if model.__pydantic_private__ is not None:
            raise ValueError(f"{type(model).__name__} has private state; copy it with model_copy")
        fields = dict(model.__dict__)
        for name, value in fields.items():
            if isinstance(value, _CONTAINERS) and any(
                isinstance(item, _CONTAINERS) for item in _items(value)
            ):
                raise ValueError(f"{type(model).__name__}.{name} nests containers")
        self._cls = type(model)
        self._fields = fields
        self._fields_set = frozenset(model.__pydantic_fields_set__)
        self._extra = model.__pydantic_extra__
        # The fields whose container each copy gets a fresh copy of.
        self._mutable = tuple(
            name for name, value in fields.items() if isinstance(value, _CONTAINERS)
        )

    def copy(self, **values: Any) -> M:
        """A new object: the template with ``values`` in place of its fields."""
        fields = self._fields.copy()
        for name in self._mutable:
            fields[name] = fields[name].copy()
        fields.update(values)
        extra = self._extra
        model = _new(self._cls)
        _set(model, "__dict__", fields)
        _set(model, "__pydantic_fields_set__", {*self._fields_set, *values})
        _set(model, "__pydantic_extra__", None if extra is None else extra.copy())
        _set(model, "__pydantic_private__", None)
        return model


def same(a: BaseModel, b: BaseModel) -> bool:
    """True if ``a`` and ``b`` are indistinguishable: type, field values, fields set,
    extras and private state, recursively through fields that are models."""
    if type(a) is not type(b) or a.__dict__ != b.__dict__:
        return False
    if a.__pydantic_fields_set__ != b.__pydantic_fields_set__:
        return False
    if a.__pydantic_extra__ != b.__pydantic_extra__:
        return False
    if a.__pydantic_private__ != b.__pydantic_private__:
        return False
    return all(
        same(value, b.__dict__[name])
        for name, value in a.__dict__.items()
        if isinstance(value, BaseModel)
    )


def _items(container: list[Any] | dict[Any, Any] | set[Any]) -> Any:
    return container.values() if isinstance(container, dict) else container
