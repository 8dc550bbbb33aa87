"""What type checkers see of the adapters' ``api_key`` field (imported only by them): a
key given as text or a ``SecretStr``, to the constructor or by assignment, and always read
as a ``SecretStr``, which is what the field does. A checker takes the constructor keyword's
type from ``__set__`` (PEP 681). In a module of its own: the pydantic mypy plugin cannot
read a descriptor declared in the module of the model that uses it."""

from __future__ import annotations

from typing import Any, overload

from pydantic import SecretStr
from typing_extensions import Self


class ApiKeyField:
    @overload
    def __get__(self, instance: None, owner: Any) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: Any) -> SecretStr | None: ...
    def __get__(self, instance: object, owner: Any) -> SecretStr | Self | None:
        raise NotImplementedError

    def __set__(self, instance: object, value: str | SecretStr | None) -> None:
        raise NotImplementedError
