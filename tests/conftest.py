"""Suite-wide fixtures: the offline cassette tier and its record/replay switch.

How to write a cassette-backed test (adapter authors: this is all you need)
---------------------------------------------------------------------------
Ask for the ``nugen_target`` fixture (or ``nugen_target_openai`` for the OpenAI-compatible
dialect) and point your client or model at it::

    def test_invoke(nugen_target):
        model = ChatNugen(base_url=nugen_target.base_url, api_key=nugen_target.api_key)
        assert model.invoke("Hello").content

That test is automatically marked ``vcr`` and ``offline``: its HTTP traffic is replayed
from ``cassettes/<test module path>/<test name>.yaml`` (``Class.test`` inside a class).
Keep request bodies deterministic (no timestamps or random ids in what you send), since
the body is part of the match, and so are the headers the test asks for (``X-Session-ID``,
``X-Provider``, extra headers: see below). A test that makes no request needs no cassette;
a request missing from the cassette (or a missing cassette) fails the test with a hint to
re-record, and so does a recorded request the test no longer makes.

The switch: the ``NUGEN_RECORD`` environment variable
------------------------------------------------------
* unset (default, CI): **replay**. vcrpy (through pytest-recording) serves the cassette
  with ``record_mode="none"``; ``nugen_target`` is a dead loopback URL
  (``http://127.0.0.1:9/...``, a dummy key) and every socket except Unix ones is blocked
  for the duration of the test, so a request missing from the cassette fails loudly and
  nothing real can be reached. Run the suite with ``--allow-hosts=127.0.0.1,localhost,::1``.
* ``NUGEN_RECORD=emulator``: **re-record** each cassette from scratch (pytest-recording's
  ``rewrite`` mode deletes it first) against a fresh :class:`NugenEmulator` per test,
  started with a fixed seed and ``created`` so re-recording yields the same files.
* ``NUGEN_RECORD=live`` (needs ``NUGEN_API_KEY``; ``NUGEN_BASE_URL`` optional): record
  against the live service. Never in CI. ``nugen_target_openai`` tests are skipped.

``scripts/record-cassettes [--live] [pytest args]`` runs exactly that; see
``cassettes/README.md``.

Matching and scrubbing (``vcr_config``)
---------------------------------------
Requests match on method, path, query and the JSON body compared as parsed JSON (key
order and whitespace do not matter; tool-call ids, which frameworks often mint at random,
are compared by order of first appearance), not on host or port (emulator ports are
random). On replay two more rules hold for every request (``nugen_headers_matcher``):

* it carries ``Authorization: Bearer <non-empty>`` (cassettes hold no credential, so the
  presence of one is what can be checked);
* its application headers (every header except the transport ones, ``TRANSPORT_HEADERS``,
  and the credential ones) have exactly the names and values
  recorded: ``X-Session-ID``, ``X-Provider``, ``default_headers``, ``extra_headers``.

A replayed test that passed also fails at teardown when one of its recorded interactions
was never played: a call the code under test stopped making does not go unnoticed.

On record, ``authorization``, ``x-api-key``, ``api-key`` and cookies are dropped, known key
values are replaced by ``<REDACTED>`` wherever they appear, emulator URLs are rewritten to
the replay address, and the request ``host`` and response ``date`` headers are dropped, so
cassettes are byte-stable. ``tests/test_cassettes_clean.py`` fails if a credential slips
through.

Other fixtures: ``vcr_config`` (use it if you drive vcrpy yourself, e.g. from
``langchain_tests``), ``vcr_cassette_dir``. The ``nugen_emulator`` /
``nugen_emulator_openai`` fixtures come from the package's pytest plugin; tests using them
are marked ``emulator``.
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from nugen_emulator import NugenEmulator

# The property tests draw the same examples on every run, so a failure in CI reproduces
# and coverage does not move from run to run; HYPOTHESIS_PROFILE=explore draws new ones.
# No per-example deadline: on a busy machine a slow example is not a failing one.
settings.register_profile("repeatable", derandomize=True, database=None, deadline=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "tests"
CASSETTES_DIR = ROOT / "cassettes"

RECORD_ENV = "NUGEN_RECORD"
RECORD_MODES = ("", "emulator", "live")
REPLAY_HOST = "http://127.0.0.1:9"  # loopback, "discard" port: nothing listens there
REPLAY_BASE_URLS = {"nugen": f"{REPLAY_HOST}/api/v3/inference", "openai": f"{REPLAY_HOST}/v1"}
REPLAY_API_KEY = "replay-dummy-key"
LIVE_BASE_URL = "https://api.nugen.in/api/v3/inference"
RECORDING_SEED = 0
RECORDING_CREATED = 1704123600.0  # the provider's own example timestamp
RECORDING_EMBEDDING_LATENCY = (0.05, 0.0)
EMULATOR_DEFAULT_KEY = "test-key"  # nugen_emulator.DEFAULT_API_KEY
REDACTED = "<REDACTED>"
SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "proxy-authorization", "cookie")
# Transport headers (httpx's, and the client's own defaults on every request): not what a
# test asks for, and free to change with httpx or the client's version.
TRANSPORT_HEADERS = (
    "accept",
    "accept-encoding",
    "connection",
    "content-length",
    "content-type",
    "host",
    "user-agent",
)
# On replay, the verdict on the live request's Authorization header, carried to the
# matcher on vcrpy's filtered copy of the request (never recorded).
CREDENTIAL_VERDICT = "x-replay-credential"
_BEARER = re.compile(r"^Bearer\s+\S")
_EMULATOR_URL = re.compile(r"^https?://(?:127\.0\.0\.1|localhost|\[::1\]):\d+")
_SECRET_BODY_KEYS = re.compile(r'("(?:api[_-]?key|apiKey|password|secret|token)"\s*:\s*)"[^"]*"')

CASSETTE_FIXTURES = ("nugen_target", "nugen_target_openai")
EMULATOR_FIXTURES = ("nugen_emulator", "nugen_emulator_openai")


def record_mode() -> Literal["", "emulator", "live"]:
    """The value of ``NUGEN_RECORD`` ("" = replay), validated."""
    mode = os.environ.get(RECORD_ENV, "").strip().lower()
    if mode not in RECORD_MODES:
        raise pytest.UsageError(
            f"{RECORD_ENV}={mode!r}: expected unset (replay), 'emulator' or 'live'"
        )
    return mode  # type: ignore[return-value]


def pytest_configure(config: pytest.Config) -> None:
    mode = record_mode()
    if mode == "live" and not os.environ.get("NUGEN_API_KEY"):
        raise pytest.UsageError(f"{RECORD_ENV}=live needs NUGEN_API_KEY")


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Any:
    """Collect without the garbage collector, then freeze what collection built.

    Collecting imports both frameworks and builds thousands of test items: hundreds of
    thousands of objects that live until the session ends, which every full collection
    would walk again (a quarter of a second each, and the tests' own ``gc.collect()``
    calls and leak checks are many). Frozen (``gc.freeze``), they are left out of every
    later collection; what a test creates is collected exactly as before.
    """
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()
        gc.collect()
        gc.freeze()


# What this session collected, before ``-m``/``-k``/``--sw`` deselect anything: each test
# module's path, and the offline tests in it as (class or None, test name). The
# orphan-cassette check reads it instead of collecting the suite again.
COLLECTED_OFFLINE = pytest.StashKey[dict[Path, set[tuple[type | None, str]]]]()


# tryfirst: before every plugin that drops items (stepwise is registered after this file).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark cassette tests ``vcr`` + ``offline`` and emulator tests ``emulator``."""
    collected = config.stash.setdefault(COLLECTED_OFFLINE, {})
    for item in items:
        offline = collected.setdefault(item.path.resolve(), set())
        names = getattr(item, "fixturenames", ())
        if any(name in names for name in CASSETTE_FIXTURES):
            if item.get_closest_marker("vcr") is None:
                item.add_marker(pytest.mark.vcr)
            item.add_marker(pytest.mark.offline)
            offline.add((getattr(item, "cls", None), item.name))
        if any(name in names for name in EMULATOR_FIXTURES):
            item.add_marker(pytest.mark.emulator)


