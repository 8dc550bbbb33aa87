"""Every script in examples/ runs against the emulators and prints what it promises.

Each example is a subprocess (see conftest.py), pointed at the emulators through the
same environment variables a user sets: ``NUGEN_API_KEY`` / ``NUGEN_BASE_URL``, and
``NEBULABLOCK_API_KEY`` / ``NEBULABLOCK_BASE_URL`` for the OpenAI-compatible host. The
expected lines are the emulator's deterministic answers (see NugenEmulator's docstring),
so a change in what an example sends shows up here.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from langchain_nugen import ChatNugen
from nugen_emulator import NugenEmulator

from .conftest import LOOPBACK, PYTHON, ROOT, Emulators, Job, Jobs

EXAMPLES = ROOT / "examples"
LANDMARK = "Landmark(name='Eiffel Tower', city='Paris', height_m=330)"
FILE_IMAGE = "image 1 is image/png, 154 bytes (inline base64)"
URL_IMAGE = "image 1 is a URL image hosted at upload.wikimedia.org"
DESCRIBE = 'You asked: "Describe this image in one sentence.".'

# What each example must print: literal lines or fragments, or compiled patterns.
EXPECTED: dict[str, list[str | re.Pattern[str]]] = {
    "langchain_streaming_chat.py": [
        'You asked: "What does a force majeure clause do?".',
        re.compile(r"usage: \{'input_tokens': \d+, 'output_tokens': \d+, 'total_tokens': \d+"),
        "finish reason: stop",
        re.compile(r"confidence score: \d+(\.\d+)?$", re.M),
        'You asked: "Give one example of such an event.". Earlier you said:',
    ],
    "langchain_agent_tools.py": [
        "-> get_weather({'city': 'Paris'})",
        "<- get_weather: It is 18 degrees Celsius and sunny in Paris.",
        "-> celsius_to_fahrenheit({'celsius': 18})",
        "<- celsius_to_fahrenheit: 64.4 degrees Fahrenheit",
        'answer: The get_weather tool returned: "It is 18 degrees Celsius',
    ],
    "langchain_vision.py": [
        f"/chat/completions, file: {DESCRIBE} I received 1 image: {FILE_IMAGE}",
        f"/chat/completions, URL:  {DESCRIBE} I received 1 image: {URL_IMAGE}",
        f"/chat/vision, file: {DESCRIBE} I received 1 image: {FILE_IMAGE}",
        f"/chat/vision, URL:  {DESCRIBE} I received 1 image: {URL_IMAGE}",
        f"OpenAI-style block: {DESCRIBE} I received 1 image: {URL_IMAGE}",
    ],
    "langchain_structured_output.py": [
        f"function_calling: {LANDMARK}",
        f"json_schema:      {LANDMARK}",
        f"include_raw:      {LANDMARK} | error: None",
        re.compile(r"tokens used: +\d+"),
    ],
    "openai_compatible_host.py": [
        'You asked: "Name three uses of a vision-language model.".',
        re.compile(r"usage: \{'input_tokens': \d+"),
        f'LangChain vision: You asked: "What is this?". I received 1 image: {FILE_IMAGE}',
        f'LlamaIndex vision: You asked: "What is this?". I received 1 image: {FILE_IMAGE}',
    ],
    "llama_index_rag.py": [
        # The emulator answers with the retrieved sentence closest to the question.
        "The Eiffel Tower is 330 metres tall and stands in Paris.\nsource eiffel (score ",
        re.compile(r"^source (eiffel|fuji|nile) \(score -?\d\.\d{3}\): ", re.M),
        # The chat turn retrieves again, for its own question.
        "chat: Mount Fuji is 3776 metres high and stands in Japan.",
    ],
    "llama_index_agent.py": [
        "-> add({'a': 2, 'b': 3})",
        "<- add: 5",
        "-> multiply({'a': 4, 'b': 5})",
        "<- multiply: 20",
        'The multiply tool returned: "20".',
        "(2 tool calls)",
    ],
    "completions.py": [
        'chain: You asked: "Write a tagline for a space telescope:".',
        re.compile(
            r"token usage: \{'prompt_tokens': \d+, 'completion_tokens': \d+, 'total_tokens'"
        ),
        "finish reason: stop",
        "timing: {'ttft_seconds': 0.05,",
        'streamed: You asked: "Ad astra per".',
        'llama-index: You asked: "To infinity, and".',
        "is chat model: False",
        re.compile(r"completion tokens: \d+"),
    ],
    "ray_embeddings.py": [
        "embedded 2000 texts on 2 Ray workers",
        "vector size: 384",
        "row 1234 matches a direct embed_query: True",
    ],
    "llama_index_multimodal.py": [
        f"/chat/vision, ImageDocument(image_path=...): {DESCRIBE} I received 1 image: {FILE_IMAGE}",
        f'/chat/vision, ImageBlock(url=...): You asked: "Describe this image.". I received 1 '
        f"image: {URL_IMAGE}",
        '/chat/completions, streamed: You asked: "Compare these two images.". I received 2 '
        "images: image 1 is image/png, 154 bytes (inline base64); image 2 is a URL image "
        "hosted at upload.wikimedia.org.",
    ],
}

RAY_EXAMPLE = "ray_embeddings.py"
SCRIPT_JOBS = [
    Job(f"examples/{name}", "script", (str(EXAMPLES / name),), cwd=str(ROOT))
    for name in sorted(EXPECTED)
    if name != RAY_EXAMPLE
] + [
    # Ray starts a local cluster of its own processes: a fresh interpreter, not a forked
    # zygote, and more time (starting Ray's workers is most of it).
    Job(
        f"examples/{RAY_EXAMPLE}",
        "argv",
        (PYTHON, str(EXAMPLES / RAY_EXAMPLE)),
        cwd=str(ROOT),
        timeout=150.0,
    )
]
# The user-facing test file runs under pytest: its emulator fixture and its cassette.
PYTEST_JOB = Job(
    "examples/testing",
    "pytest",
    (str(EXAMPLES / "testing"), "-p", "no:cacheprovider", LOOPBACK, "-q"),
    cwd=str(ROOT),
)


def test_every_example_is_checked() -> None:
    scripts = {path.name for path in EXAMPLES.glob("*.py")}
    assert scripts == set(EXPECTED), "add the new example's expected output to EXPECTED"


@pytest.mark.parametrize(
    "job",
    [
        pytest.param(job, marks=pytest.mark.slow) if job.name.endswith(RAY_EXAMPLE) else job
        for job in SCRIPT_JOBS
    ],
    ids=str,
)
def test_example_script(job: Job, jobs: Jobs) -> None:
    name = Path(job.name).name
    if name == RAY_EXAMPLE and importlib.util.find_spec("ray") is None:
        jobs.outcome(job)
        pytest.skip("ray is not installed here (the dev extra pins ray[data])")
    outcome = jobs.outcome(job)
    assert outcome.returncode == 0, outcome.report()
    assert "Traceback" not in outcome.stderr, outcome.report()
    for expected in EXPECTED[name]:
        if isinstance(expected, re.Pattern):
            assert expected.search(outcome.stdout), f"{expected.pattern!r}\n{outcome.report()}"
        else:
            assert expected in outcome.stdout, f"{expected!r}\n{outcome.report()}"


@pytest.mark.parametrize("job", [PYTEST_JOB], ids=str)
def test_example_test_file_passes(job: Job, jobs: Jobs) -> None:
    outcome = jobs.outcome(job)
    assert outcome.returncode == 0, outcome.report()
    assert re.search(r"^4 passed", outcome.stdout, re.M), outcome.report()
    # The replayed cassette was recorded against the emulator and says so.
    cassette = EXAMPLES / "testing/cassettes/test_my_chain/test_summary_replayed_from_cassette.yaml"
    text = cassette.read_text()
    assert "nugen-emulator" in text
    assert "authorization" not in text.lower()


@pytest.mark.parametrize(
    "job", [j for j in SCRIPT_JOBS if j.name.endswith("openai_compatible_host.py")], ids=str
)
def test_openai_compatible_host_gets_only_what_was_set(
    job: Job, jobs: Jobs, emulators: Emulators
) -> None:
    assert jobs.outcome(job).returncode == 0
    sent = [r for r in emulators.openai.requests if r.body and "messages" in r.body]
    qwen = [r for r in sent if r.body["model"] == "Qwen/Qwen2.5-VL-7B-Instruct"]
    assert len(qwen) >= 3, "the example's three calls reached the openai-dialect host"
    for request in qwen:
        assert "x-session-id" not in request.headers
        assert "x-provider" not in request.headers
        assert not {"prompt_truncate_len", "reasoning", "top_k"} & set(request.body)


@pytest.mark.parametrize(
    "job", [j for j in SCRIPT_JOBS if j.name.endswith("langchain_streaming_chat.py")], ids=str
)
def test_per_call_session_id_is_sent(job: Job, jobs: Jobs, emulators: Emulators) -> None:
    assert jobs.outcome(job).returncode == 0
    sessions = [r.headers.get("x-session-id") for r in emulators.nugen.requests]
    assert "contract-review-42" in sessions


@pytest.mark.parametrize(
    "job", [j for j in SCRIPT_JOBS if j.name.endswith("completions.py")], ids=str
)
def test_completions_example_posts_prompts(job: Job, jobs: Jobs, emulators: Emulators) -> None:
    assert jobs.outcome(job).returncode == 0
    sent = [r for r in emulators.nugen.requests if r.path.endswith("/completions")]
    prompts = [r.body.get("prompt") for r in sent if r.path.endswith("/inference/completions")]
    assert "To infinity, and" in prompts
    # generate() sends its two prompts in one request.
    assert ["Once upon a time", "The quick brown fox"] in prompts


def test_the_example_cassette_settings_keep_credentials_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nugen_emulator: NugenEmulator
) -> None:
    # A user copies the example's vcr_config: what it records must hold neither the key nor
    # a gateway credential passed in default_headers.
    vcr = pytest.importorskip("vcr")
    monkeypatch.syspath_prepend(str(EXAMPLES / "testing"))
    spec = importlib.util.spec_from_file_location(
        "example_test", EXAMPLES / "testing/test_my_chain.py"
    )
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    config = example.vcr_config.__wrapped__()
    cassette = tmp_path / "cassette.yaml"
    model = ChatNugen(
        base_url=nugen_emulator.base_url,
        api_key=nugen_emulator.api_key,
        default_headers={"X-Gateway-Key": "gw-secret-123", "X-Session-ID": "s-1"},
    )
    with vcr.VCR(**config).use_cassette(str(cassette), record_mode="all"):
        model.invoke("Hello")
    text = cassette.read_text()
    assert "gw-secret-123" not in text
    assert nugen_emulator.api_key not in text
    assert "s-1" in text  # headers known to be safe are kept
