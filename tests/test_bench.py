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


def test_scale_peak_held_counts_calls_up_at_once_before_the_first_failure() -> None:
    """bench/scale.py's concurrency figure (pure): the most carried calls up
    at once (agent answered, not yet ended) before the first failed call
    was offered, or ended early if an agent had it."""
    from bench.scale import Held, peak_held, up_at

    ok = [Held(created=t, up=t + 0.5, end=t + 10, ok=True, node="local" if t % 2 else "media2")
          for t in range(6)]  # up from 0.5 .. 5.5, each for 10 s: 6 at once at 5.5
    assert peak_held(ok) == (6, 5.5, None)
    assert up_at(ok, 5.5) == 6 and up_at(ok, 10.5) == 5 and up_at(ok, 0.4) == 0
    assert up_at([c for c in ok if c.node == "media2"], 5.5) == 3

    # a call offered at 3.2 that no agent took: only what was up before it counts
    never = Held(created=3.2, up=None, end=None, ok=False)
    assert peak_held([*ok, never]) == (3, 2.5, 3.2)
    # a call an agent had that ended early fails at its end
    dropped = Held(created=1.0, up=1.5, end=4.0, ok=False)
    assert peak_held([*ok, dropped]) == (4, 3.5, 4.0)
    # a call answered too late fails when it was offered, whatever came after
    late = Held(created=2.2, up=6.0, end=16.0, ok=False, in_time=False)
    assert peak_held([*ok, late]) == (2, 1.5, 2.2)
    # a call that ends as another starts, same instant: never both counted
    pair = [Held(0, 1.0, 2.0, True), Held(1.5, 2.0, 3.0, True)]
    assert peak_held(pair) == (1, 1.0, None)
    assert peak_held([]) == (0, None, None)
    # the first failure comes before any answer: nothing was held without one
    assert peak_held([Held(0.0, None, None, False), *ok])[0] == 0
