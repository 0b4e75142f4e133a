"""The data stores as data: one row per engine, read by the one Database component.

Per-image facts (UIDs, writable paths, probes, pinned tags) come from ../shared/notes/hardening.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from components.workload import Probe, Probes, RunAs, WritablePath
from policies.archon_policies import quantities
from stackconfig.model import DatabaseSettings

REDIS_CONFIG_DIR = "/etc/redis"  # where Redis's ConfigMap is mounted
CREDENTIALS_DIR = "/run/secrets/archon"  # where an engine's credentials Secret is mounted, when it reads files


def limit_mib(settings: DatabaseSettings, share: float) -> int:
    """A share of the container's memory limit, in MiB (memory caps inside the engine stay below the pod's)."""
    return int(float(quantities.memory(settings.resources.limits.memory)) / 2**20 * share)


@dataclass(frozen=True)
class Exporter:
    """A Prometheus exporter sidecar that reads the engine over loopback."""

    name: str
    image: str
    run_as: RunAs
    port: int
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)  # env name -> key of the credentials Secret
    reads_credential_files: bool = False


@dataclass(frozen=True)
class Engine:
    """How to run one data store hardened: image, ids, ports, paths, probes, credentials."""

    key: str  # the config key under `databases`
    name: str  # Service, StatefulSet and app.kubernetes.io/name
    image: str
    version: str
    run_as: RunAs
    port: int
    port_name: str
    data_path: str  # where the PersistentVolume is mounted
    probes: Probes
    generated: tuple[str, ...]  # credential keys generated with pulumi_random
    fixed: dict[str, str] = field(default_factory=dict)  # credential keys with a fixed value (user, database)
    scheme: str = ""  # DSN scheme
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)
    reads_credential_files: bool = False
    command: tuple[str, ...] | None = None
    args: Callable[[DatabaseSettings], list[str]] = lambda settings: []
    writable_paths: Callable[[DatabaseSettings], list[WritablePath]] = lambda settings: [WritablePath("/tmp")]
    extra_ports: dict[str, int] = field(default_factory=dict)
    exporter: Exporter | None = None
    termination_grace_period_seconds: int = 60


POSTGRES = Engine(
    key="postgres", name="archon-postgres", image="pgvector/pgvector:0.8.6-pg17-bookworm", version="17-pgvector-0.8.6",
    run_as=RunAs(999, 999), port=5432, port_name="tcp-postgres", scheme="postgresql",
    data_path="/var/lib/postgresql/data",
    # PGDATA is a subdirectory the postgres user creates: the volume root belongs to root:fsGroup.
    env={"PGDATA": "/var/lib/postgresql/data/pgdata", "POSTGRES_USER": "archon", "POSTGRES_DB": "archon",
         "POSTGRES_PASSWORD_FILE": f"{CREDENTIALS_DIR}/password"},
    reads_credential_files=True, generated=("password",), fixed={"username": "archon", "database": "archon"},
    args=lambda s: ["-c", f"shared_buffers={max(32, limit_mib(s, 0.25))}MB", "-c", "max_connections=100"],
    writable_paths=lambda s: [WritablePath("/var/run/postgresql", "16Mi"), WritablePath("/tmp", "256Mi"),
                              WritablePath("/dev/shm", f"{max(64, limit_mib(s, 0.25))}Mi", in_memory=True)],
    probes=Probes(
        readiness=Probe(command=["pg_isready", "-U", "archon", "-d", "archon", "-h", "127.0.0.1", "-p", "5432"],
                        initial_delay_seconds=5, period_seconds=10, timeout_seconds=5, failure_threshold=6),
        liveness=Probe(tcp=True, port="tcp-postgres", initial_delay_seconds=30, period_seconds=10,
                       timeout_seconds=5, failure_threshold=6),
        startup=Probe(command=["pg_isready", "-U", "archon", "-d", "archon", "-h", "127.0.0.1", "-p", "5432"],
                      period_seconds=10, timeout_seconds=5, failure_threshold=60)),
    exporter=Exporter(
        name="postgres-exporter", image="quay.io/prometheuscommunity/postgres-exporter:v0.20.1",
        run_as=RunAs(65534, 65534), port=9187, reads_credential_files=True,
        env={"DATA_SOURCE_URI": "127.0.0.1:5432/archon?sslmode=disable", "DATA_SOURCE_USER": "archon",
             "DATA_SOURCE_PASS_FILE": f"{CREDENTIALS_DIR}/password"}),
    termination_grace_period_seconds=120,
)

REDIS = Engine(
    key="redis", name="archon-redis", image="redis:7.4.11-bookworm", version="7.4.11",
    run_as=RunAs(999, 999), port=6379, port_name="tcp-redis", scheme="redis", data_path="/data",
    # redis.conf (maxmemory and the rest) is a ConfigMap that changes freely; it includes auth.conf (requirepass)
    # from the credentials Secret, which changes only with the password and keeps it out of every argv.
    command=("redis-server", f"{REDIS_CONFIG_DIR}/redis.conf"), reads_credential_files=True, generated=("password",),
    secret_env={"REDISCLI_AUTH": "password"},
    probes=Probes(
        readiness=Probe(command=["sh", "-c", "redis-cli -h 127.0.0.1 ping | grep -q PONG"], initial_delay_seconds=5,
                        period_seconds=5, timeout_seconds=2, failure_threshold=5),
        liveness=Probe(tcp=True, port="tcp-redis", initial_delay_seconds=20, period_seconds=10, timeout_seconds=5,
                       failure_threshold=5)),
    exporter=Exporter(
        name="redis-exporter", image="oliver006/redis_exporter:v1.89.0", run_as=RunAs(59000, 59000), port=9121,
        env={"REDIS_ADDR": "redis://127.0.0.1:6379"}, secret_env={"REDIS_PASSWORD": "password"}),
)

QDRANT = Engine(
    key="qdrant", name="archon-qdrant", image="qdrant/qdrant:v1.19.0-unprivileged", version="1.19.0",
    run_as=RunAs(1000, 1000), port=6333, port_name="http", scheme="http", data_path="/qdrant/storage",
    extra_ports={"grpc": 6334},
    env={"QDRANT_INIT_FILE_PATH": "/qdrant/init/.qdrant-initialized", "QDRANT__CLUSTER__ENABLED": "false",
         "QDRANT__TELEMETRY_DISABLED": "true", "QDRANT__STORAGE__SNAPSHOTS_PATH": "/qdrant/snapshots"},
    secret_env={"QDRANT__SERVICE__API_KEY": "api-key"}, generated=("api-key",),
    writable_paths=lambda s: [WritablePath("/qdrant/snapshots", s.storage.size), WritablePath("/qdrant/init", "1Mi"),
                              WritablePath("/tmp", "256Mi")],
    probes=Probes(
        readiness=Probe(http_path="/readyz", port="http", initial_delay_seconds=5, period_seconds=5, timeout_seconds=2,
                        failure_threshold=6),
        liveness=Probe(http_path="/livez", port="http", initial_delay_seconds=10, period_seconds=10,
                       timeout_seconds=2, failure_threshold=6),
        startup=Probe(http_path="/readyz", port="http", period_seconds=5, timeout_seconds=2, failure_threshold=120)),
)

MEMGRAPH = Engine(
    key="memgraph", name="archon-memgraph", image="memgraph/memgraph:3.12.0", version="3.12.0",
    run_as=RunAs(101, 103), port=7687, port_name="tcp-bolt", scheme="bolt", data_path="/var/lib/memgraph",
    env={"MEMGRAPH_USER": "archon"}, secret_env={"MEMGRAPH_PASSWORD": "password"}, generated=("password",),
    fixed={"username": "archon"},
    # --memory-limit must be explicit: Memgraph's default is 90% of the node's RAM, not the pod limit.
    args=lambda s: ["--data-directory=/var/lib/memgraph/mg_data", "--log-file=", "--also-log-to-stderr=true",
                    f"--memory-limit={limit_mib(s, 0.75)}", "--telemetry-enabled=false"],
    probes=Probes(
        readiness=Probe(command=["sh", "-c", 'echo "RETURN 1;" | mgconsole --username "$MEMGRAPH_USER" '
                                 '--password "$MEMGRAPH_PASSWORD" > /dev/null'],
                        period_seconds=10, timeout_seconds=10, failure_threshold=6),
        liveness=Probe(tcp=True, port="tcp-bolt", period_seconds=10, timeout_seconds=10, failure_threshold=20),
        startup=Probe(tcp=True, port="tcp-bolt", period_seconds=5, timeout_seconds=5, failure_threshold=720)),
    termination_grace_period_seconds=300,
)

ENGINES: dict[str, Engine] = {engine.key: engine for engine in (POSTGRES, REDIS, QDRANT, MEMGRAPH)}
POSTGRES_EXTENSIONS = ("vector", "pgcrypto", "pg_trgm")