_CALL_OUTCOME = pytest.StashKey[str]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Say how to fix a replay miss: vcrpy's own message does not mention our script."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_OUTCOME] = report.outcome
    error = call.excinfo.value if call.excinfo is not None else None
    while error is not None:
        if type(error).__name__ == "CannotOverwriteExistingCassetteException":
            cassette = getattr(getattr(item, "funcargs", {}).get("vcr"), "_path", None)
            where = Path(cassette) if cassette else None
            if where is not None and not where.exists():
                hint = f"{where} is missing: record it with scripts/record-cassettes."
            else:
                hint = (
                    f"{where or 'The cassette'} has no matching request: if what the test "
                    "sends changed on purpose, re-record with scripts/record-cassettes."
                )
            report.sections.append(("cassette", hint + " See cassettes/README.md."))
            break
        error = error.__cause__ or error.__context__
    return report


# -- vcr configuration ---------------------------------------------------------------------


def _secrets() -> list[str]:
    # Each in the forms the client redacts from errors (URL-encoded, base64 of a header...):
    # a live server echoing the request back may quote the key in any of them.
    from nugen_client._errors import secret_forms

    values = [EMULATOR_DEFAULT_KEY, REPLAY_API_KEY, os.environ.get("NUGEN_API_KEY", "")]
    return [form for v in values if len(v) >= 6 for form in secret_forms(v)]


