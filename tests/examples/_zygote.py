"""A pre-warmed process that forks one child per job (Linux), for tests/examples.

Importing LangChain and LlamaIndex costs a second or two of CPU per process; an example,
README block or pytest run takes a fraction of that once they are imported. So the test
session starts a few of these zygotes, each imports the heavy libraries once, and then
runs every job in a *forked child*: a real, separate process with its own interpreter
state, stdout, stderr, cwd, environment and exit status, that simply does not pay for the
imports again. The child runs the script with ``runpy.run_path`` as ``__main__`` (a fresh
namespace, as ``python script.py`` would) or calls ``pytest.main``, then exits the way
an interpreter does (atexit handlers, finalizers and their ResourceWarnings) but without
the slow module-by-module teardown (see :func:`finish`).

Protocol (one JSON object per line): the parent writes a job, the zygote answers with
``{"returncode": ...}`` once the child has exited (or was killed at the timeout). The
child's output goes to ``stdout.txt`` / ``stderr.txt`` in the job's directory.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from typing import Any

PRELOAD = (
    "langchain_core.messages",
    "langchain_core.tools",
    "langchain_nugen.chat_models",
    "langchain_nugen.embeddings",
    "langchain.agents",
    "llama_index.core",
    "llama_index.core.agent.workflow",
    "llama_index_nugen.llms",  # the package itself loads its classes lazily
    "llama_index_nugen.multi_modal",
    "llama_index_nugen.embeddings",
    "nugen_emulator._server",
    "nugen_demo._parts",
    "pytest",
)


def preload() -> None:
    import contextlib
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # a job that needs it will say so itself
            importlib.import_module(name)


def run_child(job: dict[str, Any]) -> None:
    """In the forked child: become the job's process, run it, exit."""
    directory = job["dir"]
    for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
        target = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(job["cwd"])
    for name, value in job["env"].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    code: int | str | None = 0
    try:
        if job["kind"] == "pytest":
            import pytest

            sys.argv = ["pytest", *job["args"]]
            code = int(pytest.main(job["args"]))
        elif job["kind"] == "module":
            import runpy

            sys.argv = [job["args"][0], *job["args"][1:]]
            sys.path[0] = os.getcwd()  # as `python -m`
            runpy.run_module(job["args"][0], run_name="__main__", alter_sys=True)
        else:
            import runpy

            script = job["args"][0]
            sys.argv = list(job["args"])
            sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python script.py`
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
        code = 1
    finish(code)


def finish(code: int | str | None) -> None:
    """Exit like an interpreter would, minus tearing down every module one by one.

    That teardown of the preloaded LangChain/LlamaIndex module graph costs over a second
    per child. What it would show is kept: atexit handlers run, and a collection runs the
    finalizers, so unclosed resources still report their ResourceWarning on stderr.
    """
    import atexit
    import gc

    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    try:
        atexit._run_exitfuncs()
        gc.collect()
    except BaseException:
        traceback.print_exc()
        code = code or 1
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code or 0)


def serve() -> None:
    import gc

    preload()
    # The preloaded objects live as long as the zygote: freezing them keeps every child's
    # collections (the one in finish() included) from walking them, and from copying the
    # memory pages they sit on, which the fork otherwise shares.
    gc.freeze()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                run_child(job)  # ends with os._exit
            finally:
                os._exit(70)  # only if run_child itself broke before running the job
        deadline = time.monotonic() + job["timeout"]
        status: int | None = None
        while status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                status = -9
            else:
                time.sleep(0.01)
        print(json.dumps({"returncode": status}), flush=True)


if __name__ == "__main__":
    serve()
