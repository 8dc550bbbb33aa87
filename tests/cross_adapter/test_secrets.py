"""The API key stays secret through both adapters.

A dedicated emulator accepts only ``KEY``, so every test proves that the key really was
used (calls succeed) while it never shows up where a user or an operator could see it:
``repr``/``str``, serialisations (``langchain_core.load.dumps``, LlamaIndex ``to_dict`` /
``to_json``, pydantic dumps), log records of every level from our loggers and
httpx/httpcore, framework debug output, exception text and every chained cause. A pickle
of a model carries the key (a ``SecretStr``), so worker processes authenticate. Plain
http to a non-loopback host is refused unless opted in, and redirects are not followed,
so no other host ever receives the ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd, dumps, loads
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock
from llama_index.core.schema import NodeWithScore, TextNode
from pydantic import SecretStr

from langchain_nugen import ChatNugen, NugenEmbeddings, NugenLLM, NugenRerank
from llama_index_nugen import Nugen, NugenEmbedding, NugenMultiModal
from llama_index_nugen import NugenRerank as LINugenRerank
from nugen_client import APIStatusError, InvalidInputError, NugenError
from nugen_emulator import Fault, NugenEmulator

KEY = "nk-live-SECRET-7f3a9c1e5b2d46800aa1"
WRONG_KEY = "nk-live-WRONG-0000aaaa1111bbbb2222"
CLASSES = [
    ChatNugen,
    NugenLLM,
    NugenEmbeddings,
    NugenRerank,
    Nugen,
    NugenMultiModal,
    NugenEmbedding,
    LINugenRerank,
]
LANGCHAIN = (ChatNugen, NugenLLM, NugenEmbeddings, NugenRerank)
LOGGERS = ["nugen_client", "langchain_nugen", "llama_index_nugen", "httpx", "httpcore"]


@pytest.fixture(scope="module")
def keyed_emulator() -> Iterator[NugenEmulator]:
    with NugenEmulator(api_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def emu(keyed_emulator: NugenEmulator) -> NugenEmulator:
    keyed_emulator.reset()
    return keyed_emulator


def make(cls: type[Any], emu: NugenEmulator, **kwargs: Any) -> Any:
    return cls(**{"base_url": emu.base_url, "api_key": KEY, "max_retries": 0, **kwargs})


def use(model: Any) -> None:
    """One real call, which also builds the model's clients."""
    if isinstance(model, ChatNugen):
        assert model.invoke("hello").content
    elif isinstance(model, NugenLLM):
        assert model.invoke("hello")
    elif isinstance(model, NugenEmbeddings):
        assert model.embed_query("hello")
    elif isinstance(model, NugenEmbedding):
        assert model.get_text_embedding("hello")
    elif isinstance(model, NugenRerank):
        assert model.rerank(["hello there", "bye"], "hello")
    elif isinstance(model, LINugenRerank):
        assert model.postprocess_nodes([NodeWithScore(node=TextNode(text="hi"))], query_str="hi")
    elif isinstance(model, NugenMultiModal):
        assert model.complete("hello", image_documents=[]).text
    else:
        assert model.chat([ChatMessage(role="user", content="hello")]).message.content


def assert_no_key(text: str | bytes, where: str) -> None:
    needle: Any = KEY.encode() if isinstance(text, bytes) else KEY
    assert needle not in text, f"the API key leaked into {where}"


# ------------------------------------------------------------- repr, str, serialisations


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_repr_str_and_serialisations_hide_the_key(cls: type[Any], emu: NugenEmulator) -> None:
    model = make(cls, emu)
    for moment in ("fresh", "after use"):
        if moment == "after use":
            use(model)
            assert emu.requests[-1].headers["authorization"] == f"Bearer {KEY}"
        shown = {
            "repr": repr(model),
            "str": str(model),
            "format": f"{model!r} {model}",
            "vars": repr(vars(model)),
            "model_dump": repr(model.model_dump()),
            "model_dump_json": model.model_dump_json(),
        }
        if isinstance(model, LANGCHAIN):
            shown["dumps"] = dumps(model)
            shown["dumpd"] = repr(dumpd(model))
        else:
            shown["to_dict"] = repr(model.to_dict())
            shown["to_json"] = model.to_json()
        for where, text in shown.items():
            assert_no_key(text, f"{cls.__name__} {where} ({moment})")


