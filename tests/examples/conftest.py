"""Run examples, README code blocks and the demo as real processes, in parallel.

Every test here is parametrized with a :class:`Job`. At the start of the session the
``jobs`` fixture starts *all* selected jobs on a small pool of workers, so they run side
by side; each test then waits for its own job and checks what it printed.

Python jobs (scripts and pytest runs) run in forked children of pre-warmed "zygote"
processes (``_zygote.py``) on Linux: separate processes, with their own output, cwd,
environment and exit status, that do not each pay a second or two of CPU to import
LangChain and LlamaIndex again. Elsewhere, and for ``argv`` jobs (bash, the installed
``nugen-demo`` console script), each job is a fresh subprocess.

The jobs talk to two emulators: the ``nugen`` dialect behind ``NUGEN_BASE_URL`` /
``NUGEN_API_KEY``, and the ``openai`` dialect (the shape of NebulaBlock and other
OpenAI-compatible hosts) behind ``NEBULABLOCK_BASE_URL`` / ``NEBULABLOCK_API_KEY``. Their
processes may connect to loopback only (``_sandbox/sitecustomize.py``) and treat
ResourceWarnings as errors, as the suite itself does.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

import pytest

if TYPE_CHECKING:
    from nugen_emulator import NugenEmulator

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SANDBOX = HERE / "_sandbox"
PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent
WORKERS = max(2, min(4, os.cpu_count() or 2))
LOOPBACK = "--allow-hosts=127.0.0.1,localhost,::1"
PYTHON_FLAGS = ("-W", "error::ResourceWarning")
USE_ZYGOTES = sys.platform == "linux" and hasattr(os, "fork")


@dataclass(frozen=True)
class Job:
    """Something to run, and how.

    ``kind``: ``"script"`` (``args[0]`` is a Python file run as ``__main__``, the rest
    its arguments), ``"module"`` (the same for a module, as ``python -m``), ``"pytest"``
    (``args`` are pytest's), or ``"argv"`` (a command line).
    In ``args``, ``cwd`` and ``env`` values, ``{dir}`` is the job's own directory and
    ``{nugen_url}`` / ``{dead_url}`` the emulator's base URL and one where nothing listens.
    """

    name: str
    kind: Literal["script", "module", "pytest", "argv"]
    args: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()  # (name, text) written into the job's directory
    env: tuple[tuple[str, str | None], ...] = ()  # overrides; None removes a variable
    cwd: str = "{dir}"
    timeout: float = 120.0

    def __str__(self) -> str:  # the test id
        return self.name


@dataclass
class Outcome:
    job: Job
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    directory: Path = field(repr=False)

    def report(self) -> str:
        """Everything a failing assertion should show."""
        return (
            f"{self.job.name}: exit {self.returncode} after {self.seconds:.1f}s\n"
            f"$ {self.job.kind} {' '.join(self.job.args)}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


class _Zygote:
    """One pre-warmed process that forks a child per job (see ``_zygote.py``)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._process = subprocess.Popen(
            [PYTHON, *PYTHON_FLAGS, str(HERE / "_zygote.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(env),
            text=True,
            encoding="utf-8",
        )
        self._read()  # {"ready": pid}: the imports are done

    def run(self, job: dict[str, object]) -> int:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(json.dumps(job) + "\n")
        stdin.flush()
        return int(self._read()["returncode"])

    def _read(self) -> dict[str, int]:
        stdout: IO[str] | None = self._process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote died (exit {self._process.wait()})")
        result: dict[str, int] = json.loads(line)
        return result

    def close(self) -> None:
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class Jobs:
    """Starts jobs on a pool of workers and hands out their outcomes."""

    def __init__(self, env: Mapping[str, str], workdir: Path, places: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._workdir = workdir
        self._places = dict(places)
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="example-job")
        self._futures: dict[Job, Future[Outcome]] = {}
        self._zygotes: queue.Queue[_Zygote] = queue.Queue()
        self._all_zygotes: list[_Zygote] = []
        self._zygote_lock = threading.Lock()

    def start(self, job: Job) -> None:
        if job not in self._futures:
            self._futures[job] = self._pool.submit(self._run, job)

    def outcome(self, job: Job) -> Outcome:
        self.start(job)
        return self._futures[job].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for zygote in self._all_zygotes:
            zygote.close()

    def _run(self, job: Job) -> Outcome:
        directory = self._workdir / "".join(c if c.isalnum() else "_" for c in job.name)
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in job.files:
            (directory / name).write_text(text, encoding="utf-8")
        places = {**self._places, "dir": str(directory)}

        def fill(text: str) -> str:
            for name, value in places.items():
                text = text.replace("{" + name + "}", value)
            return text

        env_changes = {k: (fill(v) if v is not None else None) for k, v in job.env}
        args = [fill(arg) for arg in job.args]
        cwd = fill(job.cwd)
        started = time.monotonic()
        if job.kind != "argv" and USE_ZYGOTES:
            returncode = self._in_zygote(job, args, cwd, env_changes, directory)
            stdout = (directory / "stdout.txt").read_text("utf-8", "replace")
            stderr = (directory / "stderr.txt").read_text("utf-8", "replace")
        else:
            returncode, stdout, stderr = self._in_subprocess(job, args, cwd, env_changes)
        return Outcome(job, returncode, stdout, stderr, time.monotonic() - started, directory)

    def _in_zygote(
        self,
        job: Job,
        args: list[str],
        cwd: str,
        env_changes: dict[str, str | None],
        directory: Path,
    ) -> int:
        try:
            zygote = self._zygotes.get_nowait()
        except queue.Empty:
            zygote = _Zygote(self._env)  # at most one per worker thread
            with self._zygote_lock:
                self._all_zygotes.append(zygote)
        try:
            request = {
                "kind": job.kind,
                "args": args,
                "cwd": cwd,
                "env": env_changes,
                "dir": str(directory),
                "timeout": job.timeout,
            }
            return zygote.run(request)
        finally:
            self._zygotes.put(zygote)

    def _in_subprocess(
        self, job: Job, args: list[str], cwd: str, env_changes: dict[str, str | None]
    ) -> tuple[int, str, str]:
        env = dict(self._env)
        for name, value in env_changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        if job.kind == "script":
            argv = [PYTHON, *PYTHON_FLAGS, *args]
        elif job.kind == "module":
            argv = [PYTHON, *PYTHON_FLAGS, "-m", *args]
        elif job.kind == "pytest":
            argv = [PYTHON, *PYTHON_FLAGS, "-m", "pytest", *args]
        else:
            argv = args
        try:
            done = subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=job.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            stderr = _text(exc.stderr) + f"\n(killed after {job.timeout:.0f}s)"
            return -9, _text(exc.stdout), stderr
        return done.returncode, done.stdout, done.stderr


def _dead_url() -> str:
    """A loopback base URL where nothing listens (a port that was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v3/inference"


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


@dataclass(frozen=True)
class Emulators:
    nugen: NugenEmulator
    openai: NugenEmulator


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    from nugen_emulator import NugenEmulator

    with NugenEmulator() as nugen, NugenEmulator(dialect="openai") as openai:
        yield Emulators(nugen, openai)


@pytest.fixture(scope="session")
def jobs(
    request: pytest.FixtureRequest,
    emulators: Emulators,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Jobs]:
    env = {
        name: value
        for name, value in os.environ.items()
        # Our own pytest's variables must not leak into the pytest runs we start.
        if not name.startswith(("PYTEST_", "NUGEN_", "NEBULABLOCK_"))
    }
    env.update(
        NUGEN_API_KEY=emulators.nugen.api_key,
        NUGEN_BASE_URL=emulators.nugen.base_url,
        NEBULABLOCK_API_KEY=emulators.openai.api_key,
        NEBULABLOCK_BASE_URL=emulators.openai.base_url,
        PYTHONPATH=os.pathsep.join(filter(None, [str(SANDBOX), env.get("PYTHONPATH")])),
        PATH=os.pathsep.join([str(VENV_BIN), env.get("PATH", "")]),
        PYTHONIOENCODING="utf-8",
        PYTHONDONTWRITEBYTECODE="1",  # leave no __pycache__ in examples/
    )
    places = {"nugen_url": emulators.nugen.base_url, "dead_url": _dead_url()}
    runner = Jobs(env, tmp_path_factory.mktemp("jobs"), places)
    # Start every job this session will wait for, so that they run side by side.
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        for value in callspec.params.values() if callspec else ():
            if isinstance(value, Job):
                runner.start(value)
    try:
        yield runner
    finally:
        runner.close()
