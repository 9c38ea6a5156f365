# The two commands of the README: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCKS := requirements/runtime.txt requirements/dev.txt
# Hashes for every file, nothing about this machine's indexes; `make lock UPGRADE=1` moves every pin.
LOCK_FLAGS := --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade)

.PHONY: install lock demo up down status test lint bench diagrams clean

install: $(STAMP)

# Exactly the locked set (the sandbox, tests, tracing and dev tools), then the project itself on top.
$(STAMP): pyproject.toml $(LOCKS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# runtime.txt is what the image installs; dev.txt adds the extras at the runtime set's versions
# (the project itself is left out of it: `make install` adds it editable).
lock: install
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile $(LOCK_FLAGS) -o requirements/runtime.txt pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile $(LOCK_FLAGS) --all-extras --unsafe-package runbook \
		-c requirements/runtime.txt -o requirements/dev.txt pyproject.toml

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

# README's diagrams of the procedures, redrawn from the workflows' step lists (a test checks them).
diagrams: install
	$(BIN)/python -m starter.diagrams --write

clean: down
	rm -rf .runbook