HEADER_SECRET = "hdr-SECRET-0b1c2d3e4f"
CREDENTIAL_HEADERS = {
    "X-Api-Key": HEADER_SECRET,
    "Proxy-Authorization": HEADER_SECRET,
    "X-Auth-Token": HEADER_SECRET,
    "X-Client-Secret": HEADER_SECRET,
    # API gateways' names: no word in them says "secret", so only an allowlist hides them.
    "X-Authorization": HEADER_SECRET,
    "X-Auth-Key": HEADER_SECRET,
    "X-Access-Key": HEADER_SECRET,
    "Ocp-Apim-Subscription-Key": HEADER_SECRET,
    "Authorization-Extra": HEADER_SECRET,
}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_credential_like_default_headers_are_redacted_when_serialised(
    cls: type[Any], emu: NugenEmulator
) -> None:
    model = make(cls, emu, default_headers={**CREDENTIAL_HEADERS, "X-Request-ID": "t-1"})
    use(model)
    # Sent as given: the redaction is only of what is shown.
    assert emu.requests[-1].headers["x-api-key"] == HEADER_SECRET
    shown = {
        "repr": repr(model),
        "str": str(model),
        "model_dump": repr(model.model_dump()),
        "model_dump_json": model.model_dump_json(),
    }
    if isinstance(model, (ChatNugen, NugenLLM)):
        shown["dumps"] = dumps(model)
        shown["dumpd"] = repr(dumpd(model))
        assert dumpd(model)["kwargs"]["default_headers"]["X-Request-ID"] == "t-1"
    elif not isinstance(model, LANGCHAIN):
        shown["to_dict"] = repr(model.to_dict())
        shown["to_json"] = model.to_json()
        assert model.to_dict()["default_headers"]["X-Request-ID"] == "t-1"
    for where, text in shown.items():
        assert HEADER_SECRET not in text, f"a credential header leaked into {cls.__name__} {where}"


def _collect(model: Any, form: str, **kwargs: Any) -> None:
    if form == "invoke":
        model.invoke("hello", **kwargs)
    elif form == "batch":
        model.batch(["hello"], **kwargs)
    elif form == "stream":
        list(model.stream("hello", **kwargs))
    else:

        async def pieces() -> list[Any]:
            return [piece async for piece in model.astream("hello", **kwargs)]

        asyncio.run(pieces())


