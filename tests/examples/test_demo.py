"""The demo: the installed ``nugen-demo`` console script runs all five parts against its
embedded emulator, and a wrong key or a dead address ends it with one clear line."""

from __future__ import annotations

import importlib.metadata
import re
from importlib import resources

import pytest

from nugen_emulator import NugenEmulator

from .conftest import VENV_BIN, Job, Jobs

NO_CREDENTIALS = (("NUGEN_API_KEY", None), ("NUGEN_BASE_URL", None))
# The console script pip generated from pyproject's [project.scripts], run as a script (in
# a pre-warmed process, like the other jobs; it is a plain Python file).
CONSOLE_SCRIPT = Job("nugen-demo", "script", (str(VENV_BIN / "nugen-demo"),), env=NO_CREDENTIALS)
WRONG_KEY = Job(
    "nugen-demo, wrong key",
    "module",
    ("nugen_demo",),
    env=(("NUGEN_API_KEY", "wrong-key"), ("NUGEN_BASE_URL", "{nugen_url}")),
)
DEAD_SERVICE = Job(
    "nugen-demo, nothing listening",
    "module",
    ("nugen_demo",),
    env=(("NUGEN_API_KEY", "some-key"), ("NUGEN_BASE_URL", "{dead_url}")),
)
HELP = Job("nugen-demo --help", "module", ("nugen_demo", "--help"))

LANDMARK = "Landmark(name='Eiffel Tower', city='Paris', height_m=330)"
# What a newcomer sees, part by part (the emulator's answers are deterministic).
EXPECTED = [
    re.compile(
        r"\Anugen-demo: running against the embedded NugenEmulator at http://127\.0\.0\.1:\d+/"
    ),
    # What the emulator's retrieval is, in the banner (part 4 shows it at work).
    "its embeddings are bags of hashed words, so\n"
    "  retrieval finds the texts that share the most words with the question (part 4).",
    "== 1. LangChain: ChatNugen streams an answer (nugen-legal)",
    'answer: You asked: "In two sentences: what does a force majeure clause do?".',
    re.compile(r"usage: \{'input_tokens': \d+, 'output_tokens': \d+, 'total_tokens': \d+\}"),
    re.compile(r"confidence score: \d+\.\d+"),
    "== 2. LangChain: create_agent calls two tools",
    "calls: get_weather(city='Paris')",
    "get_weather returned: It is 18 degrees Celsius and sunny in Paris.",
    "calls: celsius_to_fahrenheit(celsius=18)",
    "celsius_to_fahrenheit returned: 64.4 degrees Fahrenheit",
    "== 3. Vision: one image, two endpoints, from a file and from a URL",
    "/chat/vision, local file: ",
    "/chat/vision, URL: ",
    "/chat/completions, local file: ",
    "/chat/completions, URL: ",
    "== 4. LlamaIndex: RAG over the project's README",
    "corpus: README.md in the repository",
    re.compile(r"index: \d+ chunks \(one per section\), embedded with NugenEmbedding"),
    "rerank: the 4 nearest chunks, reranked by NugenRerank; the best 2 kept",
    re.compile(r"source node 1 \(relevance \d\.\d{3}\): \["),
    re.compile(r"source node 2 \(relevance \d\.\d{3}\): \["),
    "== 5. Structured output into a pydantic model, in both frameworks",
    f"LangChain with_structured_output: {LANDMARK}",
    f"LlamaIndex structured_predict: {LANDMARK}",
    f"LlamaIndex as_structured_llm: {LANDMARK}",
    "nugen-demo: all five parts ran.",
]


# The RAG part retrieves for real: the emulator's embeddings are bags of words, so the
# README section on testing offline is the best match, and its answer is the retrieved
# context's sentence closest to the question (lines are wrapped, so these are checked
# with whitespace collapsed).
RAG_EXPECTED = [
    "question: How do I test my own chain offline, without the live service?",
    "answer: To test your own chain offline, copy `examples/testing/test_my_chain.py`: a chain"
    " tested against the `nugen_emulator` fixture and replayed from a cassette, with no live"
    " service.",
]
RAG_SOURCE = re.compile(r"source node 1 \(relevance \d\.\d{3}\): \[Test your own code offline\]")


