"""Running code in a fresh interpreter in which some packages look uninstalled: a
meta-path finder raises ``ModuleNotFoundError`` for them, as pip would leave it."""

from __future__ import annotations

import subprocess
import sys


def run_without(code: str, *, block: tuple[str, ...] = (), args: tuple[str, ...] = ()) -> str:
    """Run ``code`` with the top-level packages in ``block`` uninstallable; its stdout."""
    preamble = (
        "import sys\n"
        "class _Uninstalled:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {block!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Uninstalled())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", preamble + code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
