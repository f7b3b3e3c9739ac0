"""Figures a test measured (fault recovery times, pacing, ...), for the reader.

A test's own print is lost when pytest runs it on a worker (``make test``
runs two) unless the test fails; what goes through :func:`report` is printed
too and kept in ``test-artifacts/figures/``, one file per worker, which the
session prints at its end (tests/conftest.py, ``pytest_terminal_summary``).
"""

from __future__ import annotations

import os
from pathlib import Path

FIGURES_DIR = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "figures"


def report(text: str) -> None:
    print(text)
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with (FIGURES_DIR / f"{worker}.txt").open("a") as out:
        out.write(text.rstrip("\n") + "\n")


def clear() -> None:
    for old in FIGURES_DIR.glob("*.txt"):
        old.unlink()


def collected() -> str:
    return "".join(f.read_text() for f in sorted(FIGURES_DIR.glob("*.txt")))
