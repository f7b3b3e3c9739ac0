# AIT-COMMS. Quickstart: `make run`, `make test` (root, Debian 12).
SHELL := /bin/bash
VENV := .venv
AITCOMMS := $(VENV)/bin/aitcomms

.PHONY: run test setup down status lint bench clean web

setup:
	@bash scripts/setup.sh

web:
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

run: setup
	@$(AITCOMMS) up
	@$(AITCOMMS) db seed

down:
	@$(AITCOMMS) down

status:
	@$(AITCOMMS) status

lint: setup
	$(VENV)/bin/ruff check control agi tests $(wildcard bench)
	$(VENV)/bin/mypy

test: setup lint
	$(VENV)/bin/pytest -q

# the ceilings of the router and of app_queue, stepping the offered load (about
# 3 minutes); e.g. BENCH_ARGS="--rates 1,2,5,10,20,40,80" to push app_queue further
bench: setup
	$(VENV)/bin/python -m bench.acd $(BENCH_ARGS)

clean: down
	rm -rf var
