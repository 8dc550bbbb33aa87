"""Every code block in README.md and docs/*.md runs, against the emulators, and every
relative link and anchor resolves, so the pages cannot rot.

Rules (also for whoever edits the pages):

* ```` ```python ```` blocks run one by one, each in a process of its own, with
  ``NUGEN_API_KEY`` / ``NUGEN_BASE_URL`` pointing at a NugenEmulator and
  ``NEBULABLOCK_API_KEY`` / ``NEBULABLOCK_BASE_URL`` at one in the ``openai`` dialect. A
  block must therefore stand alone (its own imports) and must exit with status 0. A
  block that defines ``test_...`` functions is a pytest file and runs under pytest.
* Every other ```` ```python ```` block is followed, on the line after its closing fence,
  by an HTML comment (invisible on GitHub) with what it prints against the emulators::

      <!-- prints:
      You asked: "What is the capital of France?".
      {'input_tokens': ..., 'output_tokens': ...
      -->

  Each line is a fragment of one output line, ``...`` standing for anything on that
  line (ids, token counts); the fragments must appear in this order. So a snippet that
  runs but prints a wrong answer fails.
* ```` ```bash ```` blocks run with ``bash -euo pipefail`` from the repository root.
* A block may be skipped only with a marker on the line right before it, saying why:
  ``<!-- not-run: installs packages -->``. Keep those for set-up commands (installing,
  running the whole suite, serving forever); everything else must run.
* Any other language tag is refused: output samples would rot silently.
* A docs page opens with its title and a paragraph saying what it covers, and the README
  links to every page. Links to files in the repository and ``#anchors`` (GitHub's heading
  slugs) must resolve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import LOOPBACK, ROOT, Job, Jobs

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^```(\S*)\s*$")
NOT_RUN = re.compile(r"^<!-- not-run: (?P<reason>\S.*?) -->$")
RUNNABLE = {"python", "bash"}


PRINTS_OPEN = "<!-- prints:"
PRINTS_CLOSE = "-->"
WILDCARD = "..."


def page_name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Block:
    page: str  # the page's path from the repository root
    line: int  # where the opening fence is (1-based)
    language: str
    code: str
    not_run: str | None  # the reason given in the marker, if any
    prints: tuple[str, ...] | None = None  # the ``<!-- prints: -->`` lines, if any

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}:{self.language or 'plain'}"


def read_blocks(text: str, page: str = "README.md") -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        if i == len(lines):
            raise AssertionError(f"{page}:{start + 1}: code block is never closed")
        marker = NOT_RUN.match(lines[start - 1].strip()) if start else None
        blocks.append(
            Block(
                page=page,
                line=start + 1,
                language=opening.group(1),
                code="\n".join(lines[start + 1 : i]) + "\n",
                not_run=marker.group("reason") if marker else None,
                prints=read_prints(lines, i + 1, page),
            )
        )
        i += 1
    return blocks


def read_prints(lines: list[str], at: int, page: str) -> tuple[str, ...] | None:
    """The expected-output comment starting at ``lines[at]`` (right after a block)."""
    if at >= len(lines) or lines[at].strip() != PRINTS_OPEN:
        return None
    end = at + 1
    while end < len(lines) and lines[end].strip() != PRINTS_CLOSE:
        end += 1
    if end == len(lines):
        raise AssertionError(f"{page}:{at + 1}: '{PRINTS_OPEN}' is never closed")
    expected = tuple(line.strip() for line in lines[at + 1 : end] if line.strip())
    if not expected:
        raise AssertionError(f"{page}:{at + 1}: '{PRINTS_OPEN}' lists no output")
    return expected


def missing_output(expected: tuple[str, ...], stdout: str) -> str | None:
    """The first expected line not found in ``stdout`` (in order), or ``None``."""
    position = 0
    for line in expected:
        fragments = [re.escape(part) for part in line.split(WILDCARD)]
        found = re.compile("[^\n]*?".join(fragments)).search(stdout, position)
        if found is None:
            return line
        position = found.end()
    return None


BLOCKS = [
    block
    for page in PAGES
    for block in read_blocks(page.read_text(encoding="utf-8"), page_name(page))
]


RUNNABLE_BLOCKS = [b for b in BLOCKS if b.not_run is None and b.language in RUNNABLE]


def is_test_file(block: Block) -> bool:
    return bool(re.search(r"^def test_", block.code, re.M))


def block_test_file(block: Block) -> str:
    return "test_" + "".join(c if c.isalnum() else "_" for c in block.name) + ".py"


# The blocks that are test files run in one pytest session: pytest's start-up is the
# costly part of running one, and each block still gets its own file and verdict.
TEST_FILES = [b for b in RUNNABLE_BLOCKS if is_test_file(b)]
PYTEST = Job(
    "the pages' test files",
    "pytest",
    (*(block_test_file(b) for b in TEST_FILES), "-p", "no:cacheprovider", LOOPBACK, "-q", "-rA"),
    files=tuple((block_test_file(b), b.code) for b in TEST_FILES),
)


def job_for(block: Block) -> Job:
    if block.language == "bash":
        return Job(
            block.name, "argv", ("bash", "-euo", "pipefail", "-c", block.code), cwd=str(ROOT)
        )
    if is_test_file(block):
        return PYTEST
    # Run from a file in a directory of its own (blocks may write files there), so that a
    # traceback points at the block's own lines.
    return Job(block.name, "script", ("docs_block.py",), files=(("docs_block.py", block.code),))


RUN = [pytest.param(job_for(b), b, id=b.name) for b in RUNNABLE_BLOCKS]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_every_block_runs_or_says_why_not(block: Block) -> None:
    if block.prints is not None:
        where = f"{block.name}: only a Python block that runs can say what it prints"
        assert block.language == "python", where
        assert block.not_run is None, where
    if block.not_run is not None:
        assert block.language == "bash", "only set-up commands (bash) may be skipped"
        return
    assert block.language in RUNNABLE, (
        f"{block.name}: only ```python and ```bash blocks can be run; mark a set-up "
        "command with <!-- not-run: why --> on the line before"
    )


@pytest.mark.parametrize(("job", "block"), RUN)
def test_docs_block(job: Job, block: Block, jobs: Jobs) -> None:
    outcome = jobs.outcome(job)
    numbered = "\n".join(
        f"{block.line + n:4d} | {line}" for n, line in enumerate(block.code.splitlines(), 1)
    )
    report = f"{outcome.report()}\n--- the block\n{numbered}"
    if job.kind == "pytest":  # shared with the other test files: judge this one's tests
        file = re.escape(block_test_file(block))
        assert re.search(rf"^PASSED {file}::", outcome.stdout, re.M), report
        assert not re.search(rf"^(FAILED|ERROR) {file}", outcome.stdout, re.M), report
        return
    assert outcome.returncode == 0, report
    assert "Traceback" not in outcome.stderr, report
    if block.language == "python":
        assert block.prints is not None, (
            f"{block.name}: say what the block prints, in a '{PRINTS_OPEN} ... "
            f"{PRINTS_CLOSE}' comment right after it (see this module's docstring)\n{report}"
        )
        missing = missing_output(block.prints, outcome.stdout)
        assert missing is None, f"{block.name} did not print {missing!r} (in order)\n{report}"


def test_expected_output_is_matched_in_order_with_wildcards() -> None:
    stdout = "You asked: \"Hi\".\n{'input_tokens': 3, 'output_tokens': 5}\nnugen stop\n"
    assert (
        missing_output(("Hi", "{'input_tokens': ..., 'output_tokens': 5}", "stop"), stdout) is None
    )
    assert missing_output(("stop", "Hi"), stdout) == "Hi"  # out of order
    assert missing_output(('You asked: "Ho".',), stdout) == 'You asked: "Ho".'
    # A wildcard stands for part of one line, never for a line break.
    assert missing_output(("Hi...input_tokens",), stdout) == "Hi...input_tokens"


def test_prints_comments_are_read_after_the_block() -> None:
    text = "```python\nprint(1)\n```\n<!-- prints:\n1\n-->\n\n```python\nprint(2)\n```\n"
    first, second = read_blocks(text)
    assert (first.prints, second.prints) == (("1",), None)
    with pytest.raises(AssertionError, match="never closed"):
        read_blocks("```python\nprint(1)\n```\n<!-- prints:\n1\n")


# -- pages, links and anchors ---------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`\n]*`")


def prose(text: str, spans: bool = False) -> str:
    """``text`` without its code blocks, and without its code spans unless ``spans``."""
    kept: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            kept.append("")
        else:
            kept.append("" if in_code else line if spans else CODE_SPAN.sub("", line))
    return "\n".join(kept)


def anchors(text: str) -> set[str]:
    """The ``#anchors`` GitHub gives the page's headings (duplicates get ``-1``, ``-2``)."""
    found: set[str] = set()
    for line in prose(text, spans=True).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def links(page: Path) -> list[tuple[int, str]]:
    """(line, target) of every relative link on ``page``."""
    return [
        (number, target)
        for number, line in enumerate(prose(page.read_text(encoding="utf-8")).splitlines(), 1)
        for target in LINK.findall(line)
        if not re.match(r"[a-z]+:", target)  # https:, mailto:
    ]


