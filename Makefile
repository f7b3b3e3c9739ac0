# AIT-COMMS. Quickstart: `make run`, `make test` (root, Debian 12).
SHELL := /bin/bash
VENV := .venv
AITCOMMS := $(VENV)/bin/aitcomms

.PHONY: run test test-resilience test-production-data setup down status lint bench bench-dialer bench-scale soak clean web

setup:
	@bash scripts/setup.sh

web:
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

run: setup
	@$(AITCOMMS) up
	@$(AITCOMMS) db seed --demo

down:
	@$(AITCOMMS) down

status:
	@$(AITCOMMS) status

lint: setup
	$(VENV)/bin/ruff check control agi tests $(wildcard bench)
	$(VENV)/bin/mypy

# `make test` stays under half an hour on 2 cores: two workers, each with its
# own stack (tests/harness/session.py; a test file stays on one worker: its
# module fixtures, its order), every test including the resilience runs (each
# daemon killed and hung, 50 live calls through each fault; alone: `make
# test-resilience`), then the real-call tests that write rows or publish
# events once more on PostgreSQL + Redis (skipped, saying why, without them).
# Each part can run alone.
# A test that fails runs once more (a clean stack, the same assertions) and
# the summary names it (RERUN): two workers' stacks share 2 cores, and a real
# call now and then misses a deadline; a test that fails twice fails the run.
# The 15 slowest steps are listed at the end: the half-hour budget's account.
PRODUCTION_DATA_TESTS := tests/test_call_control.py tests/test_outbound.py tests/test_events.py
PYTEST := $(VENV)/bin/pytest -q -n 2 --dist loadfile --reruns 1 -r fER --durations=15

test: setup lint
	$(PYTEST)
	AITCOMMS_TEST_DATA=postgresql $(PYTEST) $(PRODUCTION_DATA_TESTS)

test-resilience: setup
	$(PYTEST) -m resilience tests/test_supervision.py tests/test_faults.py

test-production-data: setup
	AITCOMMS_TEST_DATA=postgresql $(PYTEST) $(PRODUCTION_DATA_TESTS)

# the ceilings of the router and of app_queue, stepping the offered load (about
# 3 minutes); e.g. BENCH_ARGS="--rates 1,2,5,10,20,40,80" to push app_queue further
bench: setup
	$(VENV)/bin/python -m bench.acd $(BENCH_ARGS)

# one media node against two, same run (about 6 minutes): calls/s ceiling,
# concurrent calls held, kill -9 of the second node (Kamailio's mark, new
# calls lost, restart); e.g. SCALE_ARGS="--quick" (about 2 minutes)
bench-scale: setup
	$(VENV)/bin/python -m bench.scale $(SCALE_ARGS)

# calls at a steady 5/s until 5,000 were offered (about 17 minutes): memory and
# open files of every process, sampled; e.g. SOAK_ARGS="--calls 20000"
soak: setup
	$(VENV)/bin/python -m bench.soak $(SOAK_ARGS)

# outbound pacing, progressive vs predictive on the same simulated list (a few
# seconds, no stack); e.g. DIALER_ARGS="--agents 20 --leads 2000 --amd"
bench-dialer: setup
	$(VENV)/bin/python -m bench.dialer $(DIALER_ARGS)

clean: down
	rm -rf var