def _redact(text: str) -> str:
    for secret in _secrets():
        text = text.replace(secret, REDACTED)
    return _SECRET_BODY_KEYS.sub(rf'\1"{REDACTED}"', text)


def _redact_body(body: Any) -> Any:
    if isinstance(body, bytes):
        # Bytes that are not UTF-8 pass through unchanged around the text redacted in them.
        return _redact(body.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    if isinstance(body, str):
        return _redact(body)
    return body


def scrub_request(request: Any) -> Any:
    """``before_record_request``: no key material, and a stable address for emulator URLs."""
    request.uri = _redact(_EMULATOR_URL.sub(REPLAY_HOST, request.uri))
    for name in list(request.headers):
        # ``host`` names the emulator's random port: dropped so re-recording is byte-stable.
        if name.lower() in (*SECRET_HEADERS, "host"):
            del request.headers[name]
    request.body = _redact_body(request.body)
    return request


def mark_replayed_request(request: Any) -> Any:
    """``before_record_request`` on replay: judge the credential, then scrub as on record.

    vcrpy matches a filtered copy of the live request (filtering it again on the way), and
    recorded requests hold no credential: so whether the live request carried
    ``Authorization: Bearer <key>`` is written on the copy, for ``nugen_headers_matcher``,
    before the header itself is dropped.
    """
    if CREDENTIAL_VERDICT not in request.headers:
        credential = request.headers.get("authorization") or ""
        verdict = "bearer" if _BEARER.match(credential) else "missing"
        request.headers[CREDENTIAL_VERDICT] = verdict
    return scrub_request(request)


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """``before_record_response``: no cookies, no per-run ``date``, no key material.

    Against the emulator it also notes when the response was complete (taken out again by
    ``_in_canonical_order`` before the cassette is written).
    """
    if record_mode() == "emulator":
        response[_COMPLETED_AT] = time.monotonic()
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in ("date", "set-cookie"):
            del headers[name]
        else:  # a server may echo the key in a header (x-request-id, www-authenticate)
            headers[name] = [_redact(value) for value in headers[name]]
    body = response.get("body", {})
    if "string" in body:
        body["string"] = _redact_body(body["string"])
    return response


def _json_or_raw(body: Any) -> Any:
    if body is None:
        return b""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    try:
        return _renumber_tool_call_ids(_tool_descriptions_unindented(json.loads(raw)))
    except (ValueError, UnicodeDecodeError):
        return raw


def _tool_descriptions_unindented(body: Any) -> Any:
    """Compare tool descriptions with their whitespace collapsed.

    LangChain takes a tool's description from its function's docstring, which Python 3.13
    dedents when compiling: the same test sends other indentation there than on 3.10-3.12.
    """
    if not isinstance(body, dict) or not isinstance(body.get("tools"), list):
        return body
    tools = []
    for tool in body["tools"]:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("description"), str):
            function = {**function, "description": " ".join(function["description"].split())}
            tool = {**tool, "function": function}
        tools.append(tool)
    return {**body, "tools": tools}


def _renumber_tool_call_ids(body: Any) -> Any:
    """Replace tool-call ids by their order of first appearance (``call_0``, ``call_1``...).

    Frameworks mint random ids for tool calls they build themselves (LangChain's few-shot
    helpers, uuid4): only which message refers to which call matters, and renumbering
    keeps exactly that.
    """
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return body
    ids: dict[str, str] = {}

    def renumber(value: Any) -> Any:
        return ids.setdefault(value, f"call_{len(ids)}") if isinstance(value, str) else value

    messages = []
    for message in body["messages"]:
        if isinstance(message, dict):
            message = dict(message)
            if isinstance(message.get("tool_calls"), list):
                message["tool_calls"] = [
                    {**call, "id": renumber(call.get("id"))} if isinstance(call, dict) else call
                    for call in message["tool_calls"]
                ]
            if "tool_call_id" in message:
                message["tool_call_id"] = renumber(message["tool_call_id"])
        messages.append(message)
    return {**body, "messages": messages}


