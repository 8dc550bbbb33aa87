"""The README is the five-minute page: short, every class in its table, install from the
registry and from a clone, the two commands with their durations, the offline set-up
before the quickstarts, and a way into every docs page. (Its code blocks run in
test_docs.py, with the docs pages'.)"""

from __future__ import annotations

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
MAX_LINES = 250


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_is_short() -> None:
    assert len(README.splitlines()) <= MAX_LINES


def test_the_class_table_names_every_public_class() -> None:
    import langchain_nugen
    import llama_index_nugen

    table = README.split("\n## ", 1)[0]
    public = [
        *(name for name in langchain_nugen.__all__ if not name.startswith("_")),
        *llama_index_nugen.__all__,
        "NugenClient",
        "AsyncNugenClient",
        "NugenEmulator",
    ]
    missing = [name for name in public if f"`{name}`" not in table]
    assert not missing, f"the README's first table leaves out {missing}"


def test_install_from_the_registry_and_from_a_clone() -> None:
    install = section("Install")
    assert 'pip install "nugen-integrations[all]"' in install
    assert 'pip install -c constraints.txt -e ".[all]"' in install


def test_the_two_commands_say_how_long_they_take() -> None:
    commands = section("Two commands")
    assert commands.index("./scripts/demo") < commands.index("./scripts/test")
    assert "ten seconds" in commands
    assert "a few minutes" in commands


def test_offline_set_up_comes_before_the_quickstarts() -> None:
    order = [
        "## Install",
        "./scripts/demo",
        "export NUGEN_BASE_URL=http://127.0.0.1:8000/api/v3/inference NUGEN_API_KEY=test-key",
        'export NUGEN_API_KEY="your-api-key"',  # the live service, one line later
        "## Quickstart: LangChain",
        "## Quickstart: LlamaIndex",
        "## Test your own code offline",
    ]
    positions = [README.index(text) for text in order]
    assert positions == sorted(positions)


def test_the_offline_testing_section_is_short_and_runs_a_test() -> None:
    offline = section("Test your own code offline")
    assert len(offline.strip().splitlines()) <= 25
    assert "def test_" in offline
    assert "nugen_emulator" in offline
