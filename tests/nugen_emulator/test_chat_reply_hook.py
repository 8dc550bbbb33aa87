"""The public ``chat_reply`` hook: replacing the model's chat replies, nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nugen_emulator import NugenEmulator
from nugen_emulator.replies import (
    ChatCall,
    Choice,
    EncodedStream,
    Generation,
    ToolCall,
    encode_event,
)

from .conftest import USER, chat, sse_events, stream

LOOKUP = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


class Recorder:
    """A hook that keeps every call it sees and answers with what the test sets."""

    def __init__(self) -> None:
        self.calls: list[ChatCall] = []
        self.answer: Any = None

    def __call__(self, call: ChatCall) -> Generation | EncodedStream | None:
        self.calls.append(call)
        answer = self.answer
        return answer(call) if callable(answer) else answer


@pytest.fixture(params=["nugen", "openai"])
def hooked(request: pytest.FixtureRequest) -> Iterator[tuple[NugenEmulator, Recorder]]:
    recorder = Recorder()
    with NugenEmulator(dialect=request.param, chat_reply=recorder, seed=3) as emu:
        yield emu, recorder


def _client(emu: NugenEmulator) -> httpx.Client:
    return httpx.Client(
        base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=5
    )


def test_none_lets_the_model_answer(hooked: tuple[NugenEmulator, Recorder]) -> None:
    emu, recorder = hooked
    with _client(emu) as client:
        body = chat(client, temperature=0.5, n=2)
    assert body["choices"][0]["message"]["content"].startswith("You asked:")
    (call,) = recorder.calls
    assert (call.model, call.n) == ("nugen-flash-instruct", 2)
    assert not call.stream
    assert not call.vision
    assert call.dialect == emu.dialect
    assert call.body["temperature"] == 0.5
    assert call.messages == USER
    assert call.prompt_tokens == body["usage"]["prompt_tokens"]


def test_a_generation_is_rendered_like_the_models(hooked: tuple[NugenEmulator, Recorder]) -> None:
    emu, recorder = hooked
    recorder.answer = lambda call: Generation(
        choices=[Choice(content="Paris.", finish_reason="stop")] * call.n,
        prompt_tokens=call.prompt_tokens,
    )
    with _client(emu) as client:
        body = chat(client, n=2)
        chunks = stream(client, stream_options={"include_usage": True})
    assert [c["message"]["content"] for c in body["choices"]] == ["Paris.", "Paris."]
    assert body["usage"]["completion_tokens"] == 2
    assert body["id"].startswith("chatcmpl-")  # live-like nugen ids, as OpenAI-compatible hosts
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == (
        "Paris."
    )
    assert chunks[-1]["usage"]["total_tokens"] == chunks[-1]["usage"]["prompt_tokens"] + 1


def test_tool_calls_without_ids_get_fresh_ones_each_time(
    hooked: tuple[NugenEmulator, Recorder],
) -> None:
    emu, recorder = hooked
    shared = Generation(
        choices=[
            Choice(
                content=None,
                finish_reason="tool_calls",
                tool_calls=[ToolCall("lookup", '{"q": 1}'), ToolCall("lookup", "{}", id="fixed")],
            )
        ],
        prompt_tokens=5,
    )
    recorder.answer = shared
    with _client(emu) as client:
        first, second = (chat(client, tools=[LOOKUP]) for _ in range(2))
    ids = [[c["id"] for c in r["choices"][0]["message"]["tool_calls"]] for r in (first, second)]
    assert all(call_ids[0].startswith("call_") for call_ids in ids)
    assert ids[0][0] != ids[1][0]
    assert ids[0][1] == ids[1][1] == "fixed"
    assert shared.choices[0].tool_calls[0].id == ""  # the hook's object is left alone
    assert first["choices"][0]["finish_reason"] == "tool_calls"


def test_an_encoded_stream_is_sent_as_is_then_done(
    hooked: tuple[NugenEmulator, Recorder],
) -> None:
    emu, recorder = hooked

    def encoded(call: ChatCall) -> EncodedStream:
        generation = Generation([Choice(content="abcdef", finish_reason="stop")], 1)
        chunks = call.stream_chunks(
            generation, response_id="fixed-id", fragments=["ab", "cd", "ef"]
        )
        return EncodedStream([encode_event(chunk) for chunk in chunks])

    recorder.answer = encoded
    with _client(emu) as client:
        chunks = stream(client)
        emu.inject(cut_after=2)
        reply = client.post(
            "/chat/completions", json={"model": "m", "messages": USER, "stream": True}
        )
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert [delta for delta in deltas if delta][:3] == ["ab", "cd", "ef"]
    assert {c["id"] for c in chunks} == {"fixed-id"}
    assert len(sse_events(reply.text)) == 2  # faults still apply, and no [DONE] after a cut


def test_an_encoded_stream_of_a_generator_is_sent_too(
    hooked: tuple[NugenEmulator, Recorder],
) -> None:
    emu, recorder = hooked

    def encoded(call: ChatCall) -> EncodedStream:
        generation = Generation([Choice(content="abc", finish_reason="stop")], 1)
        chunks = call.stream_chunks(generation, fragments=["a", "bc"])
        return EncodedStream(encode_event(chunk) for chunk in chunks)  # type: ignore[arg-type]

    recorder.answer = encoded
    with _client(emu) as client:
        chunks = stream(client)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "abc"


def test_the_hook_sees_faults_vision_and_usage() -> None:
    recorder = Recorder()
    with NugenEmulator(chat_reply=recorder) as emu, _client(emu) as client:
        emu.inject(no_usage=True)
        assert chat(client)["usage"] is None
        reply = client.post(
            "/chat/vision", json={"model": "nugen-flash-vision", "messages": USER, "stream": True}
        )
        assert reply.status_code == 200
    no_usage, vision = recorder.calls
    assert no_usage.no_usage
    assert not vision.no_usage
    assert vision.vision
    assert not vision.stream  # /chat/vision never streams
    generation = Generation([Choice(content="a b c", finish_reason="stop")], prompt_tokens=4)
    assert vision.usage(generation) == {
        "prompt_tokens": 4,
        "completion_tokens": 3,
        "total_tokens": 7,
        "completion_tokens_details": None,  # the live service's null OpenAI fields
        "prompt_tokens_details": None,
    }


def test_invalid_requests_never_reach_the_hook(hooked: tuple[NugenEmulator, Recorder]) -> None:
    emu, recorder = hooked
    with _client(emu) as client:
        bad = client.post("/chat/completions", json={"model": "m", "messages": []})
        unauthorised = httpx.post(f"{emu.base_url}/chat/completions", json={"model": "m"})
    assert bad.status_code in (400, 422)
    assert unauthorised.status_code == 401
    assert recorder.calls == []


def test_a_failing_hook_is_a_500_in_the_dialect(
    hooked: tuple[NugenEmulator, Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    emu, recorder = hooked

    def broken(call: ChatCall) -> None:
        raise RuntimeError("hook bug")

    recorder.answer = broken
    with caplog.at_level("ERROR", logger="nugen_emulator"), _client(emu) as client:
        reply = client.post("/chat/completions", json={"model": "m", "messages": USER})
        # An EncodedStream for a JSON reply is a hook bug too, reported the same way.
        recorder.answer = EncodedStream([b"data: {}\n\n"])
        misused = client.post("/chat/completions", json={"model": "m", "messages": USER})
        recorder.answer = "Paris."
        wrong_type = client.post("/chat/completions", json={"model": "m", "messages": USER})
    assert reply.status_code == misused.status_code == wrong_type.status_code == 500
    # The body names the hook and what went wrong, so the test's own output shows it.
    assert "the chat_reply hook Recorder raised RuntimeError: hook bug" in reply.text
    assert "the chat_reply hook Recorder returned an EncodedStream for a JSON reply" in misused.text
    assert "must return a Generation, an EncodedStream or None, got 'Paris.'" in wrong_type.text
    assert "Traceback" in caplog.text
    assert "hook bug" in caplog.text


@pytest.mark.parametrize(
    ("choice", "problem"),
    [
        (
            Choice(None, "tool_calls", [ToolCall("lookup", {"q": "owls"})]),  # type: ignore[arg-type]
            "returned ToolCall(name='lookup', arguments={'q': 'owls'}, id='') whose arguments "
            "are not JSON text (json.dumps them)",
        ),
        (Choice(42, "stop"), "returned a Choice whose content is 42, not text or None"),  # type: ignore[arg-type]
        ("Paris.", "returned a Generation whose choices hold 'Paris.', not a Choice"),
        (Choice("Hi", "stop", reasoning=5), "returned a Choice whose reasoning is 5, not text"),  # type: ignore[arg-type]
        (
            Choice("Hi", "stop", reasoning_tokens="2"),  # type: ignore[arg-type]
            "returned a Choice whose reasoning_tokens are '2', not a whole number",
        ),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
def test_a_malformed_generation_is_a_hook_error(
    hooked: tuple[NugenEmulator, Recorder], choice: Any, problem: str, streamed: bool
) -> None:
    # A script's slip (arguments as a dict, as LangChain's tool_calls hold them) is named,
    # not an anonymous "internal error" from deep inside the rendering.
    emu, recorder = hooked
    recorder.answer = Generation([choice], 1)
    with _client(emu) as client:
        body = {"model": "m", "messages": USER, "stream": streamed}
        reply = client.post("/chat/completions", json=body)
    assert reply.status_code == 500
    assert f"the chat_reply hook Recorder {problem}" in reply.text


class _FailingEvents:
    """Events that fail as they are read."""

    def __iter__(self) -> Iterator[bytes]:
        yield bytes(1 // 0)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (
            Generation([Choice("Hi", "stop")], "3"),  # type: ignore[arg-type]
            "returned a Generation whose prompt_tokens are '3', not a whole number",
        ),
        (
            EncodedStream(b"data: {}"),  # type: ignore[arg-type]
            "returned an EncodedStream whose events are b'data: {}', not a list of them",
        ),
        (
            EncodedStream(["data: {}"]),  # type: ignore[list-item]
            "returned an EncodedStream whose events hold 'data: {}', not bytes (encode_event it)",
        ),
        (
            EncodedStream(None),  # type: ignore[arg-type]
            "returned an EncodedStream whose events are None, not a list of them",
        ),
        (
            EncodedStream(_FailingEvents()),  # type: ignore[arg-type]
            "raised ZeroDivisionError: integer division or modulo by zero",
        ),
    ],
)
def test_a_malformed_reply_is_a_hook_error(
    hooked: tuple[NugenEmulator, Recorder], answer: Any, problem: str
) -> None:
    emu, recorder = hooked
    recorder.answer = answer
    with _client(emu) as client:
        body = {"model": "m", "messages": USER, "stream": True}
        reply = client.post("/chat/completions", json=body)
    assert reply.status_code == 500
    assert f"the chat_reply hook Recorder {problem}" in reply.text


@pytest.mark.parametrize("where", ["choices", "tool_calls"])
def test_a_one_shot_iterable_in_a_generation_is_a_hook_error(
    hooked: tuple[NugenEmulator, Recorder], where: str
) -> None:
    # Checking reads an iterator up: rendered after, the reply had no choices or no calls.
    emu, recorder = hooked

    def answer(call: ChatCall) -> Generation:
        calls = [ToolCall("lookup", "{}")]
        choices = [Choice(None, "tool_calls", iter(calls) if where == "tool_calls" else calls)]  # type: ignore[arg-type]
        return Generation(iter(choices) if where == "choices" else choices, 1)  # type: ignore[arg-type]

    recorder.answer = answer
    with _client(emu) as client:
        reply = client.post("/chat/completions", json={"model": "m", "messages": USER})
    assert reply.status_code == 500
    assert f"whose {where} are <list_iterator object at" in reply.text
    assert "not a list" in reply.text


def test_a_script_that_ran_out_says_so(hooked: tuple[NugenEmulator, Recorder]) -> None:
    emu, recorder = hooked
    steps = iter([Generation([Choice("one", "stop")], 1)])
    recorder.answer = lambda call: next(steps)
    with _client(emu) as client:
        assert chat(client)["choices"][0]["message"]["content"] == "one"
        reply = client.post("/chat/completions", json={"model": "m", "messages": USER})
    assert reply.status_code == 500
    assert "raised StopIteration (a scripted sequence ran out?)" in reply.text


def test_tools_are_seen_in_the_wire_shape(hooked: tuple[NugenEmulator, Recorder]) -> None:
    emu, recorder = hooked
    recorder.answer = lambda call: Generation(
        [Choice(content=call.tools[0]["function"]["name"], finish_reason="stop")], 1
    )
    with _client(emu) as client:
        body = chat(client, tools=[LOOKUP])
    assert body["choices"][0]["message"]["content"] == "lookup"
    assert recorder.calls[0].tools == [LOOKUP]
    assert recorder.calls[0].endpoint == "chat/completions"


def test_the_hook_scripts_text_completions(hooked: tuple[NugenEmulator, Recorder]) -> None:
    emu, recorder = hooked

    def scripted(call: ChatCall) -> Generation | None:
        prompt = call.messages[0]["content"]
        if "Thought:" not in prompt:
            return None  # the emulator's own model answers
        text = 'Action: search\nAction Input: {"q": "owls"}'
        return Generation([Choice(content=text, finish_reason="stop")] * call.n, 5)

    recorder.answer = scripted
    with _client(emu) as client:
        scripted_reply = client.post(
            "/completions", json={"model": "m", "prompt": "Question: owls?\nThought:", "n": 2}
        ).json()
        own = client.post("/completions", json={"model": "m", "prompt": "Hello there"}).json()
        streamed = client.post(
            "/completions", json={"model": "m", "prompt": "Thought:", "stream": True}
        )
    assert [c["text"] for c in scripted_reply["choices"]] == [
        'Action: search\nAction Input: {"q": "owls"}'
    ] * 2
    assert own["choices"][0]["text"] == 'You asked: "Hello there".'
    chunks = [json.loads(e) for e in sse_events(streamed.text) if e != "[DONE]"]
    texts = [c["choices"][0]["text"] for c in chunks if c.get("choices")]
    assert "".join(texts) == 'Action: search\nAction Input: {"q": "owls"}'
    call = recorder.calls[0]
    assert call.endpoint == "completions"
    assert call.messages == [{"role": "user", "content": "Question: owls?\nThought:"}]
    assert call.body["n"] == 2


def test_an_encoded_stream_for_a_completion_is_a_hook_error(
    hooked: tuple[NugenEmulator, Recorder],
) -> None:
    emu, recorder = hooked
    recorder.answer = EncodedStream([b"data: {}\n\n"])
    with _client(emu) as client:
        reply = client.post("/completions", json={"model": "m", "prompt": "x", "stream": True})
    assert reply.status_code == 500
    assert "returned an EncodedStream for a text completion" in reply.text


def test_the_hook_is_set_on_a_running_emulator(
    http: httpx.Client, nugen_emulator: NugenEmulator
) -> None:
    # The fixtures' shared emulator takes a hook per test; the next test starts without it.
    nugen_emulator.chat_reply = lambda call: Generation(
        [Choice(content="scripted", finish_reason="stop")], prompt_tokens=1
    )
    assert chat(http)["choices"][0]["message"]["content"] == "scripted"
    nugen_emulator.chat_reply = None
    assert chat(http)["choices"][0]["message"]["content"].startswith("You asked:")
    with pytest.raises(TypeError, match="chat_reply"):
        nugen_emulator.chat_reply = "canned"  # type: ignore[assignment]
    nugen_emulator.chat_reply = Recorder()  # left set on purpose: the next test checks


def test_the_fixture_clears_the_hook(http: httpx.Client, nugen_emulator: NugenEmulator) -> None:
    assert nugen_emulator.chat_reply is None
    assert chat(http)["choices"][0]["message"]["content"].startswith("You asked:")


def test_an_async_hook_is_refused_when_set(nugen_emulator: NugenEmulator) -> None:
    # It runs in the server's thread and is not awaited: its coroutine would be a 500 and
    # a "never awaited" warning (an error under filterwarnings=error), far from the cause.
    async def script(call: ChatCall) -> Generation:
        return Generation([Choice("scripted", "stop")], 1)

    class Script:
        async def __call__(self, call: ChatCall) -> Generation:
            return await script(call)

    for hook in (script, Script()):
        with pytest.raises(TypeError, match="plain function, not async"):
            nugen_emulator.chat_reply = hook  # type: ignore[assignment]
        with pytest.raises(TypeError, match="plain function, not async"):
            NugenEmulator(chat_reply=hook)  # type: ignore[arg-type]


def test_a_knob_set_after_construction_is_refused(nugen_emulator: NugenEmulator) -> None:
    # Only the hook can change on a running emulator: anything else set on it would be
    # silently ignored, so it is refused.
    with pytest.raises(AttributeError):
        nugen_emulator.latency = (1.0, 0.0)  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        nugen_emulator.chat_replies = None  # type: ignore[attr-defined]


def test_text_beside_tool_calls_is_streamed_too(hooked: tuple[NugenEmulator, Recorder]) -> None:
    # A model may say something before it calls a tool: the stream carries that text
    # (before the calls, as OpenAI-compatible hosts send it), as the whole answer does.
    emu, recorder = hooked
    call = ToolCall("lookup", '{"q": "owls"}')
    recorder.answer = Generation(
        [Choice(content="Let me look that up.", finish_reason="tool_calls", tool_calls=[call])],
        prompt_tokens=2,
    )
    with _client(emu) as client:
        whole = chat(client, tools=[LOOKUP])
        chunks = stream(client, tools=[LOOKUP], stream_options={"include_usage": True})
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    text = "".join(d.get("content") or "" for d in deltas)
    assert text == whole["choices"][0]["message"]["content"] == "Let me look that up."
    first_call = next(i for i, d in enumerate(deltas) if d.get("tool_calls"))
    assert "".join(d.get("content") or "" for d in deltas[:first_call]) == text
    arguments = "".join(
        call["function"]["arguments"] for d in deltas for call in d.get("tool_calls") or []
    )
    assert arguments == '{"q": "owls"}'
    usage = next(c["usage"] for c in chunks if c.get("usage"))
    assert usage == whole["usage"]


def test_a_generation_without_choices_streams_like_a_whole_answer(
    hooked: tuple[NugenEmulator, Recorder],
) -> None:
    # A host answering with no choices at all, scripted: streamed, it is the stream's
    # usage and [DONE] (not an emulator failure), as the whole answer is "choices": [].
    emu, recorder = hooked
    recorder.answer = Generation([], prompt_tokens=2)
    options = {"stream_options": {"include_usage": True}} if emu.dialect == "openai" else {}
    with _client(emu) as client:
        assert chat(client)["choices"] == []
        for path, body in [
            ("/chat/completions", {"messages": USER}),
            ("/completions", {"prompt": "x"}),
        ]:
            reply = client.post(path, json={"model": "m", "stream": True, **body, **options})
            assert reply.status_code == 200, reply.text
            events = sse_events(reply.text)
            assert "[DONE]" in events
            chunks = [json.loads(e) for e in events[: events.index("[DONE]")]]
            assert [c["usage"]["completion_tokens"] for c in chunks if c.get("usage")] == [0]
            assert all(c["choices"] == [] for c in chunks if "choices" in c)


def test_a_completion_call_says_whether_usage_was_asked_for(
    nugen_emulator_openai: NugenEmulator,
) -> None:
    recorder = Recorder()
    nugen_emulator_openai.chat_reply = recorder
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True}}
    with _client(nugen_emulator_openai) as client:
        client.post("/completions", json={**body, "prompt": "x"})
        client.post("/chat/completions", json={**body, "messages": USER})
    assert [call.include_usage for call in recorder.calls] == [True, True]
