"""Which share of the machine this test process has: its port offset.

One test session may run on several worker processes (pytest-xdist, ``make
test`` runs two: the tests mostly wait on real time, calls that ring and
talk, so two at once nearly halve the wall time on two cores). Each worker
starts a stack of its own, so each takes its own port offset, WORKER_STRIDE
apart (a worker's second stack, for the PostgreSQL and supervision tests,
sits 500 above its first), and its own slice of the phones' SIP ports. A
whole session may itself be shifted (AITCOMMS_TEST_PORT_OFFSET, a multiple of
500) so that two sessions share a machine.
"""

from __future__ import annotations

import os

WORKER_STRIDE = 2000  # leaves 1500 (the benchmarks' offset) to no worker
# the stack's ports (2xxxx) plus the offset stay below the kernel's ephemeral
# range (32768 and up), where any outgoing connection may hold them first:
# the second worker's second stack (2500 above the session's) tops out at
# 30943 with no session offset
MAX_OFFSET = 4000
BASE_OFFSET = int(os.environ.get("AITCOMMS_TEST_PORT_OFFSET", "0"))
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
WORKERS = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
PORT_OFFSET = BASE_OFFSET + WORKER_STRIDE * WORKER
