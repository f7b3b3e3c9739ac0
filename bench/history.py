"""How fast the call history answers on a large table: each search of
control.recordings.history beside a baseline measured in the same run (the
plain newest-first page of the calls table, the query any history needs).

A temporary database (SQLite by default; DATABASE_URL for PostgreSQL) gets
N calls over 90 days in 4 queues and 20 agents, a third of them from known
customers with an interaction (disposition), each with a routing decision.
Prints the median and worst of R runs per search, in milliseconds. No
assertion: figures to compare between commits.

Usage: python -m bench.history [--calls N] [--runs R] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from control.acd.models import Call, RoutingDecision
from control.crm.identity import fold
from control.crm.models import Customer, CustomerPhone, Interaction
from control.db import Database
from control.recordings import filters, history
from control.settings import Settings

QUEUES = ("autos", "hogar", "siniestros", "ventas")
DISPOSITIONS = ("consulta", "venta", "siniestro", "renovacion")


def populate(db: Database, calls: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    customers = max(1, calls // 10)
    with db.session() as s:
        s.execute(insert(Customer), [
            {"id": i + 1, "name": f"Cliente {i} García", "name_search": fold(f"Cliente {i} García"),
             "phones": [f"+346{i:08d}"], "language": "es", "segment": "standard", "tags": []}
            for i in range(customers)])
        s.execute(insert(CustomerPhone), [
            {"customer_id": i + 1, "number": f"+346{i:08d}"} for i in range(customers)])
        rows: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        interactions: list[dict[str, Any]] = []
        for n in range(calls):
            entered = now - timedelta(seconds=rnd.uniform(0, 90 * 86400))
            answered = entered + timedelta(seconds=rnd.uniform(1, 60)) if rnd.random() < .9 \
                else None
            ended = (answered or entered) + timedelta(seconds=rnd.uniform(5, 900))
            customer = rnd.randrange(customers) + 1 if rnd.random() < .33 else None
            agent = f"{1000 + rnd.randrange(20)}" if answered else None
            call_id = f"bench-{n:08d}"
            rows.append({"id": call_id, "caller_channel": f"c{n}", "queue": rnd.choice(QUEUES),
                         "caller_number": f"+346{(customer or 0) - 1:08d}" if customer
                         else f"+349{n:08d}", "customer_id": customer, "language": "es",
                         "skills": [], "priority": 0,
                         "state": "completed" if answered else "abandoned",
                         "agent_extension": agent, "entered_at": entered,
                         "answered_at": answered, "ended_at": ended,
                         "recording": f"/var/rec/{call_id}.wav" if answered else None,
                         "direction": "inbound"})
            decisions.append({"call_id": call_id, "decided_at": entered, "chosen": agent,
                              "reason": "bench", "candidates": [], "needs": None})
            if customer:
                interactions.append({
                    "customer_id": customer, "call_id": call_id, "agent_extension": agent,
                    "direction": "inbound", "started_at": entered, "duration_s": 60,
                    "outcome": "answered" if answered else "abandoned",
                    "disposition": rnd.choice(DISPOSITIONS), "notes": ""})
        for chunk in range(0, calls, 5000):
            s.execute(insert(Call), rows[chunk:chunk + 5000])
            s.execute(insert(RoutingDecision), decisions[chunk:chunk + 5000])
        if interactions:
            s.execute(insert(Interaction), interactions)


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        took.append((time.perf_counter() - start) * 1000)
    return statistics.median(took), max(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 000 calls, 3 runs")
    args = parser.parse_args()
    calls, runs = (5000, 3) if args.quick else (args.calls, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Settings(var_dir=Path(tmp),
                               database_url_env=os.environ.get("DATABASE_URL") or None))
        db.upgrade()
        start = time.perf_counter()
        populate(db, calls)
        print(f"{calls} calls written in {time.perf_counter() - start:.1f} s "
              f"({db.engine.dialect.name})")
        sup = history.Viewer("supervisor")
        week = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
        some_id = f"bench-{calls // 2:08d}"

        def search(query: dict[str, str], viewer: history.Viewer = sup) -> Callable[[], Any]:
            def run() -> Any:
                with db.session() as s:
                    return history.search(s, filters.parse(query), viewer=viewer)
            return run

        def baseline() -> Any:  # the newest-first page alone, no joins, no filter, no count
            with db.session() as s:
                return list(s.scalars(select(Call).order_by(Call.entered_at.desc()).limit(50)))

        def detail() -> Any:
            with db.session() as s:
                return history.detail(s, some_id, viewer=sup)

        cases: list[tuple[str, Callable[[], Any]]] = [
            ("baseline: newest 50 rows of calls", baseline),
            ("history, no filter (page + total)", search({})),
            ("history, last 7 days", search({"from": week})),
            ("history, queue", search({"queue": "hogar"})),
            ("history, agent's own (agent view)",
             search({}, history.Viewer("agent", "1007"))),
            ("history, customer by name", search({"customer": "cliente 12 garcia"})),
            ("history, customer by phone", search({"customer": "+34600000012"})),
            ("history, disposition", search({"disposition": "venta"})),
            ("history, talk 600-900 s", search({"min_duration": "600",
                                                "max_duration": "900"})),
            ("one call's detail with timeline", detail),
        ]
        print(f"{'what':<40} {'median ms':>10} {'worst ms':>10}")
        for name, fn in cases:
            median, worst = timed(fn, runs)
            print(f"{name:<40} {median:>10.1f} {worst:>10.1f}")
        db.dispose()


if __name__ == "__main__":
    main()