def json_body_matcher(r1: Any, r2: Any) -> None:
    """vcrpy matcher: bodies equal as parsed JSON (raw bytes when not JSON), with tool-call
    ids compared by position rather than value."""
    left, right = _json_or_raw(r1.body), _json_or_raw(r2.body)
    if left != right:
        raise AssertionError(f"request bodies differ:\n  {left!r}\n  {right!r}")


def _application_headers(request: Any) -> dict[str, str]:
    ignored = {*TRANSPORT_HEADERS, *SECRET_HEADERS, CREDENTIAL_VERDICT}
    return {
        str(name).lower(): str(value)
        for name, value in request.headers.items()
        if str(name).lower() not in ignored
    }


def nugen_headers_matcher(live: Any, recorded: Any) -> None:
    """vcrpy matcher (replay only): the live request carries a bearer credential, and the
    headers the test asked for (``X-Session-ID``, ``X-Provider``, extra and default
    headers) with exactly the names and values recorded."""
    if live.headers.get(CREDENTIAL_VERDICT) != "bearer":
        raise AssertionError("the request carries no 'Authorization: Bearer <key>' header")
    sent, expected = _application_headers(live), _application_headers(recorded)
    if sent != expected:
        raise AssertionError(f"request headers differ: sent {sent}, recorded {expected}")


def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    """pytest-recording hook: register the suite's matchers on every VCR instance."""
    vcr.register_matcher("json_body", json_body_matcher)
    vcr.register_matcher("nugen_headers", nugen_headers_matcher)


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """The suite's vcrpy settings (pytest-recording merges ``vcr`` marker kwargs over it)."""
    config: dict[str, Any] = {
        "before_record_response": scrub_response,
        "decode_compressed_response": True,
        "allow_playback_repeats": False,
    }
    if record_mode():
        return {
            **config,
            "record_mode": "rewrite",
            "match_on": ("method", "path", "query", "json_body"),
            "filter_headers": list(SECRET_HEADERS),
            "before_record_request": scrub_request,
        }
    # No filter_headers on replay: mark_replayed_request must see the credential first.
    return {
        **config,
        "record_mode": "none",
        "match_on": ("method", "path", "query", "json_body", "nugen_headers"),
        "before_record_request": mark_replayed_request,
    }


def unplayed_interactions(cassette: Any) -> list[str]:
    """The recorded interactions of ``cassette`` that were never played, described.

    vcrpy's ``all_played`` counts plays, so with ``allow_playback_repeats`` one
    interaction played twice would hide another never played: count per interaction.
    """
    unplayed = []
    for index, (recorded, _response) in enumerate(cassette.data):
        if cassette.play_counts[index] == 0:
            body = recorded.body or b""
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            unplayed.append(f"#{index} {recorded.method} {recorded.path} {text[:160]}")
    return unplayed


_COMPLETED_AT = "_completed_at"


def _in_canonical_order(cassette: Any, log: list[Any]) -> None:
    """Put the recorded interactions in an order that does not depend on thread timing.

    vcrpy appends an interaction when its response is complete, so requests a client has
    in flight together land in either order. Interactions whose requests overlapped in
    time (one reached the emulator before another's response was complete) are sorted by
    method, path and body; anything sent after a response stays after it.
    """
    completed = [response.pop(_COMPLETED_AT, None) for _, response in cassette.data]
    arrivals: dict[tuple[str, str, bytes], list[float]] = {}
    for entry in log:
        arrivals.setdefault((entry.method, entry.path, entry.raw_body), []).append(
            entry.received_at
        )
    timed = []
    for index, (request, _response) in enumerate(cassette.data):
        body = request.body or b""
        key = (request.method, request.path, body if isinstance(body, bytes) else body.encode())
        if not arrivals.get(key) or completed[index] is None:
            return  # not every interaction is in the emulator's log: leave the order be
        timed.append((arrivals[key].pop(0), completed[index], key, cassette.data[index]))
    timed.sort(key=lambda item: item[0])
    ordered: list[Any] = []
    group: list[Any] = []
    group_end = float("-inf")
    for arrived, done, key, interaction in timed:
        if group and arrived > group_end:
            ordered.extend(item for _, item in sorted(group, key=lambda item: item[0]))
            group = []
        group.append((key, interaction))
        group_end = max(group_end, done) if len(group) > 1 else done
    ordered.extend(item for _, item in sorted(group, key=lambda item: item[0]))
    cassette.data[:] = ordered


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """``cassettes/<test module path relative to tests/, without .py>``."""
    module = Path(str(request.node.path)).resolve()
    try:
        relative = module.relative_to(TESTS_DIR)
    except ValueError:
        relative = Path(module.name)
    return str(CASSETTES_DIR / relative.with_suffix(""))