@pytest.mark.parametrize("form", ["invoke", "batch", "stream", "astream"])
@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM], ids=lambda c: c.__name__)
def test_langchain_callbacks_see_redacted_headers(
    cls: type[Any], form: str, emu: NugenEmulator
) -> None:
    # BaseLLM.stream / astream hand call keywords to callbacks and traces as they are;
    # NugenLLM seals credential-like per-call headers before they get there.
    seen: list[Any] = []

    class Spy(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            seen.append((serialized, kwargs))

        def on_llm_start(self, serialized: Any, prompts: Any, **kwargs: Any) -> None:
            seen.append((serialized, kwargs))

    model = make(cls, emu, default_headers=dict(CREDENTIAL_HEADERS))
    _collect(
        model,
        form,
        extra_headers={"Authorization-Extra": HEADER_SECRET, "X-Access-Key": HEADER_SECRET},
        config={"callbacks": [Spy()]},
    )
    assert emu.requests[-1].headers["x-access-key"] == HEADER_SECRET
    assert seen, "no start callback"
    assert HEADER_SECRET not in repr(seen)
    assert HEADER_SECRET not in json.dumps(seen, default=str)
    assert KEY not in repr(seen)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_pickles_carry_the_key_and_a_fresh_pool(cls: type[Any], emu: NugenEmulator) -> None:
    model = make(cls, emu)
    use(model)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(model, protocol=protocol)
        clone = pickle.loads(data)
        if hasattr(model, "to_dict"):
            # LlamaIndex's __setstate__ re-runs __init__ (a new CallbackManager, which has
            # no __eq__): compare what the object is made of instead.
            assert clone.to_dict() == model.to_dict()
        else:
            assert clone == model
        # The key travels as a SecretStr: the clone has it, and still never shows it.
        assert isinstance(clone.api_key, SecretStr)
        assert clone.api_key.get_secret_value() == KEY
        for text in (repr(clone), str(clone), repr(clone.api_key)):
            assert_no_key(text, f"the repr/str of an unpickled {cls.__name__}")
        # The client cache is not pickled: the clone opens a pool of its own.
        assert clone._clients.built_sync_client is None
        emu.reset()
        use(clone)
        assert emu.requests[-1].headers["authorization"] == f"Bearer {KEY}"
        assert clone._clients.built_sync_client is not model._clients.built_sync_client


UNPICKLED_ELSEWHERE = [ChatNugen, Nugen]


@pytest.fixture(scope="module")
def unpickled_elsewhere(keyed_emulator: NugenEmulator) -> dict[str, tuple[list[str], str, str]]:
    """One model of each class in ``UNPICKLED_ELSEWHERE``, pickled here and unpickled in one
    other process (one interpreter start for all), which prints its key's repr and makes
    a call, asking "hello <class>": per class, what it printed, the ``Authorization``
    header of the request that asked its question, and what it wrote on stderr."""
    data = pickle.dumps([make(cls, keyed_emulator) for cls in UNPICKLED_ELSEWHERE])
    script = (
        "import pickle, sys, traceback\n"
        "for model in pickle.loads(sys.stdin.buffer.read()):\n"
        "    name = type(model).__name__\n"
        "    print(f'== {name}', flush=True)\n"
        "    print(f'== {name}', file=sys.stderr, flush=True)\n"
        "    try:\n"
        "        print(repr(model.api_key))\n"
        "        if hasattr(model, 'invoke'):\n"
        "            print(model.invoke(f'hello {name}').content)\n"
        "        else:\n"
        "            from llama_index.core.base.llms.types import ChatMessage\n"
        "            message = ChatMessage(role='user', content=f'hello {name}')\n"
        "            print(model.chat([message]).message.content)\n"
        "    except Exception:\n"
        "        traceback.print_exc()\n"
    )
    # No NUGEN_API_KEY in this environment: the key can only come from the pickle.
    env = {"PATH": "", "PYTHONPATH": ":".join(sys.path)}
    keyed_emulator.reset()
    done = subprocess.run(
        [sys.executable, "-c", script], input=data, capture_output=True, env=env, timeout=60
    )
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    printed = {
        name: lines.splitlines()
        for name, _, lines in (part.partition("\n") for part in stdout.split("== ")[1:])
    }
    errors = dict(part.partition("\n")[::2] for part in stderr.split("== ")[1:])
    results = {}
    for cls in UNPICKLED_ELSEWHERE:
        name = cls.__name__
        asked = [
            r.headers.get("authorization", "")
            for r in keyed_emulator.requests
            if f"hello {name}" in r.raw_body.decode("utf-8", "replace")
        ]
        report = f"exit {done.returncode}\n{errors.get(name, stderr)[-2000:]}"
        results[name] = (printed.get(name, []), asked[-1] if asked else "", report)
    return results


@pytest.mark.parametrize("cls", UNPICKLED_ELSEWHERE, ids=lambda c: c.__name__)
def test_a_model_unpickled_in_another_process_authenticates_as_its_parent(
    cls: type[Any], unpickled_elsewhere: dict[str, tuple[list[str], str, str]]
) -> None:
    printed, authorization, stderr = unpickled_elsewhere[cls.__name__]
    expected = ["SecretStr('**********')", f'You asked: "hello {cls.__name__}".']
    assert printed == expected, stderr
    assert authorization == f"Bearer {KEY}"


# -------------------------------------------------------------------------------- logs


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _every_call(cls: type[Any], emu: NugenEmulator) -> None:
    """Success, a retry, a stream and errors (some echoing the key), through ``cls``."""
    model = make(cls, emu, max_retries=1)
    if cls is ChatNugen:
        messages: Any = "hello"
        call, stream = model.invoke, lambda m: list(model.stream(m))
        acall = model.ainvoke
        wrong = make(cls, emu, api_key=WRONG_KEY).invoke
    else:
        messages = [ChatMessage(role="user", content="hello")]
        call, stream = model.chat, lambda m: list(model.stream_chat(m))
        acall = model.achat
        wrong = make(cls, emu, api_key=WRONG_KEY).chat
    emu.inject(Fault(status=429, headers={"Retry-After": "0"}))
    call(messages)  # retried (logged), then answered
    emu.inject(
        Fault(status=500, body={"detail": f"bad token {KEY}"}, headers={"Retry-After": "0"}),
        times=2,
    )
    with pytest.raises(NugenError):
        call(messages)
    emu.inject(Fault(error_event_after=1, body={"error": {"message": f"token {KEY} revoked"}}))
    with pytest.raises(NugenError):
        stream(messages)
    asyncio.run(acall(messages))
    with pytest.raises(NugenError):
        wrong(messages)
    assert emu.pending_faults == 0


@pytest.mark.parametrize("cls", [ChatNugen, Nugen], ids=lambda c: c.__name__)
def test_logs_at_every_level_never_show_the_key(
    cls: type[Any], emu: NugenEmulator, all_logs: pytest.LogCaptureFixture
) -> None:
    _every_call(cls, emu)
    records = all_logs.records
    # We did capture the chatty loggers, at DEBUG, including the transport's own.
    names = {record.name.split(".")[0] for record in records}
    assert {"nugen_client", "httpx", "httpcore"} <= names
    assert any(record.levelno == logging.DEBUG for record in records)
    for record in records:
        if record.name.startswith("nugen_client"):
            # Arguments a handler may serialise its own way: text, numbers and our errors
            # (redacted), never an object holding the key (a request's headers).
            args = record.args if isinstance(record.args, tuple) else ()
            plain = str | int | float | NugenError
            assert all(isinstance(arg, plain) for arg in args), record.args
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert_no_key(text, f"a {record.levelname} record of {record.name}")
        assert WRONG_KEY not in text
    # Our request log shows the headers, with the credentials redacted.
    sent = [r.getMessage() for r in records if r.name == "nugen_client" and "headers=" in r.message]
    assert sent
    assert all("'Authorization': '***'" in line for line in sent)


def test_framework_debug_output_never_shows_the_key(
    emu: NugenEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """LangChain's ``set_debug`` and LlamaIndex's "simple" handler print what they trace."""
    import llama_index.core
    from langchain_core.globals import set_debug

    set_debug(True)
    try:
        make(ChatNugen, emu).invoke("hello")
    finally:
        set_debug(False)
    previous = llama_index.core.global_handler
    llama_index.core.set_global_handler("simple")
    try:
        make(Nugen, emu).complete("hello")
    finally:
        llama_index.core.global_handler = previous
    out = capsys.readouterr()
    assert "hello" in out.out  # the debug output was there
    assert_no_key(out.out + out.err, "framework debug output")


# -------------------------------------------------------------------------- exceptions


def _chain(error: BaseException) -> list[BaseException]:
    """The error and every cause and context, shown or suppressed."""
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return seen


def _failing_calls(emu: NugenEmulator) -> list[tuple[str, bool, Callable[[], Any]]]:
    """(name, whether it streams, the call) through both adapters."""
    lc, li = make(ChatNugen, emu), make(Nugen, emu)
    messages = [ChatMessage(role="user", content="hello")]

    async def lc_astream() -> None:
        async for _ in lc.astream("hello"):
            pass

    async def li_astream() -> None:
        async for _ in await li.astream_chat(messages):
            pass

    return [
        ("lc invoke", False, lambda: lc.invoke("hello")),
        ("lc ainvoke", False, lambda: asyncio.run(lc.ainvoke("hello"))),
        ("lc stream", True, lambda: list(lc.stream("hello"))),
        ("lc astream", True, lambda: asyncio.run(lc_astream())),
        ("li chat", False, lambda: li.chat(messages)),
        ("li achat", False, lambda: asyncio.run(li.achat(messages))),
        ("li stream_chat", True, lambda: list(li.stream_chat(messages))),
        ("li astream_chat", True, lambda: asyncio.run(li_astream())),
    ]


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500, body={"detail": f"upstream rejected token {KEY}"}),
        Fault(status=401, body=f"Authorization: Bearer {KEY} is not valid"),
        Fault(status=200, body=f'{{"broken": "{KEY}'.encode()),
        Fault(error_event_after=1, body={"error": {"message": f"bad key {KEY}", "code": 403}}),
        Fault(
            status=200,
            headers={"content-type": "text/event-stream"},
            body=f'data: {{"broken": "{KEY}\n\n'.encode(),
        ),
        Fault(malformed_after=1),
        Fault(cut_after=2, reset=True),
        Fault(status=500, body={"detail": "unknown credential", KEY: "rejected"}),
        Fault(status=500, headers={"x-request-id": f"req-{KEY}"}),
        Fault(error_event_after=1, headers={"x-request-id": f"req-{KEY}"}),
    ],
    ids=[
        "500-echo",
        "401-echo",
        "malformed-body-echo",
        "error-event-echo",
        "malformed-event-echo",
        "malformed",
        "reset",
        "500-echo-as-object-key",
        "500-echo-in-request-id",
        "error-event-echo-in-request-id",
    ],
)
def test_errors_and_their_causes_never_show_the_key(emu: NugenEmulator, fault: Fault) -> None:
    calls = _failing_calls(emu)
    calls += [
        ("lc wrong key", False, lambda: make(ChatNugen, emu, api_key=WRONG_KEY).invoke("x")),
        ("li wrong key", False, lambda: make(Nugen, emu, api_key=WRONG_KEY).complete("x")),
    ]
    for name, streams, call in calls:
        if fault.affects_stream and not streams:
            continue  # a plain reply is not an event stream
        emu.reset()
        if "wrong key" not in name:
            emu.inject(fault)
        with pytest.raises(NugenError) as raised:
            call()
        assert emu.pending_faults == 0
        for link in _chain(raised.value):
            for where, text in {
                "str": str(link),
                "repr": repr(link),
                "args": repr(link.args),
                "attributes": repr({k: v for k, v in vars(link).items() if k != "headers"}),
            }.items():
                assert_no_key(text, f"{name}: {type(link).__name__} {where}")
                assert WRONG_KEY not in text
        report = "".join(traceback.format_exception(raised.value))
        assert_no_key(report, f"{name}: the printed traceback")
        assert_no_key(pickle.dumps(raised.value), f"{name}: the pickled error")


