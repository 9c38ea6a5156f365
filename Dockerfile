# The worker's image; the compose file's sandbox services run it too, with another command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
# No test extras; the in-tree build leftovers would only bloat the layer.
RUN pip install . && rm -rf build ./*.egg-info

# A numeric user, so that orchestrators enforcing "run as non-root" can verify it without a passwd lookup.
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin runbook
USER 10001:10001

CMD ["python", "worker.py"]
