"""benchmarks/profile_chat.py still runs (its figures are not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_profile_chat_runs() -> None:
    script = str(ROOT / "benchmarks" / "profile_chat.py")
    proc = subprocess.run(
        [sys.executable, script, "--chunks", "20", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for table in ("per invoke", "per streamed chunk", "to the first streamed token"):
        assert table in proc.stdout
    assert "ChatNugen" in proc.stdout
