"""``python -m nugen_emulator``: serve a NugenEmulator until Ctrl-C or SIGTERM, printing the
base URL and key (exit status 2 without the ``testing`` extra); ``python -m nugen_emulator
conformance ...`` runs :mod:`nugen_emulator._conformance` instead."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["conformance"]:
        from nugen_emulator._conformance import main as conformance

        return conformance(argv[1:], dict(os.environ))
    parser = argparse.ArgumentParser(
        prog="python -m nugen_emulator",
        description="Serve a NugenEmulator (a stand-in for the Nugen inference API).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port; 0 = any free port")
    parser.add_argument("--dialect", choices=("nugen", "openai"), default="nugen")
    parser.add_argument("--api-key", default=None, help="bearer key to require (default test-key)")
    parser.add_argument("--no-auth", action="store_true", help="accept any API key")
    parser.add_argument("--seed", type=int, default=None, help="seed for reproducible ids")
    forms = "the nugen dialect's shapes: api.nugen.in's (default) or the reference pages'"
    parser.add_argument("--forms", choices=("live", "reference"), default="live", help=forms)
    parser.add_argument("--served-model", help="the model name answers report (default: asked)")
    latency = "seconds each /embeddings answer waits: PER_REQUEST + PER_INPUT x texts"
    metavar = ("PER_REQUEST", "PER_INPUT")
    parser.add_argument("--latency", type=float, nargs=2, metavar=metavar, help=latency)
    parser.add_argument("--access-log", action="store_true", help="log one line per request")
    args = parser.parse_args(argv)
    try:
        from nugen_emulator import DEFAULT_API_KEY, NugenEmulator
    except ImportError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    if args.access_log:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    api_key = None if args.no_auth else (args.api_key or DEFAULT_API_KEY)
    # Every option but --no-auth is the constructor's parameter of the same name.
    options = {name: value for name, value in vars(args).items() if name != "no_auth"}
    options |= {"api_key": api_key, "latency": tuple(args.latency) if args.latency else None}
    try:
        emulator = NugenEmulator(**options)
    except ValueError as exc:  # a --port or --latency out of range: a usage error
        parser.error(str(exc))
    try:
        emulator.start()
    except OSError as exc:
        sys.stderr.write(f"cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stop.set())
    forms = f", {args.forms} forms" if args.dialect == "nugen" else ""
    sys.stdout.write(
        f"NugenEmulator ({args.dialect} dialect{forms}) is serving.\n"
        f"  base_url: {emulator.base_url}\n"
        f"  api_key:  {emulator.api_key if api_key is not None else '(any key is accepted)'}\n"
        f"  export NUGEN_BASE_URL={emulator.base_url} NUGEN_API_KEY={emulator.api_key}\n"
        "Press Ctrl-C to stop.\n"
    )
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    sys.stdout.write("NugenEmulator stopped.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
