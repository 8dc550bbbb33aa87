"""close() / aclose() while a call is under way: the call ends with APIConnectionError, as
with the OpenAI SDK, and sends nothing more (no retry on a freshly opened pool that the
caller, having closed the client, would never close)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from nugen_client import APIConnectionError, AsyncNugenClient, NugenClient, RetryPolicy
from nugen_emulator import Fault, NugenEmulator
from tests.support.sockets import count_client_sockets

USER = [{"role": "user", "content": "hello"}]
# Slow enough for the close to land while the call waits (for its answer or its retry).
FAULTS = {
    "retry wait": Fault(status=503, headers={"Retry-After": "0.6"}),
    "answer wait": Fault(delay=0.6),
}


@pytest.fixture
def nugen_emulator() -> Iterator[NugenEmulator]:
    """An emulator of this test's own: socket counts must not see other tests' pools."""
    with NugenEmulator() as emulator:
        yield emulator


@pytest.mark.parametrize("waiting", list(FAULTS))
def test_closing_the_client_ends_the_call_under_way(
    nugen_emulator: NugenEmulator, kind: str, waiting: str
) -> None:
    options = {
        "base_url": nugen_emulator.base_url,
        "api_key": nugen_emulator.api_key,
        "retry_policy": RetryPolicy(max_retries=2, initial_delay=0.3),
    }
    nugen_emulator.inject(FAULTS[waiting])
    outcome: list[BaseException | str] = []
    if kind == "sync":
        client = NugenClient(**options)

        def call() -> None:
            try:
                reply = client.chat_completion(model="m", messages=USER)
                outcome.append(reply.choices[0].message.text)
            except Exception as exc:
                outcome.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.2)
        client.close()
        caller.join()
    else:

        async def main() -> None:
            client = AsyncNugenClient(**options)
            task = asyncio.ensure_future(client.chat_completion(model="m", messages=USER))
            await asyncio.sleep(0.2)
            await client.aclose()
            try:
                outcome.append((await task).choices[0].message.text)
            except Exception as exc:
                outcome.append(exc)

        asyncio.run(main())
    time.sleep(0.6)  # a retry, if one came, would have reached the emulator by now
    [failure] = outcome
    assert isinstance(failure, APIConnectionError), failure
    assert "closed" in str(failure)
    assert len(nugen_emulator.requests) == 1
    assert count_client_sockets(nugen_emulator.port) in (0, -1)


def test_the_async_client_closes_by_the_openai_sdks_name_too(
    nugen_emulator: NugenEmulator,
) -> None:
    async def main() -> int:
        client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
        await client.chat_completion(model="m", messages=USER)
        await client.close()  # AsyncOpenAI's name for aclose()
        return count_client_sockets(nugen_emulator.port)

    assert asyncio.run(main()) in (0, -1)
