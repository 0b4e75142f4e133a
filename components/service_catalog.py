"""The Archon services as data (ports, health, identity, paths, wiring); adding a service is an entry (and its
connections a row of components/connections.py).

Facts from ../shared/notes/archon.md: service names are hard-coded in the app (archon-server, archon-mcp, ...),
discovery needs DOCKER_CONTAINER=true and explicit port variables, and archon-server and archon-mcp keep state
in process memory, so they are not autoscaled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi

from components.workload import RunAs, SecretRef, WritablePath

APP_USER = RunAs(10001, 10001)  # the numeric USER of docker/python-service.Dockerfile and intelligence.Dockerfile


@dataclass(frozen=True)
class Wiring:
    """What the services connect to: data-store hosts and Secrets, the app Secret, the public domain."""

    app_secret: pulumi.Input[str]
    domain: str
    databases: dict[str, tuple[pulumi.Input[str], int, pulumi.Input[str]]]  # key -> (host, port, secret name)
    supabase_url: pulumi.Input[str] | SecretRef  # the bundled data API's address, or the managed project's Secret
    supabase_key: SecretRef
    log_level: str = "INFO"


@dataclass(frozen=True)
class AppService:
    """One Archon service: how it listens, is probed, runs, and whom it may talk to."""

    key: str  # config key under `services`
    name: str  # Deployment, Service and app.kubernetes.io/name (the app hard-codes these)
    container_port: int
    service_port: int
    dockerfile: str  # in docker/
    context: str  # build context inside its source checkout ("." for its root)
    source: str = "archon"  # where the source is: a key of docker/sources.json (repository, commit, folder)
    run_as: RunAs = APP_USER
    ready_path: str = "/health"
    live_path: str | None = None  # a cheap route the app serves apart from ready_path; None: a TCP check
    startup_seconds: int = 300
    writable: tuple[WritablePath, ...] = (WritablePath("/tmp", "256Mi"),)
    in_memory_state: bool = False
    streams: bool = False  # answers with streamed bodies (server-sent events): its route must not buffer responses
    reads_data_api: bool = False  # reaches the database through the Supabase API (SUPABASE_URL, the service key)
    needs_data_api_to_start: bool = False  # exits at startup without it: its pods wait for it first
    build_args: dict[str, str] = field(default_factory=dict)
    env: Callable[[Wiring], dict] = lambda wiring: {}
    secret_env: Callable[[Wiring], dict] = lambda wiring: {}
    feature: str | None = None  # a features.* switch that must be on


PORTS = {"ARCHON_SERVER_PORT": "8181", "ARCHON_MCP_PORT": "8051", "ARCHON_AGENTS_PORT": "8052"}
PYTHON_ENV = {**PORTS, "DOCKER_CONTAINER": "true", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
              "HOME": "/tmp"}


def _python(wiring: Wiring) -> dict:
    """What every Python service reads: the ports, discovery on containerd, the log level."""
    return {**PYTHON_ENV, "LOG_LEVEL": wiring.log_level}


def _openai(wiring: Wiring) -> dict:
    return {"OPENAI_API_KEY": SecretRef(wiring.app_secret, "openai-api-key")}


def _supabase(wiring: Wiring) -> tuple[dict, dict]:
    """SUPABASE_URL and SUPABASE_SERVICE_KEY, as upstream Archon reads its database: the bundled data API's
    address (not secret) and minted key, or the managed project's URL and key from its Secret."""
    url = wiring.supabase_url
    if isinstance(url, SecretRef):
        return {}, {"SUPABASE_URL": url, "SUPABASE_SERVICE_KEY": wiring.supabase_key}
    return {"SUPABASE_URL": url}, {"SUPABASE_SERVICE_KEY": wiring.supabase_key}


def _postgres(wiring: Wiring) -> tuple[dict, dict]:
    """POSTGRES_* for a service that speaks PostgreSQL itself (OmniArchon's intelligence); SUPABASE_* when the
    database is Supabase's."""
    if "postgres" not in wiring.databases:
        return _supabase(wiring)
    host, port, secret = wiring.databases["postgres"]
    return ({"POSTGRES_HOST": host, "POSTGRES_PORT": str(port), "POSTGRES_DB": "archon", "POSTGRES_USER": "archon"},
            {"POSTGRES_PASSWORD": SecretRef(secret, "password")})


