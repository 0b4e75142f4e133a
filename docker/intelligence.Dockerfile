# syntax=docker/dockerfile:1.7
# archon-intelligence (OmniArchon's services/intelligence, a Poetry project), the build context.
ARG PYTHON_IMAGE=python:3.13.15-slim-trixie

FROM ${PYTHON_IMAGE} AS build
RUN pip install --no-cache-dir poetry==2.5.1
WORKDIR /app
COPY pyproject.toml poetry.lock ./
RUN python -m venv /venv \
 && VIRTUAL_ENV=/venv poetry install --only main --no-root --no-interaction --no-ansi

FROM ${PYTHON_IMAGE}
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /venv /venv
RUN groupadd --gid 10001 archon \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin archon
WORKDIR /app
COPY . .
USER 10001:10001
EXPOSE 8053
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8053/health', timeout=5)"]
# Stateless: several workers per pod, and the HPA adds pods.
CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8053", "--workers", "2", "--proxy-headers", "--forwarded-allow-ips", "*", "--no-server-header", "--timeout-graceful-shutdown", "25"]