def test_anchors_are_github_slugs() -> None:
    text = "# Errors and reliability\n## `timeout` and `deadline`\n## Errors and reliability\n"
    assert anchors(text) == {
        "errors-and-reliability",
        "timeout-and-deadline",
        "errors-and-reliability-1",
    }
    assert links_in("See [a](b.md#c), `[not](a-link)` and ![an](image.png).") == ["b.md#c"]


def links_in(text: str) -> list[str]:
    return LINK.findall(prose(text))


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for number, target in links(page):
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        where = f"{page_name(page)}:{number}: {target}"
        if not destination.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and anchor not in anchors(destination.read_text(encoding="utf-8")):
            broken.append(f"{where} (no such heading)")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("page", PAGES[1:], ids=page_name)
def test_every_page_says_what_it_covers_and_is_linked_from_the_readme(page: Path) -> None:
    lines = [line for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[0].startswith("# "), f"{page_name(page)} starts with its title"
    assert re.match(r"[A-Za-z`*]", lines[1]), (
        f"{page_name(page)}: the title is followed by a paragraph saying what the page covers"
    )
    readme_links = {target.partition("#")[0] for _, target in links(README)}
    assert page_name(page) in readme_links, f"README.md does not link to {page_name(page)}"


# -- the parameter table matches the classes ------------------------------------------------

PARAMETERS = DOCS / "parameters.md"
CLASS_NAMES = (
    "ChatNugen",
    "NugenLLM",
    "NugenEmbeddings",
    "Nugen",
    "NugenMultiModal",
    "NugenEmbedding",
)
# The two frameworks' rerankers share a name: the table and these tests tell them apart by
# module (a row naming plain `NugenRerank` means both).
RERANKERS = ("langchain_nugen.NugenRerank", "llama_index_nugen.NugenRerank")
ADAPTER_CLASSES = CLASS_NAMES + RERANKERS
CHAT_CLASSES = ("ChatNugen", "Nugen", "NugenMultiModal")
TEXT_CLASSES = ("ChatNugen", "NugenLLM", "Nugen", "NugenMultiModal")
CLIENTS = ("NugenClient", "AsyncNugenClient")
# Every constructor parameter of the public contract.
CONTRACT_PARAMETERS = [
    "model",
    "api_key",
    "base_url",
    "temperature",
    "max_tokens",
    "top_p",
    "top_k",
    "stop",
    "prompt_truncate_len",
    "reasoning",
    "session_id",
    "provider",
    "timeout",
    "max_retries",
    "default_headers",
    "n",
    "streaming",
    "stream_usage",
    "model_kwargs",
    "additional_kwargs",
    "context_window",
    "is_function_calling_model",
    "is_chat_model",
    "use_vision_endpoint",
]


def parameter_rows() -> list[tuple[str, list[str]]]:
    """(parameter, the classes its row names) for every row of the parameters table."""
    text = PARAMETERS.read_text(encoding="utf-8")
    section = text.split("## Constructor parameters\n", 1)[1].split("\n## ", 1)[0]
    rows: list[tuple[str, list[str]]] = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if not line.startswith("| `") or len(cells) != 4:
            continue
        name, where = cells[0].strip("`"), cells[3]
        named = re.findall(r"`([\w.]+)`", where.split("(")[0])
        classes = [c for c in named if c in ADAPTER_CLASSES + CLIENTS]
        if "NugenRerank" in named:
            classes += RERANKERS
        if where.startswith("all"):
            classes += ADAPTER_CLASSES
        if where.startswith("text classes"):
            classes += TEXT_CLASSES
        if where.startswith("chat classes"):
            classes += CHAT_CLASSES
        rows.append((name, sorted(set(classes))))
    return rows


def accepts(cls: type, name: str) -> bool:
    import inspect

    fields = getattr(cls, "model_fields", None)
    if fields is None:  # the plain clients
        return name in inspect.signature(cls).parameters
    if name in fields:
        return True
    aliases = {str(f.alias) for f in fields.values()} | {
        str(choice)
        for f in fields.values()
        for choice in getattr(f.validation_alias, "choices", [f.validation_alias])
    }
    return name in aliases


def adapter_class(name: str) -> type:
    """The class a table name stands for: `ChatNugen`, or `langchain_nugen.NugenRerank`."""
    import importlib

    import langchain_nugen
    import llama_index_nugen
    import nugen_client

    if "." in name:
        module, _, name = name.rpartition(".")
        return getattr(importlib.import_module(module), name)
    for module in (langchain_nugen, llama_index_nugen, nugen_client):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"no class {name}")


