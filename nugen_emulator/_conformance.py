"""``python -m nugen_emulator conformance``: how far the emulator's answers are from a
server's, structure only (docs/emulator.md). Plain httpx: the emulator does not use the
client it exists to check."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from nugen_emulator._server import NugenEmulator

# A 1x1 PNG: the smallest image both vision endpoints must accept.
_PNG_1PX = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
_IMAGE = {"type": "image_url", "image_url": {"url": _PNG_1PX}}
_CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
_WEATHER = {"name": "get_weather", "description": "The current weather in a city."}
_WEATHER_TOOL = {"type": "function", "function": {**_WEATHER, "parameters": _CITY}}
_REJECTED_KEY = "conformance-check-invalid-key"


# The models the battery asks for (``--chat-model``, ...): the cheapest of each kind.
MODELS = {"chat": "nugen-flash-instruct", "vision": "nugen-flash-vision"}
MODELS |= {"embedding": "nugen-flash-embed", "rerank": "bge-reranker-v2-m3"}


def battery(models: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """The requests sent to both servers, ``(name, path, body)``, the name labelling their
    rows in the report (small ``max_tokens``: the live ones cost money); the "401" one is
    sent with a wrong key."""
    ask = [{"role": "user", "content": "Say hello in one word."}]
    question = {"type": "text", "text": "What colour is this image? One word."}
    look = [{"role": "user", "content": [question, _IMAGE]}]
    weather = [{"role": "user", "content": "What is the weather in Paris? Use get_weather."}]
    chat = {"model": models["chat"], "messages": ask, "max_tokens": 16}
    forced = {"type": "function", "function": {"name": "get_weather"}}
    tool_call = {**chat, "messages": weather, "max_tokens": 64, "tools": [_WEATHER_TOOL]}
    image = {"model": models["vision"], "messages": look, "max_tokens": 16}
    completion = {"model": models["chat"], "prompt": "Once upon a time", "max_tokens": 8}
    documents = ["Paris is the capital of France.", "Bananas are yellow."]
    rerank = {"model": models["rerank"], "query": "capital of France", "documents": documents}
    return [
        ("chat", "/chat/completions", chat),
        ("chat stream", "/chat/completions", {**chat, "stream": True}),
        ("chat tool call", "/chat/completions", {**tool_call, "tool_choice": forced}),
        ("chat image", "/chat/completions", image),
        ("vision", "/chat/vision", image),
        ("completion", "/completions", completion),
        ("completion stream", "/completions", {**completion, "stream": True}),
        ("embeddings", "/embeddings", {"model": models["embedding"], "input": ["hello"]}),
        ("rerank", "/reranker", rerank),
        ("422", "/chat/completions", {"model": models["chat"], "messages": []}),
        ("401", "/chat/completions", chat),
    ]


# A parsed JSON value's type, ``integer`` and ``float`` apart.
_KINDS = {type(None): "null", bool: "boolean", int: "integer", float: "float", str: "string"}
_KINDS |= {list: "array", dict: "object"}


def shape(roots: list[tuple[str, Any]]) -> dict[str, str]:
    """Every JSON path of the ``(prefix, value)`` roots (list items as ``[]``) with the JSON
    type(s) found there."""
    kinds: dict[str, set[str]] = {}
    stack = list(roots)
    while stack:
        path, item = stack.pop()
        kinds.setdefault(path, set()).add(_KINDS[type(item)])
        if isinstance(item, dict):
            stack.extend((f"{path}.{key}" if path != "$" else key, v) for key, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[]", v) for v in item)
    return {path: "|".join(sorted(types)) for path, types in kinds.items()}


def event_kind(event: Any, after_done: bool) -> str:
    """What one SSE event is, in a word or two (its text never matters)."""
    if not isinstance(event, dict):
        return "not an object"
    if after_done:
        return "after [DONE]"
    if "error" in event:
        return "error"
    if "_timing" in event:
        return "_timing"
    if event.get("object") == "timing":
        return "timing"
    choices = event.get("choices")
    if choices == []:
        return "chunk (no choices)"
    kind = "chunk"
    if isinstance(choices, list) and any(
        isinstance(c, dict) and c.get("finish_reason") for c in choices
    ):
        kind += " +finish_reason"
    if event.get("usage"):
        kind += " +usage"
    return kind


def stream_structure(lines: Iterator[str]) -> dict[str, str]:
    """The sequence of event kinds (repeats collapsed) and the shape of each kind."""
    kinds: list[str] = []
    events: list[tuple[str, Any]] = []  # each event under its kind's name
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            kinds.append("[DONE]")
            continue
        try:
            event = json.loads(data)
        except ValueError:
            kinds.append("not JSON")
            continue
        kind = event_kind(event, after_done="[DONE]" in kinds)
        kinds.append(kind)
        events.append((kind.split(" +")[0], event))
    sequence = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    result = {"events": " > ".join(sequence)}
    return result | {f"event {path}": types for path, types in shape(events).items()}


def observe(client: httpx.Client, probe: tuple[str, str, Any], api_key: str) -> dict[str, str]:
    """The structure of one answer: status, headers that matter, body or stream shape."""
    name, path, body = probe
    headers = {"Authorization": f"Bearer {_REJECTED_KEY if name == '401' else api_key}"}
    with client.stream("POST", path.lstrip("/"), json=body, headers=headers) as reply:
        result = {"status": str(reply.status_code)}
        result["header content-type"] = reply.headers.get("content-type", "absent")
        result["header x-request-id"] = "present" if "x-request-id" in reply.headers else "absent"
        if body.get("stream") and reply.status_code == 200:
            return result | stream_structure(reply.iter_lines())
        raw = reply.read()
    try:
        body = json.loads(raw)
    except ValueError:
        result["body"] = "not JSON"
        return result
    return result | {f"body {path}": kinds for path, kinds in shape([("$", body)]).items()}


def compare(
    base_url: str, api_key: str, emulator: NugenEmulator, models: dict[str, str], timeout: float
) -> dict[str, Any]:
    """Send the battery to ``base_url`` and to ``emulator``: ``{"base_url", "checks",
    "differences"}``, each difference ``{"endpoint", "field", "live", "emulator"}``."""
    differences: list[dict[str, str]] = []
    checks = 0
    with (
        httpx.Client(base_url=base_url.rstrip("/") + "/", timeout=timeout) as live,
        # Loopback: no proxy from the environment may stand in between.
        httpx.Client(base_url=emulator.base_url + "/", timeout=timeout, trust_env=False) as local,
    ):
        for probe in battery(models):
            theirs = observe(live, probe, api_key)
            if probe[0] == "chat" and theirs["status"] in ("401", "403"):
                raise KeyRefusedError(theirs["status"])
            ours = observe(local, probe, emulator.api_key)
            differ: dict[str, tuple[str, str]] = {}
            for name in sorted(theirs.keys() | ours.keys()):
                checks += 1
                left, right = theirs.get(name, "absent"), ours.get(name, "absent")
                if left == right:
                    continue
                differ[name] = (left, right)
                # An object one side lacks is one row, not one more per field inside it.
                parent = differ.get(_parent(name))
                if not (parent and "absent" in parent and "absent" in (left, right)):
                    row = {"endpoint": probe[0], "field": name, "live": left, "emulator": right}
                    differences.append(row)
    return {"base_url": base_url, "checks": checks, "differences": differences}


class KeyRefusedError(Exception):
    """The server refused the key: every answer would be an error, nothing to compare."""


def _parent(path: str) -> str:
    if path.endswith("[]"):
        return path[:-2]
    return path.rsplit(".", 1)[0] if "." in path else ""


def render(report: dict[str, Any]) -> str:
    """The differences as a plain-text table, then a one-line verdict."""
    differences, checks = report["differences"], report["checks"]
    rows = [("endpoint", "field", "live", "emulator")]
    rows += [(d["endpoint"], d["field"], d["live"], d["emulator"]) for d in differences]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (rows if differences else [])
    ]
    verdict = f"{len(differences)} of {checks} checks differ"
    verdict = verdict if differences else f"no difference in {checks} checks"
    lines.append(f"{verdict} ({report['base_url']} vs NugenEmulator)")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str], environ: dict[str, str]) -> int:
    """Exit status: 0 nothing differs, 1 something does, 2 the check could not run."""
    parser = argparse.ArgumentParser(
        prog="python -m nugen_emulator conformance",
        description="Compare the structure of a server's answers with the emulator's.",
    )
    parser.add_argument("--base-url", required=True, help="the server to check")
    parser.add_argument("--api-key", default=None, help="its key (default: $NUGEN_API_KEY)")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write the report")
    for kind, default in MODELS.items():
        parser.add_argument(f"--{kind}-model", default=default, help=f"default {default}")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    args = parser.parse_args(argv)
    parts = urlsplit(args.base_url)
    if "@" in parts.netloc or parts.query or parts.fragment or args.base_url.endswith(("?", "#")):
        # Not echoed: the report is shared, and a password or a gateway key may be there.
        sys.stderr.write(
            "conformance: --base-url must not hold a user:password@, a ?query or a #fragment: "
            "give the base path only, the key as --api-key\n"
        )
        return 2
    api_key = args.api_key or environ.get("NUGEN_API_KEY") or ""
    if not api_key:
        # Without one, every probe would fail to send ("Bearer " is no header value).
        sys.stderr.write("conformance: no API key: pass --api-key or set NUGEN_API_KEY\n")
        return 2
    models = {kind: getattr(args, f"{kind}_model") for kind in MODELS}
    try:
        from nugen_emulator import NugenEmulator
    except ImportError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    # Opened before the requests, which cost money on the live service.
    try:
        out = open(args.json, "w", encoding="utf-8") if args.json else None  # noqa: SIM115
    except OSError as exc:
        sys.stderr.write(f"conformance: cannot write {args.json}: {exc.strerror}\n")
        return 2
    try:
        with NugenEmulator() as emulator:
            report = compare(args.base_url, api_key, emulator, models, args.timeout)
    except (httpx.HTTPError, KeyRefusedError) as exc:
        if out is not None:
            out.close()
            os.remove(args.json)
        if isinstance(exc, KeyRefusedError):
            sys.stderr.write(f"conformance: {args.base_url} refused the key ({exc})\n")
        else:
            sys.stderr.write(f"conformance: cannot reach {args.base_url}: {type(exc).__name__}\n")
        return 2
    # Only structure is ever printed; hiding the key is the belt to those braces.
    hide = (lambda text: text.replace(api_key, "***")) if len(api_key) >= 4 else str
    if out is not None:
        with out:
            out.write(hide(json.dumps(report, indent=2)) + "\n")
    sys.stdout.write(hide(render(report)))
    return 1 if report["differences"] else 0