# -- the target ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NugenTarget:
    """Where a cassette-backed test sends its requests.

    Attributes:
        base_url: The API base URL to give the client.
        api_key: The key to give the client.
        mode: ``"replay"``, ``"emulator"`` (recording against a NugenEmulator) or ``"live"``.
        emulator: The emulator being recorded against (``None`` otherwise). Tests must not
            depend on it: in replay there is none.
    """

    base_url: str
    api_key: str
    mode: Literal["replay", "emulator", "live"]
    emulator: NugenEmulator | None = None

    @property
    def recording(self) -> bool:
        return self.mode != "replay"


def _target(
    request: pytest.FixtureRequest, dialect: Literal["nugen", "openai"], cassette: Any
) -> Iterator[NugenTarget]:
    mode = record_mode()
    if mode == "emulator":
        from nugen_emulator import NugenEmulator

        emulator = NugenEmulator(
            dialect=dialect,
            seed=RECORDING_SEED,
            created=RECORDING_CREATED,
            # Embedding batches a client sends in parallel then overlap for certain, so
            # _in_canonical_order can tell them from requests sent one after another.
            latency=RECORDING_EMBEDDING_LATENCY,
        )
        with emulator:
            yield NugenTarget(emulator.base_url, emulator.api_key, "emulator", emulator)
            if cassette is not None:
                _in_canonical_order(cassette, emulator.requests)
        return
    if mode == "live":
        if dialect != "nugen":
            pytest.skip("no live OpenAI-compatible host is configured for recording")
        base_url = os.environ.get("NUGEN_BASE_URL") or LIVE_BASE_URL
        yield NugenTarget(base_url, os.environ["NUGEN_API_KEY"], "live")
        return
    import pytest_socket

    # Block every socket but Unix ones (event loops need a socketpair) while replaying.
    pytest_socket.disable_socket(allow_unix_socket=True)
    try:
        yield NugenTarget(REPLAY_BASE_URLS[dialect], REPLAY_API_KEY, "replay")
    finally:
        pytest_socket.enable_socket()
    # Only for a test that passed: one that failed or was skipped has said what happened.
    if cassette is not None and request.node.stash.get(_CALL_OUTCOME, "") == "passed":
        unplayed = unplayed_interactions(cassette)
        if unplayed:
            pytest.fail(
                f"{len(unplayed)} recorded request(s) of {cassette._path} were not made "
                "again (if the test changed on purpose, re-record it with "
                "scripts/record-cassettes):\n  " + "\n  ".join(unplayed),
                pytrace=False,
            )


@pytest.fixture
def nugen_target(request: pytest.FixtureRequest, vcr: Any) -> Iterator[NugenTarget]:
    """The service for a cassette-backed test, nugen dialect (see the module docstring)."""
    yield from _target(request, "nugen", vcr)


@pytest.fixture
def nugen_target_openai(request: pytest.FixtureRequest, vcr: Any) -> Iterator[NugenTarget]:
    """The same for the OpenAI-compatible dialect (base path ``/v1``)."""
    yield from _target(request, "openai", vcr)


@pytest.fixture
def unraisable() -> Iterator[list[Any]]:
    """Unraisable exceptions (ResourceWarnings from finalizers among them) seen during the
    test; the test fails if there were any, after a last garbage collection."""
    seen: list[Any] = []
    gc.collect()  # what earlier tests left to the collector (a LlamaIndex test's aiosqlite
    # connection, say) reports to the hook in place now, not to this test
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        yield seen
    finally:
        gc.collect()
        sys.unraisablehook = previous
    assert [str(u.exc_value) for u in seen] == []
