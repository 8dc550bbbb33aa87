"""The benchmark's smoke run: proves every part of it still runs (timings are not asserted)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# The suite's 120 s per-test limit is too tight for a whole benchmark run on a loaded
# machine; the run itself is bounded by its own subprocess timeout.
@pytest.mark.slow
@pytest.mark.timeout(360)
def test_benchmark_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    sections = ("imports", "langchain", "llama_index", "concurrency", "memory", "ingestion")
    for section in (*sections, "ratios"):
        assert section in results, section
    for side, outcome in results["concurrency"].items():
        assert outcome["errors"] == 0, (side, outcome)
    for side, outcome in results["memory"].items():
        assert outcome.get("received_bytes", 0) > 0, (side, outcome)
    # Finite numbers, not signs: a time-to-first-token ratio is a difference over a
    # difference, which a smoke run's few rounds on a busy machine can make zero or negative.
    assert all(math.isfinite(value) for value in results["ratios"].values())
