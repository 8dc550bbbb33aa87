"""Offline tests of your own chain: copy this file (and adapt) into your test suite.

Two ways to test without the live service, both shown below:

* The ``nugen_emulator`` fixture (installed with ``nugen-integrations[testing]``; pytest
  finds it by itself) is a real HTTP server on 127.0.0.1 that answers like the Nugen API,
  deterministically: it quotes the last user message, fills tool calls from literals in
  it, and can be told to fail (``inject(status=429, ...)``). It records every request, so
  you can assert on what your code sent.
* Cassettes (``pip install pytest-recording``): record a test's HTTP traffic once, then
  replay it with no network. ``cassettes/test_my_chain/`` holds the recording of
  ``test_summary_replayed_from_cassette``; it was recorded against the emulator, like
  this (record against the live service by exporting your real key and URL instead):

      python -m nugen_emulator --port 8000 &
      NUGEN_API_KEY=test-key NUGEN_BASE_URL=http://127.0.0.1:8000/api/v3/inference \\
          pytest test_my_chain.py -k cassette --record-mode=rewrite

Run with:  pytest examples/testing  (add --allow-hosts=127.0.0.1,localhost,::1 under
pytest-socket, and --allow-unix-socket with --disable-socket: an event loop needs a socket
pair).
"""

import os

import pytest
from my_chain import build_summary_chain

from langchain_nugen import ChatNugen
from nugen_client import InternalServerError
from nugen_client.params import redact_headers

TICKET = "The 'Export' button crashes the app on Android 14 since version 3.2."


@pytest.fixture
def model(nugen_emulator):
    # Point the model at the emulator. max_retries=1 keeps failure tests quick.
    return ChatNugen(
        base_url=nugen_emulator.base_url,
        api_key=nugen_emulator.api_key,
        temperature=0,
        max_retries=1,
    )


def test_summary_chain_sends_the_ticket(model, nugen_emulator):
    summary = build_summary_chain(model).invoke({"ticket": TICKET})

    # The emulator quotes the last user message back: the prompt reached the model.
    assert summary.startswith('You asked: "Summarise this ticket:')
    sent = nugen_emulator.last_request.body
    assert sent["temperature"] == 0
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert TICKET in sent["messages"][1]["content"]


def test_summary_chain_survives_a_rate_limit(model, nugen_emulator):
    # The next request gets a 429 with Retry-After; the client waits and retries.
    nugen_emulator.inject(status=429, headers={"Retry-After": "0"})

    assert build_summary_chain(model).invoke({"ticket": TICKET})
    assert len(nugen_emulator.requests) == 2  # the 429, then the retry


def test_summary_chain_reports_an_outage(model, nugen_emulator):
    nugen_emulator.inject(status=503, times=2)  # the first try and its one retry

    with pytest.raises(InternalServerError):  # a nugen_client error, never a silent None
        build_summary_chain(model).invoke({"ticket": TICKET})


# --- cassettes ---------------------------------------------------------------------------


def hide_credentials(request):
    # Every header value but those of a few safe names (Content-Type, User-Agent,
    # X-Session-ID, ...) is recorded as ***: a gateway credential you pass in
    # default_headers never reaches a cassette, whatever the header is called.
    request.headers = redact_headers(request.headers)
    return request


@pytest.fixture(scope="module")
def vcr_config():
    return {
        # Never write the key (or any other credential header) into a cassette.
        "filter_headers": ["authorization"],
        "before_record_request": hide_credentials,
        # Match on what you send, not on where: the recording host may differ from yours.
        "match_on": ["method", "path", "body"],
    }


@pytest.mark.vcr
def test_summary_replayed_from_cassette():
    # Replaying needs no server and no key (pytest-recording replays by default, with
    # --record-mode=none); the values below only matter while recording.
    model = ChatNugen(
        base_url=os.environ.get("NUGEN_BASE_URL", "http://127.0.0.1:8000/api/v3/inference"),
        api_key=os.environ.get("NUGEN_API_KEY", "not-needed-for-replay"),
        temperature=0,
    )

    summary = build_summary_chain(model).invoke({"ticket": TICKET})

    assert "Summarise this ticket" in summary
