"""The rule for what a model object caches (its clients, its adaptive concurrency bound).

A cache, not state: pickling or copying the object that holds one gives the copy a fresh,
empty one (no pool, lock or learnt bound travels), and it takes no part in equality, so
two model objects with the same settings are equal whatever they have built or learnt.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import Self

__all__ = ["FreshOnCopy"]


class FreshOnCopy:
    """Base of a cache class whose ``__init__`` takes no arguments: see the module."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())

    def __copy__(self) -> Self:
        return type(self)()

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return type(self)()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self))

    __hash__ = None  # type: ignore[assignment]
