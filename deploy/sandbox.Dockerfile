# The compose file's sandbox profile: the project with its sandbox extra (moto, the fakes), which
# the production image leaves out, and the repository's runbook.toml, whose integrations are the
# sandbox's. For trying the runbook without AWS; never deployed.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The development lock (`make lock`) pins the sandbox extra; its test tools come along.
COPY requirements/dev.txt requirements/dev.txt
RUN pip install --require-hashes --requirement requirements/dev.txt
COPY . .
RUN pip install --no-deps . && rm -rf build ./*.egg-info \
    && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin runbook
USER 10001:10001

ENV RUNBOOK_CONFIG=/app/runbook.toml
CMD ["python", "-m", "sandbox"]
