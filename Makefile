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

bench: setup
	$(VENV)/bin/python -m bench.acd

clean: down
	rm -rf var