# --------------------------------------------------------------- where the key may go


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "base_url", ["http://api.example.com/v1", "http://10.0.0.7:8000/v1", "http://[2001:db8::1]/v1"]
)
def test_plain_http_to_another_machine_needs_an_opt_in(
    cls: type[Any], base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for how in ("argument", "environment"):
        if how == "environment":
            monkeypatch.setenv("NUGEN_BASE_URL", base_url)
            model = cls(api_key=KEY)
        else:
            model = cls(api_key=KEY, base_url=base_url)
        # Refused when the client is built, before any connection (pytest-socket would
        # also block one), with an error that says how to opt in and shows no key.
        with pytest.raises(InvalidInputError, match="allow_insecure_http") as raised:
            model._sync_client()
        assert_no_key(str(raised.value), "the refusal")
        with pytest.raises(InvalidInputError, match="allow_insecure_http"):
            use(model)
        monkeypatch.delenv("NUGEN_BASE_URL", raising=False)
    opted_in = cls(api_key=KEY, base_url=base_url, allow_insecure_http=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # warned once per host
        assert opted_in._sync_client().base_url == base_url.rstrip("/")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed_so_no_other_host_gets_the_key(
    emu: NugenEmulator, status: int
) -> None:
    with NugenEmulator(api_key=None) as elsewhere:
        target = elsewhere.base_url + "/chat/completions"
        for name, _, call in _failing_calls(emu):
            emu.reset()
            emu.inject(Fault(status=status, headers={"Location": target}))
            with pytest.raises(APIStatusError) as raised:
                call()
            assert raised.value.status_code == status, name
            assert len(emu.requests) == 1, name  # a redirect is not retried either
        assert elsewhere.requests == []


# ------------------------------------------------------------ credentials in wrong places


@pytest.mark.parametrize(
    "keyword", ["nugen_api_key", "openai_api_key", "api_token", "apiKey", "access_token"]
)
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_key_under_a_wrong_keyword_is_refused_without_echoing_it(
    cls: type[Any], keyword: str, emu: NugenEmulator
) -> None:
    # Left alone, LangChain would move it into model_kwargs: shown by repr, sent in the body.
    with pytest.raises(ValueError, match="api_key") as raised:
        make(cls, emu, **{keyword: KEY})
    assert repr(keyword) in str(raised.value)
    assert_no_key(str(raised.value), f"the refusal of {cls.__name__}({keyword}=)")
    assert emu.requests == []


@pytest.mark.parametrize("keyword", ["openai_proxy", "proxy", "https_proxy"])
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_proxy_keyword_is_refused_without_echoing_it(
    cls: type[Any], keyword: str, emu: NugenEmulator
) -> None:
    # ChatOpenAI's openai_proxy: moved into model_kwargs, its password was shown by repr
    # and dumps and sent to the service in the body, and no request used the proxy.
    proxy = f"http://user:{KEY}@proxy.example:3128"
    with pytest.raises(ValueError, match="HTTPS_PROXY") as raised:
        make(cls, emu, **{keyword: proxy})
    assert repr(keyword) in str(raised.value)
    assert_no_key(str(raised.value), f"the refusal of {cls.__name__}({keyword}=)")
    for extra in ("model_kwargs", "additional_kwargs"):
        if extra in cls.model_fields:
            with pytest.raises(ValueError, match="HTTPS_PROXY"):
                make(cls, emu, **{extra: {keyword: proxy}})
    assert emu.requests == []


@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM, Nugen, NugenMultiModal])
def test_a_typo_of_a_token_field_is_named_as_a_typo_not_a_credential(
    cls: type[Any], emu: NugenEmulator
) -> None:
    # ``max_token`` holds the word "token", but it is a near miss of ``max_tokens``.
    with pytest.raises(ValueError, match="did you mean 'max_tokens'") as raised:
        make(cls, emu, max_token=5)
    assert "credential" not in str(raised.value)


