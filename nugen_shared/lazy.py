"""Classes that load on first use (PEP 562), for the adapter packages' ``__init__``: the
import costs next to nothing, a class pays for its framework when first used, and one whose
framework is missing raises an ``ImportError`` naming the extra to install.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], *, framework: tuple[str, ...], extra: str
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose public names ``exports``
    maps to the modules defining them; ``framework`` names the top-level modules the
    ``extra`` installs."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            value = getattr(import_module(module), name)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if missing.split(".")[0] not in framework:
                raise
            raise ImportError(
                f"{name} needs {missing}, which is not installed: "
                f'pip install "nugen-integrations[{extra}]"'
            ) from error
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