def _server_env(wiring: Wiring) -> dict:
    return {**_python(wiring), **_supabase(wiring)[0], "ARCHON_HOST": wiring.domain,
            "HF_HOME": "/cache/huggingface", "CRAWL4_AI_BASE_DIRECTORY": "/cache/crawl4ai",
            "TLDEXTRACT_CACHE": "/cache/tldextract", "PLAYWRIGHT_BROWSERS_PATH": "/ms-playwright"}


def _intelligence_env(wiring: Wiring) -> dict:
    memgraph, qdrant, redis = (wiring.databases[k] for k in ("memgraph", "qdrant", "redis"))
    return {**_python(wiring), **_postgres(wiring)[0], "MEMGRAPH_URI": f"bolt://archon-memgraph:{memgraph[1]}",
            "MEMGRAPH_USER": "archon", "QDRANT_URL": f"http://archon-qdrant:{qdrant[1]}",
            "VALKEY_URL": f"redis://archon-redis:{redis[1]}/0"}


def _intelligence_secrets(wiring: Wiring) -> dict:
    return {**_openai(wiring), **_postgres(wiring)[1],
            "MEMGRAPH_PASSWORD": SecretRef(wiring.databases["memgraph"][2], "password"),
            "QDRANT_API_KEY": SecretRef(wiring.databases["qdrant"][2], "api-key"),
            "VALKEY_PASSWORD": SecretRef(wiring.databases["redis"][2], "password")}


SERVICES: tuple[AppService, ...] = (
    AppService(
        key="frontend", name="archon-frontend", container_port=8080, service_port=3737,
        dockerfile="frontend.Dockerfile", context="archon-ui-main", run_as=RunAs(101, 101),
        ready_path="/healthz", startup_seconds=60,
        writable=(WritablePath("/tmp", "64Mi"), WritablePath("/var/cache/nginx", "64Mi"))),
    AppService(
        key="server", name="archon-server", container_port=8181, service_port=8181,
        dockerfile="python-service.Dockerfile", context=".",
        build_args={"UV_GROUPS": "--group server --group server-reranking", "APP_MODULE": "src.server.main:app",
                    "APP_PORT": "8181", "WITH_PLAYWRIGHT": "true"},
        writable=(WritablePath("/tmp", "2Gi"), WritablePath("/cache", "2Gi")), in_memory_state=True,
        live_path="/",  # static JSON, always 200; /health is 503 until startup ends
        reads_data_api=True, needs_data_api_to_start=True,
        env=_server_env, secret_env=lambda w: {**_openai(w), **_supabase(w)[1]}),
    AppService(
        key="mcp", name="archon-mcp", container_port=8051, service_port=8051,
        dockerfile="python-service.Dockerfile", context=".",
        build_args={"UV_GROUPS": "--group mcp", "APP_MODULE": "", "APP_PORT": "8051"},
        # FastMCP serves only /mcp and /health (which calls the server): a TCP liveness check, as Archon's compose
        in_memory_state=True, reads_data_api=True, streams=True,  # streamable HTTP
        env=lambda w: {**_python(w), **_supabase(w)[0]}, secret_env=lambda w: _supabase(w)[1]),
    AppService(
        key="intelligence", name="archon-intelligence", container_port=8053, service_port=8053,
        # Not part of Archon: OmniArchon's service, archived in OmniNode-ai/omniintelligence (docker/sources.json).
        dockerfile="intelligence.Dockerfile", context="services/intelligence", source="omniarchon",
        startup_seconds=600, feature="intelligence", env=_intelligence_env, secret_env=_intelligence_secrets),
    AppService(
        key="agents", name="archon-agents", container_port=8052, service_port=8052,
        dockerfile="python-service.Dockerfile", context=".",
        build_args={"UV_GROUPS": "--group agents", "APP_MODULE": "src.agents.server:app", "APP_PORT": "8052"},
        startup_seconds=600, env=lambda w: {**_python(w), "MCP_SERVICE_URL": "http://archon-mcp:8051"},
        secret_env=_openai, feature="agents"),
)
BY_KEY = {service.key: service for service in SERVICES}
