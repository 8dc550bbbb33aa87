"""Find the project's README for the RAG part, in a clone or in an installed wheel."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

DISTRIBUTION = "nugen-integrations"


def load_readme() -> tuple[str, str]:
    """The README's text and a few words on where it came from.

    In a clone (or an editable install) that is ``README.md`` at the repository root. A
    wheel has no repository, but it carries the README as the package's long description
    (pyproject's ``readme``), which is the same text as of the release. Failing both, the
    packages' own docstrings are a (smaller) corpus that still describes the project.
    """
    readme = repository_readme()
    if readme is not None:
        return readme.read_text(encoding="utf-8"), f"{readme.name} in the repository ({readme})"
    description = packaged_description()
    if description:
        return description, (
            "README.md as packaged in the installed distribution's metadata (no repository here)"
        )
    return package_docstrings(), "the packages' docstrings (no README found)"


def repository_readme() -> Path | None:
    # nugen_demo/_readme.py -> the repository root is the folder holding ``nugen_demo``.
    root = Path(__file__).resolve().parents[1]
    readme = root / "README.md"
    pyproject = root / "pyproject.toml"
    if readme.is_file() and pyproject.is_file() and DISTRIBUTION in pyproject.read_text("utf-8"):
        return readme
    return None


def packaged_description() -> str | None:
    try:
        metadata = importlib.metadata.metadata(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    description = metadata.json.get("description")  # the README, for a wheel
    return description.strip() if isinstance(description, str) and description.strip() else None


def package_docstrings() -> str:
    import langchain_nugen
    import llama_index_nugen
    import nugen_client
    from langchain_nugen import ChatNugen
    from llama_index_nugen import Nugen

    documented = (nugen_client, langchain_nugen, llama_index_nugen, ChatNugen, Nugen)
    return "\n\n".join(obj.__doc__ or "" for obj in documented)