def test_a_typo_of_a_token_call_keyword_is_named_as_a_typo(emu: NugenEmulator) -> None:
    messages = [ChatMessage(role="user", content="hello")]
    calls: list[Callable[[], Any]] = [
        lambda: make(ChatNugen, emu).invoke("hello", max_token=5),
        lambda: make(Nugen, emu).chat(messages, max_token=5),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match="did you mean 'max_tokens'"):
            call()
    assert emu.requests == []


def test_a_typo_of_a_token_field_in_extra_body_is_named_as_a_typo(emu: NugenEmulator) -> None:
    messages = [ChatMessage(role="user", content="hello")]
    typo = {"extra_body": {"max_token": 5}}
    calls: list[Callable[[], Any]] = [
        lambda: make(ChatNugen, emu).invoke("hello", **typo),
        lambda: make(Nugen, emu).chat(messages, **typo),
        lambda: (
            make(ChatNugen, emu)
            ._sync_client()
            .chat_completion(model="m", messages=[{"role": "user", "content": "hello"}], **typo)
        ),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match="did you mean 'max_tokens'") as raised:
            call()
        assert "credential" not in str(raised.value)
    assert emu.requests == []


@pytest.mark.parametrize("keyword", ["openai_api_key", "api_key"])
@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM, Nugen, NugenMultiModal])
def test_a_key_among_the_extra_body_fields_is_refused(
    cls: type[Any], keyword: str, emu: NugenEmulator
) -> None:
    extra = "model_kwargs" if cls in LANGCHAIN else "additional_kwargs"
    with pytest.raises(ValueError, match="api_key") as raised:
        make(cls, emu, **{extra: {keyword: KEY}})
    assert_no_key(str(raised.value), f"the refusal of {cls.__name__}({extra}=)")


