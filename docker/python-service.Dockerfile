# syntax=docker/dockerfile:1.7
# archon-server, archon-mcp and archon-agents, built from an Archon checkout (the context is its root: python/ holds
# the code, migration/ the schema the data API's Job applies and the server's migration check reads).
# Build arguments (the service catalog sets them): UV_GROUPS, the service's dependency groups;
# APP_MODULE, its ASGI app for uvicorn (empty: RUN_MODULE runs itself, as archon-mcp does); APP_PORT;
# WITH_PLAYWRIGHT=true adds Chromium and its libraries for the crawler. PYTHON_IMAGE: Python 3.12, as Archon v1 targets
# (requires-python, ruff and mypy at 3.12) and its own images use; any image with CPython 3.12 in /usr/local works.
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG UV_GROUPS=""
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY python/pyproject.toml python/uv.lock ./
# Exactly the versions of Archon's lock file: --locked refuses a lock that does not match pyproject.toml, and
# nothing is resolved afresh. Only the image's Python is used (never a downloaded one).
# UV_GROUPS is a list of `--group NAME` flags and must split into words.
# hadolint ignore=SC2086
RUN UV_PROJECT_ENVIRONMENT=/venv UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy \
    uv sync --locked --no-install-project --no-default-groups --no-cache --python /usr/local/bin/python3 ${UV_GROUPS}

FROM ${PYTHON_IMAGE}
ARG APP_MODULE=""
ARG RUN_MODULE="src.mcp_server.mcp_server"
ARG APP_PORT=8181
ARG WITH_PLAYWRIGHT=false
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PLAYWRIGHT_BROWSERS_PATH=/ms-playwright \
    APP_MODULE=${APP_MODULE} \
    RUN_MODULE=${RUN_MODULE} \
    APP_PORT=${APP_PORT}
COPY --from=build /venv /venv
# Chromium's shared libraries are runtime dependencies of the crawler, not build tools.
RUN if [ "$WITH_PLAYWRIGHT" = "true" ]; then playwright install --with-deps chromium && rm -rf /var/lib/apt/lists/*; fi \
 && groupadd --gid 10001 archon \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin archon
WORKDIR /app
COPY python/src ./src
COPY migration ./migration
USER 10001:10001
EXPOSE ${APP_PORT}
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['APP_PORT'], timeout=5)"]
# Production ASGI: one uvicorn worker (the server keeps progress in memory), no reload, proxy headers on.
CMD ["sh", "-c", "if [ -n \"$APP_MODULE\" ]; then exec uvicorn \"$APP_MODULE\" --host 0.0.0.0 --port \"$APP_PORT\" --workers 1 --proxy-headers --forwarded-allow-ips '*' --no-server-header --timeout-graceful-shutdown 25; else exec python -m \"$RUN_MODULE\"; fi"]
