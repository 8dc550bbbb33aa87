"""Importing the emulator with and without its ``testing`` extra (starlette, uvicorn).

Each case runs in a fresh interpreter in which the blocked packages look uninstalled
(``tests.support.uninstalled``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.uninstalled import run_without

HINT = 'pip install "nugen-integrations[testing]"'
# The emulator's modules that need the server stack, or do real work when imported.
HEAVY = ("starlette", "uvicorn", "nugen_emulator._server", "nugen_emulator._app")


def test_the_package_and_plugin_import_nothing_heavy() -> None:
    out = run_without(
        "import nugen_client, nugen_emulator, nugen_emulator.pytest_plugin\n"
        "from nugen_emulator import DEFAULT_API_KEY, Fault, RecordedRequest\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    assert out.strip() == "[]"


def test_the_emulator_does_not_need_the_client() -> None:
    out = run_without(
        "from nugen_emulator import NugenEmulator\n"
        "with NugenEmulator() as emu:\n"
        "    pass\n"
        "print('nugen_client' in sys.modules)\n",
        # The frameworks too: they do not need the client, and importing them takes seconds.
        block=("nugen_client", "langchain_core", "llama_index"),
    )
    assert out.strip() == "False"


@pytest.mark.parametrize("missing", ["starlette", "uvicorn"])
def test_a_missing_extra_names_the_extra(missing: str) -> None:
    out = run_without(
        "import nugen_emulator, nugen_emulator.pytest_plugin  # both still import\n"
        "from nugen_emulator import DEFAULT_API_KEY, Fault\n"
        "assert DEFAULT_API_KEY == 'test-key' and Fault(status=429)\n"
        "for attempt in ('from nugen_emulator import NugenEmulator',\n"
        "                'nugen_emulator.NugenEmulator'):\n"
        "    try:\n"
        "        exec(attempt)\n"
        "    except ImportError as exc:\n"
        "        print(type(exc).__name__, exc)\n",
        block=(missing,),
    )
    lines = out.strip().splitlines()
    assert len(lines) == 2, out
    for line in lines:
        assert line.startswith("ImportError ")  # not a bare ModuleNotFoundError
        assert HINT in line
        assert f"{missing} is not installed" in line


def test_the_fixtures_name_the_extra_when_it_is_missing(tmp_path: Path) -> None:
    # pytest loads the plugin in any case; a test that asks for a fixture gets the hint.
    (tmp_path / "conftest.py").write_text(
        "import sys\nsys.modules['starlette'] = None  # as if starlette were not installed\n"
    )
    (tmp_path / "test_uses_the_fixture.py").write_text("def test_it(nugen_emulator):\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr  # an error, not a pass
    assert "1 error" in result.stdout
    assert HINT in result.stdout


def test_the_command_line_names_the_extra_when_it_is_missing() -> None:
    code = (
        "import runpy\n"
        "sys.argv = ['nugen_emulator', '--port', '0']\n"
        "try:\n"
        "    runpy.run_module('nugen_emulator', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    print('exit', exc.code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", "import sys\nsys.modules['uvicorn'] = None\n" + code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "exit 2"
    assert HINT in result.stderr


def test_an_unrelated_import_error_is_not_disguised() -> None:
    # A broken install of something else must surface as itself, not as the extra's hint.
    out = run_without(
        "try:\n"
        "    from nugen_emulator import NugenEmulator\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc.name)\n",
        block=("anyio",),
    )
    assert out.strip() == "ModuleNotFoundError anyio"


def test_the_http_half_does_not_import_the_reply_engine() -> None:
    out = run_without(
        "import nugen_emulator._wire, nugen_emulator._validation, nugen_emulator._records\n"
        "engine = ('_model', '_prompts', '_schema_fill', '_words')\n"
        "print(sorted(m for m in engine if 'nugen_emulator.' + m in sys.modules))\n"
    )
    assert out.strip() == "[]"


def test_the_emulator_answers_without_the_frameworks() -> None:
    # Only the templates known by a phrase then, and the same labelled prompts and replies.
    out = run_without(
        "import httpx\n"
        "from nugen_emulator import NugenEmulator\n"
        "from nugen_emulator._prompts import PHRASES, templates\n"
        "prompt = 'Context: Owls hunt at night in forests.\\nQuestion: When do owls hunt?'\n"
        "with NugenEmulator() as emu:\n"
        "    reply = httpx.post(emu.base_url + '/completions', json={'model': 'm', "
        "'prompt': prompt}, headers={'Authorization': 'Bearer ' + emu.api_key})\n"
        "print(reply.json()['choices'][0]['text'], len(templates()) == len(PHRASES))\n"
        "print(sorted(m for m in ('llama_index', 'langchain_core') if m in sys.modules))\n",
        block=("llama_index", "langchain_core"),
    )
    assert out.splitlines() == ["Owls hunt at night in forests. True", "[]"]
