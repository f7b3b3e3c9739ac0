"""The ACD benchmark runs end to end and prints its side-by-side table (its
figures are for reading, not asserted: these machines are shared and noisy)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_acd_benchmark_prints_its_table() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.acd", "--calls", "8", "--rate", "4",
                           "--agents", "3", "--talk-ms", "1000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        r"^(control plane \(ARI\)|app_queue \(Asterisk\))\s+(\d+)\s+(\d+)\s+([\d.]+)\s+"
        r"([\d.]+)\s+([\d.]+)\s+([\d.]+)$", proc.stdout, re.M)}
    assert set(rows) == {"control plane (ARI)", "app_queue (Asterisk)"}, proc.stdout
    for name, (calls, failed, *_figures) in rows.items():
        assert int(calls) == 8 and int(failed) == 0, f"{name}: {proc.stdout}"