def test_parameter_table_names_real_parameters() -> None:
    classes = {name: adapter_class(name) for name in ADAPTER_CLASSES + CLIENTS}
    rows = parameter_rows()
    missing = set(CONTRACT_PARAMETERS) - {name for name, _ in rows}
    assert not missing, f"contract parameters missing from docs/parameters.md: {missing}"
    wrong = [
        f"{name} on {cls}"
        for name, where in rows
        for cls in where
        if not accepts(classes[cls], name)
    ]
    assert not wrong, f"docs/parameters.md names parameters these classes lack: {wrong}"


@pytest.mark.parametrize("name", ADAPTER_CLASSES)
def test_class_docstrings_name_every_parameter_of_the_table(name: str) -> None:
    """``help(ChatNugen)`` and the LlamaIndex reference pages stand on their own."""
    doc = adapter_class(name).__doc__ or ""
    missing = [
        parameter
        for parameter, where in parameter_rows()
        if name in where and not re.search(rf"\b{parameter}\b", doc)
    ]
    assert not missing, f"{name}'s docstring does not describe {missing}"


def test_the_performance_figures_name_the_command_that_produced_them() -> None:
    page = (DOCS / "performance.md").read_text(encoding="utf-8")
    assert "benchmarks/bench.py" in page
    assert "benchmarks/NOTES.md" in page