@pytest.mark.parametrize("job", [CONSOLE_SCRIPT], ids=str)
def test_console_script_runs_all_five_parts(job: Job, jobs: Jobs) -> None:
    outcome = jobs.outcome(job)
    assert outcome.returncode == 0, outcome.report()
    assert outcome.stderr == "", outcome.report()
    for expected in EXPECTED:
        if isinstance(expected, re.Pattern):
            assert expected.search(outcome.stdout), f"{expected.pattern}\n{outcome.report()}"
        else:
            assert expected in outcome.stdout, f"{expected!r}\n{outcome.report()}"
    flat = " ".join(outcome.stdout.split())
    for expected in RAG_EXPECTED:
        assert expected in flat, f"{expected!r}\n{outcome.report()}"
    assert RAG_SOURCE.search(flat), outcome.report()
    # Both images reached both endpoints, described by the emulator.
    assert outcome.stdout.count("image/png, 154 bytes (inline base64)") == 2
    assert outcome.stdout.count("URL image hosted at upload.wikimedia.org") == 2


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (
            WRONG_KEY,
            r"nugen-demo: the service at http://127\.0\.0\.1:\d+/api/v3/inference "
            r"refused the API key \(401 Unauthorized: Invalid API key .*\)\. Check NUGEN_API_KEY\.",
        ),
        (
            DEAD_SERVICE,
            r"nugen-demo: no connection to http://127\.0\.0\.1:\d+/api/v3/inference: "
            r"could not reach the service at http://127\.0\.0\.1:\d+/api/v3/inference/"
            r"chat/completions \(ConnectError: .*\)\. "
            r"Check NUGEN_BASE_URL and your network\.",
        ),
    ],
    ids=["wrong key", "nothing listening"],
)
def test_failure_is_one_clear_line(job: Job, message: str, jobs: Jobs) -> None:
    outcome = jobs.outcome(job)
    assert outcome.returncode == 1, outcome.report()
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, outcome.report()  # no traceback, no warnings
    assert re.fullmatch(message, lines[0]), outcome.report()
    assert outcome.stdout.startswith("nugen-demo: running against the service at http://127.0.0.1:")
    # Alone it takes seconds (most of it imports); waiting out timeouts in retries would
    # take minutes. The margin is for a loaded machine.
    assert outcome.seconds < 60, "a failure must not hang in retries"


@pytest.mark.parametrize("job", [HELP], ids=str)
def test_help(job: Job, jobs: Jobs) -> None:
    outcome = jobs.outcome(job)
    assert outcome.returncode == 0, outcome.report()
    assert "--debug" in outcome.stdout


# -- in-process checks of the parts a full run cannot reach ---------------------------------


def test_the_image_is_package_data() -> None:
    # Inside nugen_demo/, so hatch puts it in the wheel with the code.
    image = resources.files("nugen_demo").joinpath("assets", "blue-circle.png")
    assert image.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_readme_from_the_clone() -> None:
    from nugen_demo import _readme

    text, origin = _readme.load_readme()
    assert text.startswith("# nugen-integrations")
    assert origin.startswith("README.md in the repository")


def test_readme_without_a_clone_comes_from_the_package_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nugen_demo import _readme

    monkeypatch.setattr(_readme, "repository_readme", lambda: None)
    text, origin = _readme.load_readme()
    assert "installed distribution's metadata" in origin
    assert text.startswith("# nugen-integrations")


def test_readme_without_any_readme_falls_back_to_docstrings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nugen_demo import _readme

    def not_installed(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(_readme, "repository_readme", lambda: None)
    monkeypatch.setattr(importlib.metadata, "metadata", not_installed)
    text, origin = _readme.load_readme()
    assert origin == "the packages' docstrings (no README found)"
    assert "ChatNugen" in text
    assert "LlamaIndex" in text


def test_agent_part_without_the_langchain_package(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    nugen_emulator: NugenEmulator,
) -> None:
    """``pip install "nugen-integrations[all]"`` brings langchain-core, not ``langchain``."""
    from nugen_demo import _parts

    monkeypatch.setitem(__import__("sys").modules, "langchain.agents", None)  # ImportError
    monkeypatch.setenv("NUGEN_API_KEY", nugen_emulator.api_key)
    monkeypatch.setenv("NUGEN_BASE_URL", nugen_emulator.base_url)
    _parts.agent_with_tools()
    out = capsys.readouterr().out
    assert "the `langchain` package is not installed" in out
    assert "calls: get_weather(city='Paris')" in out
    assert "celsius_to_fahrenheit returned: 64.4 degrees Fahrenheit" in out
    assert 'answer: The get_weather tool returned: "It is 18 degrees' in out
