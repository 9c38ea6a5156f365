# The production image: the locked runtime set and the project, nothing else (no sandbox, no dev
# server, no compiler). CMD runs the worker; the gateway and the codec server are the same image
# with `runbook-gateway` or `runbook-codec-server` as the command. runbook.toml is mounted at
# /etc/runbook/runbook.toml (RUNBOOK_CONFIG); secrets come from the environment.
#   docker build --tag skillancer/runbook:local .
#   docker run --read-only --tmpfs /tmp -v "$PWD/deploy/runbook.toml:/etc/runbook/runbook.toml:ro" skillancer/runbook:local

FROM python:3.11-slim AS builder

# The base image's pip installs into a venv without one (PIP_PYTHON): the venv the image runs
# carries no pip or setuptools of its own, old ones that scanners would flag.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_PYTHON=/opt/venv/bin/python
RUN python -m venv --without-pip /opt/venv

# The dependencies in their own layer, from the lock alone: a change of source reuses it.
COPY requirements/runtime.txt /tmp/runtime.txt
RUN pip install --require-hashes --no-deps --requirement /tmp/runtime.txt

# Then the project itself, installed (not editable) from only what it is built from. Not the
# sandbox's fakes: nothing that runs against real services imports them (tests/unit/test_layers.py).
WORKDIR /src
COPY pyproject.toml worker.py ./
COPY runbook runbook
COPY activities activities
COPY workflows workflows
COPY starter starter
RUN pip install --no-deps .


FROM python:3.11-slim

# A numeric user, so that orchestrators enforcing "run as non-root" can verify it without a passwd
# lookup; its entry still exists, for the CLI's login name.
RUN useradd --no-log-init --system --uid 10001 --user-group --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin runbook

COPY --from=builder /opt/venv /opt/venv

# Read-only root filesystem: nothing is written outside /tmp (a tmpfs), not even bytecode, which
# the builder already compiled.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    RUNBOOK_CONFIG=/etc/runbook/runbook.toml

USER 10001:10001
WORKDIR /tmp
CMD ["runbook-worker"]
