# The two commands of the README: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo up down status test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

up: install
	$(BIN)/python -m starter.stack up

down:
	$(BIN)/python -m starter.stack down

status: install
	$(BIN)/python -m starter.stack status

# AUTO_APPROVE=1 approves as a second demo user, so the deployment runs unattended.
demo: up
	AUTO_APPROVE=$(AUTO_APPROVE) $(BIN)/python -m starter.demo

# Three processes, a file each at a time: every process has its own server, sandbox and worker.
# Much of the suite waits on timers, rollouts and subprocesses, so three keep two cores busier.
# The guardrails first (lint, format, types; the layer contract is a test), then the suite.
test: install lint
	$(BIN)/python -m pytest -q -n 3 --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Not in `make test`: figures against targets, not assertions (under 15 minutes on 2 cores).
bench: install
	$(BIN)/python -m bench

clean: down
	rm -rf .runbook
