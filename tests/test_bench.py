"""The ACD benchmark runs end to end in its quick mode (one low step per
router) and prints a row for each router in which agents took every call.
Its figures (rates, latencies, CPU, memory) are for reading, not asserted:
these machines are shared and noisy."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT

ROW = re.compile(
    r"^(control plane \(ARI\)|app_queue \(Asterisk\))\s+(?P<rate>[\d.]+)\s+(?P<offered>\d+)\s+"
    r"(?P<carried>\d+)\s+(?P<abandoned>\d+)\s+(?P<failed>\d+)\s+[\d.]+\s+\S+\s+\S+\s+\S+\s+"
    r"\S+\s+\S+\s+\S+\s+\S+\s+(?P<verdict>pass|FAIL.*)$", re.M)


def test_acd_benchmark_prints_its_table() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.acd", "--quick"],
                          cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {m.group(1): m for m in ROW.finditer(proc.stdout)}
    assert set(rows) == {"control plane (ARI)", "app_queue (Asterisk)"}, proc.stdout
    for name, m in rows.items():
        offered, carried = int(m["offered"]), int(m["carried"])
        assert carried > 0, f"{name}: no agent took a call\n{proc.stdout}"
        assert carried == offered and int(m["abandoned"]) == 0 and int(m["failed"]) == 0, \
            f"{name}: calls lost at {m['rate']} calls/s\n{proc.stdout}"
    assert "ceilings" in proc.stdout, proc.stdout


DIALER_ROW = re.compile(
    r"^(?P<mode>progressive|predictive)\s+(?P<talk>[\d.]+)\s+(?P<abandon>[\d.]+)\s+"
    r"(?P<counted>[\d.]+)\s+(?P<idle>[\d.]+)\s+(?P<lines>[\d.]+)\s+(?P<level>[\d.]+)\s+"
    r"[\d.]+\s+(?P<persons>\d+)\s+(?P<abandoned>\d+)$", re.M)


def test_dialer_benchmark_prints_both_modes_on_the_same_list() -> None:
    """bench/dialer.py runs (a small list, one seed) and prints a row per mode.
    Its figures are for reading; what is asserted holds by construction:
    progressive abandons nobody and both modes met the same persons."""
    proc = subprocess.run([sys.executable, "-m", "bench.dialer", "--leads", "300",
                           "--seeds", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {m["mode"]: m for m in DIALER_ROW.finditer(proc.stdout)}
    assert set(rows) == {"progressive", "predictive"}, proc.stdout
    prog, pred = rows["progressive"], rows["predictive"]
    assert int(prog["abandoned"]) == 0 and float(prog["abandon"]) == 0.0, proc.stdout
    assert float(prog["level"]) == 1.0, proc.stdout
    assert prog["persons"] == pred["persons"] and int(prog["persons"]) > 0, proc.stdout
    assert float(prog["talk"]) > 0 and float(pred["talk"]) > 0, proc.stdout
    assert "predictive / progressive talk minutes:" in proc.stdout, proc.stdout


def test_dialer_benchmark_refuses_bad_arguments() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.dialer", "--ring-timeout-s", "10"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "at least 15 s" in proc.stderr, proc.stderr
