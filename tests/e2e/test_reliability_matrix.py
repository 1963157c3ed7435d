"""The reliability matrix (benchmarks/reliability.py) keeps working: one short case, run as a person would,
writes the figures it promises. The figures themselves are the matrix's to print, not this test's to judge."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reliability.py"


def test_one_quick_case_prints_and_writes_its_figures(tmp_path) -> None:
    out = tmp_path / "matrix.json"
    # its own process group, so a hung run is ended with the daemons it started (the bound is for that only)
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--quick", "--backends", "sqlite", "--cases", "poisoned_batch", "--json", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, output
    assert "poisoned_batch" in output and "sqlite" in output
    [case] = json.loads(out.read_text())
    assert {"case", "backend", "stored", "lost", "duplicates", "recover_s", "alerts_delivered"} <= case.keys()
    assert (case["case"], case["backend"]) == ("poisoned_batch", "sqlite")
    assert case["error"] is None, case
    assert case["expected"] > 0 and case["stored"] + case["lost"] == case["expected"]
    assert set(case["figures"]["poison_stored"]) == {"lone surrogate", "NUL", "both"}
