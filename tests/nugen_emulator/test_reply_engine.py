"""The reply engine's choices: tools by topic, arguments by field, JSON by example."""

from __future__ import annotations

import json
from typing import Any

import httpx

from .conftest import chat

SCHEDULE = {
    "type": "function",
    "function": {
        "name": "schedule_visit",
        "description": "Book a visit to the veterinary clinic for a pet",
        "parameters": {
            "type": "object",
            "properties": {
                "date": {"type": "string", "description": "The day of the visit"},
                "procedure": {"type": "string", "description": "What the vet should do"},
                "pet": {"type": "string", "description": "The pet's name"},
            },
            "required": ["date", "procedure", "pet"],
        },
    },
}
FORECAST = {
    "type": "function",
    "function": {
        "name": "forecast",
        "description": "Tomorrow's weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _content(reply: dict[str, Any]) -> Any:
    return reply["choices"][0]["message"]["content"]


def _calls(reply: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    calls = reply["choices"][0]["message"]["tool_calls"] or []
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


def test_a_tool_is_chosen_by_its_description_and_filled_by_field(http: httpx.Client) -> None:
    question = "Please book a 'vaccination' for my dog 'Rex' at the clinic on '2024-05-01'."
    reply = chat(http, messages=[{"role": "user", "content": question}], tools=[FORECAST, SCHEDULE])
    # Neither tool is named: "book", "clinic" are in schedule_visit's description. The date
    # field takes the date, the pet field the literal next to "dog"... by field, not order.
    assert _calls(reply) == [
        ("schedule_visit", {"date": "2024-05-01", "procedure": "vaccination", "pet": "Rex"})
    ]


def test_after_the_tool_result_the_model_answers(http: httpx.Client) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in 'Oslo' tomorrow?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "forecast", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Snow."},
    ]
    reply = chat(http, messages=messages, tools=[FORECAST, SCHEDULE])
    assert _calls(reply) == []
    assert _content(reply).startswith('The forecast tool returned: "Snow.".')


def test_a_question_sharing_no_word_with_any_tool_is_answered(http: httpx.Client) -> None:
    reply = chat(http, messages=[{"role": "user", "content": "Hello there"}], tools=[FORECAST])
    assert _calls(reply) == []


def test_json_mode_mirrors_an_example_object(http: httpx.Client) -> None:
    prompt = (
        "Extract the details: symptoms 'Fever' and 'Cough', severity 'mild'.\n"
        'Answer in JSON like {"symptoms": ["..."], "severity": "...", '
        '"patient": {"age": 0, "smoker": false}}'
    )
    for extra in ({"response_format": {"type": "json_object"}}, {}):
        reply = json.loads(
            _content(chat(http, messages=[{"role": "user", "content": prompt}], **extra))
        )
        assert reply["symptoms"] == ["Fever", "Cough"]
        assert reply["severity"] == "mild"
        assert isinstance(reply["patient"]["age"], int)
        assert isinstance(reply["patient"]["smoker"], bool)


def test_json_mode_without_schema_or_example_answers_an_object(http: httpx.Client) -> None:
    prompt = "Tell me a joke about cats."
    reply = chat(
        http,
        messages=[{"role": "user", "content": prompt}],
        response_format={"type": "json_object"},
    )
    assert json.loads(_content(reply)) == {"answer": 'You asked: "Tell me a joke about cats.".'}


def test_context_in_an_earlier_user_message(http: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "You answer from the documents you are given."},
        {
            "role": "user",
            "content": "Context:\nOwls hunt mostly at night.\nPenguins swim very fast indeed.",
        },
        {"role": "user", "content": "Question: Which birds swim fast?"},
    ]
    assert _content(chat(http, messages=messages)) == "Penguins swim very fast indeed."


def test_text_completions_answer_like_chat(http: httpx.Client) -> None:
    prompt = (
        "Context: Owls hunt mostly at night.\nPenguins swim very fast indeed.\nQuestion: Who swims?"
    )
    completion = http.post("/completions", json={"model": "m", "prompt": prompt}).json()
    reply = chat(http, messages=[{"role": "user", "content": prompt}])
    assert completion["choices"][0]["text"] == _content(reply) == "Penguins swim very fast indeed."