@pytest.mark.parametrize(
    "given",
    [{"api_key": KEY}, {"openai_api_key": KEY}, {"default_headers": {"X-Api-Key": KEY}}],
    ids=lambda given: next(iter(given)),
)
@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM, Nugen, NugenMultiModal])
@pytest.mark.filterwarnings("ignore:.*extra_body:UserWarning")
def test_a_key_in_the_extra_body_of_the_extra_body_fields_is_refused_at_construction(
    cls: type[Any], given: dict[str, Any], emu: NugenEmulator
) -> None:
    # Refused only at the first call, it was shown until then by repr, dumps and to_dict.
    extras: list[dict[str, Any]] = [
        {
            "additional_kwargs" if cls in (Nugen, NugenMultiModal) else "model_kwargs": {
                "extra_body": given
            }
        }
    ]
    if cls in LANGCHAIN:
        extras.append({"extra_body": given})  # ChatOpenAI's field, an unknown keyword here
    for extra in extras:
        with pytest.raises(ValueError, match=next(iter(given))) as raised:
            make(cls, emu, **extra)
        assert_no_key(str(raised.value), f"the refusal of {cls.__name__}({extra})")
    assert emu.requests == []


@pytest.mark.parametrize("keyword", ["extra_headers", "default_headers"])
@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM, Nugen, NugenMultiModal, NugenEmbedding])
def test_headers_among_the_extra_body_fields_are_refused(
    cls: type[Any], keyword: str, emu: NugenEmulator
) -> None:
    # There they were sent (or put in the body) but shown unredacted by repr and to_dict.
    extra = "model_kwargs" if cls in LANGCHAIN else "additional_kwargs"
    with pytest.raises(ValueError, match=rf"{keyword}.*default_headers=") as raised:
        make(cls, emu, **{extra: {keyword: {"X-Api-Key": KEY}}})
    assert_no_key(str(raised.value), f"the refusal of {cls.__name__}({extra}=)")


