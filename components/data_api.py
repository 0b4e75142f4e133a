"""DataApi: the Supabase API Archon talks to, served in front of the bundled PostgreSQL.

Upstream Archon reaches its database only through supabase-py (PostgREST under /rest/v1, a service_role JWT),
and refuses a plain-http URL unless its host is local or a private IP (../shared/notes/archon.md 4.1). So the
bundled mode runs PostgREST, a migration Job that creates the Supabase roles and applies Archon's schema from the
server image, a generated JWT secret with the service-role key minted from it, and gives each reader an nginx
sidecar that maps /rest/v1/ onto PostgREST, so its SUPABASE_URL is http://localhost:8000.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jwt
import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import workload as w
from components.component import Component, Placement
from components.database import Database
from components.database_engines import POSTGRES
from components.labels import recommended_labels, selector_labels
from components.objects import Metadata, cluster_service, service_ports
from components.passwords import generated_password
from stackconfig.model import DataApiSettings, Resources

FILES = Path(__file__).resolve().parents[1] / "docker" / "data-api"
POSTGREST_IMAGE = "postgrest/postgrest:v14.1"
POSTGREST_VERSION = "14.1"
PROXY_IMAGE = "nginxinc/nginx-unprivileged:1.30.4-alpine-slim"  # the frontend's nginx base
NAME = "archon-data-api"
MIGRATE = "archon-data-migrate"  # app.kubernetes.io/name of the migration Job's pods: PostgreSQL admits them
PORT = 3000  # PostgREST's API, the Service's port
PROXY_PORT = 8000  # the readers' sidecar
URL = f"http://localhost:{PROXY_PORT}"  # SUPABASE_URL: a host Archon accepts over http (notes/archon.md 4.1)
PROXY_CONF = FILES / "rest-proxy.conf"

FILE_NAMES = ("roles.sql", "migrate.sh", "wait-for-data-api.py")  # the files ConfigMap, mounted at SQL_DIR
SCHEMA_DIR = "/schema"  # where the Job finds Archon's migration/ folder, copied from the server image
SQL_DIR = "/sql"
# A fixed issue time keeps the minted key the same from one run to the next; it changes with the JWT secret.
SERVICE_ROLE_CLAIMS = {"iss": "archon", "role": "service_role", "iat": 1767225600}


def service_role_key(jwt_secret: str) -> str:
    """The service_role JWT (HS256) PostgREST accepts for this secret, as Supabase mints its service key."""
    return jwt.encode(SERVICE_ROLE_CLAIMS, jwt_secret, algorithm="HS256")


def rest_proxy(config_map: pulumi.Input[str], resources: Resources) -> w.Container:
    """The sidecar a reader of the database runs: nginx mapping localhost:8000/rest/v1/ onto archon-data-api."""
    return w.Container(
        name="rest-proxy", image=PROXY_IMAGE, resources=resources, run_as=w.RunAs(101, 101),
        ports={"rest-proxy": PROXY_PORT}, writable_paths=[w.WritablePath("/tmp", "16Mi")],
        mounts=[w.Mount(w.config_map_volume("rest-proxy", config_map), "/etc/nginx/conf.d")],
        probes=w.Probes(readiness=w.Probe(http_path="/healthz", port="rest-proxy"),
                        liveness=w.Probe(tcp=True, port="rest-proxy", period_seconds=20)))


class DataApi(Component):
    """PostgREST, the roles and schema Job, the service key the app reads, and its readers' proxy config."""

    secret_name: pulumi.Output[str]

    def __init__(self, name: str, *, settings: DataApiSettings, site: Placement, postgres: Database,
                 schema_image: pulumi.Input[str], rotation: int, pull_secrets: Sequence[pulumi.Input[str]] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:DataApi", name, opts)
        self.labels = recommended_labels(NAME, "data-api", site.instance, POSTGREST_VERSION)
        selector = selector_labels(self.labels)
        meta = Metadata(site.namespace, self.labels).named

        self._credentials(name, meta, postgres, rotation, site.protect)
        self.files = k8s.core.v1.ConfigMap(
            f"{name}-files", metadata=meta(f"{NAME}-files"),
            data={name: (FILES / name).read_text() for name in FILE_NAMES}, opts=self.fixed_name())
        self.proxy_conf = PROXY_CONF.read_text()
        self.proxy_config = k8s.core.v1.ConfigMap(
            f"{name}-proxy", metadata=meta(f"{NAME}-proxy"), data={"default.conf": self.proxy_conf},
            opts=self.fixed_name())
        job_labels = recommended_labels(MIGRATE, "data-api", site.instance, POSTGREST_VERSION)
        self._migration(name, settings, site.namespace, job_labels, postgres, schema_image, pull_secrets)
        self._postgrest(name, settings, meta, selector)

        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-traffic", metadata=meta(NAME), spec=site.traffic.policy(NAME, selector), opts=self.child)
        self.migration_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-migrate-traffic", metadata=meta(MIGRATE, labels=job_labels),
            spec=site.traffic.policy(MIGRATE), opts=self.child)

        # A preview of the Service's creation has no address yet (the provider returns none, not an unknown): the
        # URL is then unknown too, as the engine shows any value only the cluster assigns.
        self.register_outputs({"url": URL, "secretName": self.secret_name})

    def wait_container(self, image: pulumi.Input[str], pull_policy: str, resources: Resources) -> w.Container:
        """An init container for a reader that cannot start without the database (archon-server exits at startup
        when it cannot read its settings): it waits, with the reader's image, until the data API serves Archon's
        schema, so the pod waits in Init instead of crash-looping while PostgREST and the migration Job finish."""
        return w.Container(
            name="wait-for-data-api", image=image, image_pull_policy=pull_policy, resources=resources,
            command=["python", f"{SQL_DIR}/wait-for-data-api.py"],
            env={"DATA_API_URL": f"http://{NAME}:{PORT}"},
            secret_env={"SUPABASE_SERVICE_KEY": w.SecretRef(self.secret_name, "service-key")},
            mounts=[w.Mount(w.config_map_volume("data-api-files", self.files.metadata.name, default_mode=0o444),
                            SQL_DIR)])

    def _credentials(self, name: str, meta, postgres: Database, rotation: int, protect: bool) -> None:
        """The JWT secret, the authenticator's password, and the Secret with the service key and database URI."""
        keep = self.options(protect=protect)
        # The JWT secret does not rotate with the database credentials: Archon encrypts the API keys it stores
        # with a key derived from the service key, so a new one makes them unreadable (notes/archon.md 3).
        self.jwt_secret = random.RandomPassword(f"{name}-jwt-secret", opts=keep, length=64, special=False)
        authenticator = generated_password(f"{name}-authenticator", keep, keepers={"rotation": str(rotation)}).result
        service_key: pulumi.Output[str] = pulumi.Output.secret(self.jwt_secret.result.apply(service_role_key))
        db_uri: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.all(authenticator, postgres.host).apply(
            lambda args: f"postgres://authenticator:{args[0]}@{args[1]}:{POSTGRES.port}/{POSTGRES.fixed['database']}"))
        values = {"jwt-secret": self.jwt_secret.result, "authenticator-password": authenticator,
                  "service-key": service_key, "db-uri": db_uri}
        self.secret = k8s.core.v1.Secret(
            f"{name}-credentials", metadata=meta(f"{NAME}-credentials"), type="Opaque", string_data=values,
            opts=self.fixed_name(protect=protect))
        self.secret_name = self.secret.metadata.name
        self.checksum = w.digest(values)

    def _migration(self, name: str, settings: DataApiSettings, namespace: pulumi.Input[str], job_labels: dict,
                   postgres: Database, schema_image: pulumi.Input[str],
                   pull_secrets: Sequence[pulumi.Input[str]]) -> None:
        """The schema Job: Archon's migration/ folder out of the server image, then psql from the PostgreSQL image.
        A new server image or new credentials make a new Job (its template changes), which runs again."""
        schema_out = w.WritablePath(SCHEMA_DIR, "64Mi")
        copy_schema = w.Container(
            name="schema", image=schema_image, resources=settings.resources, run_as=w.RunAs(10001, 10001),
            command=["sh", "-c", f"cp -R /app/migration/. {SCHEMA_DIR}/"], writable_paths=[schema_out])
        files_volume = w.config_map_volume("files", self.files.metadata.name, default_mode=0o444)
        migrate = w.Container(
            name="migrate", image=POSTGRES.image, resources=settings.resources, command=["sh", f"{SQL_DIR}/migrate.sh"],
            env={"PGHOST": postgres.host, "PGPORT": str(POSTGRES.port), "PGUSER": POSTGRES.fixed["username"],
                 "PGDATABASE": POSTGRES.fixed["database"], "SQL_DIR": SQL_DIR, "SCHEMA_DIR": SCHEMA_DIR},
            secret_env={"PGPASSWORD": w.SecretRef(postgres.secret_name, "password"),
                        "AUTHENTICATOR_PASSWORD": w.SecretRef(self.secret_name, "authenticator-password")},
            writable_paths=[w.WritablePath("/tmp", "16Mi")],
            mounts=[w.Mount(files_volume, SQL_DIR), w.Mount(w.scratch("schema", schema_out), SCHEMA_DIR)])
        self.migration = k8s.batch.v1.Job(
            f"{name}-migrate", metadata=Metadata(namespace, job_labels).autonamed(),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=6, active_deadline_seconds=1800,
                template=w.pod_template(
                    labels=job_labels, annotations={"archon.io/secrets-checksum": self.checksum},
                    run_as=POSTGRES.run_as, restart_policy="OnFailure", init_containers=[copy_schema],
                    containers=[migrate],
                    image_pull_secrets=pull_secrets)),  # the init container runs the app's server image
            opts=self.options(custom_timeouts=pulumi.CustomTimeouts(create="35m", update="35m")))

    def _postgrest(self, name: str, settings: DataApiSettings, meta, selector: dict) -> None:
        """PostgREST on the database, as a zero-downtime Deployment with its Service and (replicated) PDB."""
        postgrest = w.Container(
            name="postgrest", image=POSTGREST_IMAGE, resources=settings.resources, run_as=w.RunAs(1000, 1000),
            ports={"http": PORT, "admin": 3001},
            env={"PGRST_DB_SCHEMAS": "public", "PGRST_DB_ANON_ROLE": "anon", "PGRST_SERVER_PORT": str(PORT),
                 "PGRST_ADMIN_SERVER_PORT": "3001", "PGRST_DB_POOL": "10", "PGRST_LOG_LEVEL": "error"},
            secret_env={"PGRST_DB_URI": w.SecretRef(self.secret_name, "db-uri"),
                        "PGRST_JWT_SECRET": w.SecretRef(self.secret_name, "jwt-secret")},
            probes=w.Probes(readiness=w.Probe(http_path="/ready", port="admin"),
                            liveness=w.Probe(http_path="/live", port="admin", period_seconds=20)))
        probes = postgrest.probes
        assert probes is not None
        self.deployment = k8s.apps.v1.Deployment(
            name, metadata=meta(NAME, w.controller_annotations()),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=settings.replicas, revision_history_limit=5,
                progress_deadline_seconds=w.rollout_seconds(probes),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate", rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_unavailable=0, max_surge=1)),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=w.pod_template(
                    labels=self.labels, annotations={"archon.io/secrets-checksum": self.checksum},
                    run_as=w.RunAs(1000, 1000), containers=[postgrest], termination_grace_period_seconds=30)),
            opts=self.options(custom_timeouts=w.rollout_timeouts(probes)))
        self.service = cluster_service(f"{name}-service", meta(NAME), selector,
                                       service_ports([postgrest], only=("http",)), self.child)
        if settings.replicas > 1:
            self.pdb = k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb", metadata=meta(NAME),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)),
                opts=self.child)
