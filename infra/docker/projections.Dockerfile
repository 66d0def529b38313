# syntax=docker/dockerfile:1
# Projection worker: Kafka consumer group -> read models, cache invalidation, push.
# Build from the repository root:
#   docker build -f infra/docker/projections.Dockerfile -t bank-projections .
# Configuration comes only from BANK_* environment variables (server/settings.py).

# ---- build: a virtualenv with the project and its pinned dependencies ----
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml ./
COPY shared/ shared/
COPY runtime/ runtime/
COPY server/ server/
COPY cdc/ cdc/
COPY client/ client/
COPY infra/__init__.py infra/__init__.py
# Only this process's extra; every version in it is pinned in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-compile ".[projections]" \
    && python -m compileall -q /opt/venv/lib

# ---- runtime: no compilers, no pip cache, unprivileged user ----
FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 bank \
    && useradd --system --uid 10001 --gid bank --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin bank
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BANK_DATA_DIR=/tmp/bank \
    BANK_PROJECTIONS_METRICS_PORT=9102 \
    BANK_METRICS_HOST=0.0.0.0
WORKDIR /tmp
USER 10001:10001
EXPOSE 9102
# slim has no curl: urlopen raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9102/metrics', timeout=2)"]
CMD ["python", "-m", "server.projections"]