@pytest.mark.filterwarnings("ignore:.*extra_headers:UserWarning")
def test_extra_headers_given_to_the_langchain_constructor_are_refused(emu: NugenEmulator) -> None:
    # Unknown constructor keywords move into model_kwargs, and from there into the body.
    with pytest.raises(ValueError, match=r"extra_headers.*default_headers=") as raised:
        make(ChatNugen, emu, extra_headers={"X-Api-Key": KEY})
    assert_no_key(str(raised.value), "the refusal of ChatNugen(extra_headers=)")


def test_a_key_under_a_wrong_call_keyword_is_refused_before_any_request(
    emu: NugenEmulator,
) -> None:
    messages = [ChatMessage(role="user", content="hello")]
    lc_chat, lc_text, li = make(ChatNugen, emu), make(NugenLLM, emu), make(Nugen, emu)
    calls: list[Callable[[], Any]] = [
        lambda: lc_chat.invoke("hello", api_token=KEY),
        lambda: list(lc_chat.stream("hello", nugen_api_key=KEY)),
        lambda: lc_text.invoke("hello", api_token=KEY),
        lambda: li.chat(messages, api_token=KEY),
        lambda: li.complete("hello", openai_api_key=KEY),
        # The key's own name too: a call keyword becomes a body field, never the header.
        lambda: lc_chat.invoke("hello", api_key=KEY),
        lambda: lc_text.invoke("hello", api_key=KEY),
        lambda: li.chat(messages, api_key=KEY),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match="api_key") as raised:
            call()
        assert_no_key(str(raised.value), "the refusal of a call keyword")
    assert emu.requests == []


