"""The demo itself (a first cut: the shared client only; the framework parts follow)."""

from __future__ import annotations

import os

from nugen_client import NugenClient, NugenError


def run(argv: list[str]) -> int:
    del argv
    if os.environ.get("NUGEN_API_KEY"):
        print("nugen-demo: using the LIVE Nugen service (NUGEN_API_KEY is set)")
        return _demo(None)
    try:
        from nugen_client.testing import NugenEmulator
    except ImportError as exc:
        print(f"nugen-demo: {exc}")
        return 1
    with NugenEmulator() as emulator:
        print(f"nugen-demo: no NUGEN_API_KEY, using the embedded NugenEmulator at {emulator.base_url}")
        return _demo(emulator)


def _demo(emulator: object | None) -> int:
    base_url = getattr(emulator, "base_url", None)
    api_key = getattr(emulator, "api_key", None)
    try:
        with NugenClient(base_url=base_url, api_key=api_key) as client:
            print("\n1. nugen_client streaming chat:")
            for chunk in client.stream_chat_completion(
                model="nugen-flash-instruct",
                messages=[{"role": "user", "content": "Say hello to a new user of Nugen."}],
            ):
                if chunk.choices and chunk.choices[0].delta.content:
                    print(chunk.choices[0].delta.content, end="", flush=True)
            print()
    except NugenError as exc:
        print(f"nugen-demo failed: {type(exc).__name__}: {exc}")
        return 1
    print("\nThe LangChain and LlamaIndex parts of the demo are coming soon.")
    return 0