@pytest.mark.parametrize(
    ("keyword", "value", "meant"),
    [
        ("default_headers", {"X-Api-Token": KEY}, "extra_headers"),
        ("request_timeout", 5, "timeout"),
        ("base_url", "http://127.0.0.1:9/v1", "on the model"),
        ("max_retries", 0, "on the model"),
        ("deadline", 5, "on the model"),
    ],
)
def test_a_connection_setting_given_to_one_call_is_refused_before_any_request(
    emu: NugenEmulator, keyword: str, value: Any, meant: str
) -> None:
    # Sent as a body field it would do nothing it says, and put header values in the body.
    messages = [ChatMessage(role="user", content="hello")]
    lc_chat, lc_text, li = make(ChatNugen, emu), make(NugenLLM, emu), make(Nugen, emu)
    calls: list[Callable[[], Any]] = [
        lambda: lc_chat.invoke("hello", **{keyword: value}),
        lambda: list(lc_chat.stream("hello", **{keyword: value})),
        lambda: lc_text.invoke("hello", **{keyword: value}),
        lambda: li.chat(messages, **{keyword: value}),
        lambda: list(li.stream_chat(messages, **{keyword: value})),
        lambda: li.complete("hello", **{keyword: value}),
        lambda: asyncio.run(li.achat(messages, **{keyword: value})),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match=rf"{keyword}.*{meant}") as raised:
            call()
        assert_no_key(str(raised.value), f"the refusal of {keyword}=")
    assert emu.requests == []


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_refused_field_never_quotes_what_was_given(cls: type[Any], emu: NugenEmulator) -> None:
    # The key pasted into the wrong field, and an unknown keyword where one is refused.
    with pytest.raises(ValueError, match="timeout") as raised:
        make(cls, emu, timeout=KEY)
    assert_no_key(str(raised.value), f"the refusal of {cls.__name__}(timeout=)")
    if cls is NugenEmbeddings:
        with pytest.raises(ValueError, match="secret_place") as raised:
            make(cls, emu, secret_place=KEY)
        assert_no_key(str(raised.value), "the refusal of an unknown keyword")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_base_url_with_a_password_is_refused_at_construction(
    cls: type[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"https://user:{KEY}@api.example.com/v1"
    with pytest.raises(ValueError, match="user name or password") as raised:
        cls(api_key="k-1", base_url=url)
    assert_no_key(str(raised.value), f"the refusal of {cls.__name__}(base_url=)")
    monkeypatch.setenv("NUGEN_BASE_URL", url)
    with pytest.raises(ValueError, match="user name or password") as raised:
        cls(api_key="k-1")
    assert_no_key(str(raised.value), f"the refusal of {cls.__name__} with NUGEN_BASE_URL")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("how", ["assigned", "model_copy"])
def test_a_key_assigned_as_text_stays_hidden_and_is_used(
    cls: type[Any], how: str, emu: NugenEmulator
) -> None:
    model = make(cls, emu, api_key=WRONG_KEY)
    if how == "assigned":
        model.api_key = KEY  # plain text, as os.environ gives it
    else:
        model = model.model_copy(update={"api_key": KEY})
    assert isinstance(model.api_key, SecretStr)
    for where, text in {"repr": repr(model), "str": str(model), "vars": repr(vars(model))}.items():
        assert_no_key(text, f"{cls.__name__} {where} after the key was {how}")
    use(model)
    assert emu.requests[-1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_base_url_with_a_password_is_refused_when_assigned(
    cls: type[Any], emu: NugenEmulator
) -> None:
    model = make(cls, emu)
    with pytest.raises(InvalidInputError, match="user name or password") as raised:
        model.base_url = f"https://user:{KEY}@api.example.com/v1"
    assert_no_key(str(raised.value), f"the refusal of {cls.__name__}.base_url = ...")
    with pytest.raises(InvalidInputError, match="user name or password"):
        model.model_copy(update={"base_url": f"https://user:{KEY}@api.example.com/v1"})
    assert model.base_url == emu.base_url
    assert_no_key(repr(model), f"{cls.__name__} repr after a refused base_url")


def _rebuilt(model: Any) -> Any:
    """``model`` rebuilt from its serialised form, the key given again."""
    if isinstance(model, (ChatNugen, NugenLLM)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # langchain_core.load is in beta
            return loads(
                dumps(model),
                secrets_map={"NUGEN_API_KEY": KEY},
                valid_namespaces=["langchain_nugen"],
                allowed_objects=[type(model)],
            )
    if isinstance(model, NugenEmbeddings | NugenRerank):  # not LangChain-serialisable
        return type(model)(**model.model_dump(), api_key=KEY)
    return type(model).from_dict(model.to_dict(), api_key=KEY)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_rebuilt_model_never_sends_the_redaction_placeholder(
    cls: type[Any], emu: NugenEmulator
) -> None:
    model = make(cls, emu, default_headers={"X-Auth-Key": HEADER_SECRET, "X-Provider": "fwai"})
    clone = _rebuilt(model)
    assert clone.default_headers == {"X-Auth-Key": "***", "X-Provider": "fwai"}
    with pytest.raises(InvalidInputError, match=r"default_headers\['X-Auth-Key'\].*placeholder"):
        use(clone)
    assert emu.requests == []
    clone.default_headers = {"X-Auth-Key": HEADER_SECRET}  # given again: sent
    use(clone)
    assert emu.requests[-1].headers["x-auth-key"] == HEADER_SECRET


@pytest.mark.parametrize("placeholder", ["***", "**********"])
def test_a_placeholder_as_a_call_header_is_refused(emu: NugenEmulator, placeholder: str) -> None:
    messages = [ChatMessage(role="user", content="hello")]
    for call in (
        lambda: make(ChatNugen, emu).invoke("hi", extra_headers={"X-Api-Key": placeholder}),
        lambda: make(Nugen, emu).chat(messages, extra_headers={"X-Api-Key": placeholder}),
    ):
        with pytest.raises(InvalidInputError, match=r"extra_headers\['X-Api-Key'\]"):
            call()
    assert emu.requests == []


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="needs /proc")
def test_an_image_path_linked_to_the_environment_is_refused(
    emu: NugenEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LlamaIndex guesses image/svg+xml from the name; the bytes are the process environment.
    monkeypatch.setenv("NUGEN_SECRET_PROBE", KEY)
    link = tmp_path / "avatar.svg"
    link.symlink_to("/proc/self/environ")
    llm = make(Nugen, emu, model="nugen-flash-vision")
    svg = "image/svg+xml"  # a type that cannot be told from the bytes: once taken on trust
    for block in (
        ImageBlock(path=link, image_mimetype=svg),
        ImageBlock(url=f"file://{link}", image_mimetype=svg),
    ):
        with pytest.raises(InvalidInputError, match="not a recognised image") as raised:
            llm.chat([ChatMessage(role="user", blocks=[TextBlock(text="hi"), block])])
        assert_no_key(str(raised.value), "the refusal of an image path")
    assert emu.requests == []
