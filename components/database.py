"""Database: one ComponentResource for every data store, driven by a row of the engine table."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.component import Component, Placement
from components.database_engines import (
    CREDENTIALS_DIR,
    POSTGRES_EXTENSIONS,
    REDIS_CONFIG_DIR,
    Engine,
    limit_mib,
)
from components.labels import recommended_labels, selector_labels
from components.objects import Metadata, cluster_service, service_ports
from components.passwords import generated_password
from components.stateful import DATA_VOLUME, stateful_set
from monitoring.configs import scrape_annotations
from stackconfig.model import DatabaseSettings, Resources

EXPORTER_RESOURCES = Resources.model_validate({"requests": {"cpu": "10m", "memory": "32Mi"},
                                               "limits": {"cpu": "100m", "memory": "64Mi"}})


class Database(Component):
    """A hardened StatefulSet with its credentials Secret, Services, NetworkPolicy and (when replicated) PDB."""

    host: pulumi.Output[str]
    secret_name: pulumi.Output[str]
    dsn: pulumi.Output[str]

    def __init__(self, name: str, *, engine: Engine, settings: DatabaseSettings, site: Placement, rotation: int,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:Database", name, opts)
        self.engine = engine
        labels = recommended_labels(engine.name, "database", site.instance, engine.version)
        selector = selector_labels(labels)
        self._meta = Metadata(site.namespace, labels)

        values = self._credentials(name, rotation, site.protect)
        annotations: dict[str, pulumi.Input[str]] = {"archon.io/credentials-rotation": str(rotation)}
        containers = self._containers(settings, annotations)

        meta = self._meta.named
        self.service = cluster_service(f"{name}-service", meta(engine.name), selector, service_ports(containers),
                                       self.child)
        self.statefulset, self.headless = stateful_set(
            name, engine.name, self._meta, selector, replicas=settings.replicas,
            pod={"labels": labels, "annotations": annotations, "containers": containers, "run_as": engine.run_as,
                 "termination_grace_period_seconds": engine.termination_grace_period_seconds},
            storage=settings.storage, claim_labels=selector, protect=site.protect, opts=self.child,
            timeouts=w.rollout_timeouts(engine.probes))

        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress", metadata=meta(engine.name), spec=site.traffic.policy(engine.name, selector),
            opts=self.child)
        if settings.replicas > 1:
            self.pdb = k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb", metadata=meta(engine.name),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)),
                opts=self.child)

        self.host = pulumi.Output.concat(self.service.metadata.name, ".", site.namespace, ".svc.cluster.local")
        self.port = engine.port
        self.dsn = pulumi.Output.secret(_dsn(engine, self.host, values))
        self.register_outputs({"host": self.host, "port": self.port, "secretName": self.secret_name,
                               "secretKeys": self.secret_keys, "dsn": self.dsn})

    def _credentials(self, name: str, rotation: int, protect: bool) -> dict[str, pulumi.Input[str]]:
        """The generated passwords (new ones on a rotation bump) and the credentials Secret that holds them."""
        engine = self.engine
        keep = self.options(protect=protect)
        generated = {key: generated_password(f"{name}-{key}", keep, keepers={"rotation": str(rotation)}).result
                     for key in engine.generated}
        values: dict[str, pulumi.Input[str]] = {**engine.fixed, **generated}
        if engine.key == "redis":
            values["auth.conf"] = generated["password"].apply(lambda pw: f"requirepass {pw}\n")
        self.secret = k8s.core.v1.Secret(
            f"{name}-credentials", metadata=self._meta.named(f"{engine.name}-credentials"), type="Opaque",
            string_data=values, opts=self.fixed_name(protect=protect))
        self.secret_name = self.secret.metadata.name
        self.secret_keys = sorted(values)
        # What the credentials are, as a digest its readers put on their pod templates: the Secret keeps its name
        # when its data changes, so without it running pods would keep the old password.
        self.checksum = w.digest(values)  # secret, as what it digests: the engine shows it as [secret]
        return values

    def _containers(self, settings: DatabaseSettings, annotations: dict[str, pulumi.Input[str]]) -> list[w.Container]:
        """The engine's container on its volume (with its config files) and its exporter, if it has one."""
        engine, name = self.engine, self.pulumi_resource_name
        meta = self._meta.named
        mounts = [w.Mount(DATA_VOLUME, engine.data_path, read_only=False)]
        credentials = w.secret_volume("credentials", self.secret_name, default_mode=0o440)
        if engine.reads_credential_files:
            mounts.append(w.Mount(credentials, CREDENTIALS_DIR))
        if engine.key == "redis":
            # Not in the (protected) credentials Secret: a memory change must not replace what holds the password.
            conf = _redis_conf(limit_mib(settings, 0.75))
            self.config = k8s.core.v1.ConfigMap(
                f"{name}-config", metadata=meta(f"{engine.name}-config"), data={"redis.conf": conf},
                opts=self.fixed_name())
            mounts.append(w.Mount(w.config_map_volume("config", self.config.metadata.name), REDIS_CONFIG_DIR))
            # The ConfigMap keeps its name when replaced, so the pods roll on its content instead.
            annotations["archon.io/config-checksum"] = w.text_digest(conf)
        if engine.key == "postgres":
            self.init_scripts = k8s.core.v1.ConfigMap(
                f"{name}-init", metadata=meta(f"{engine.name}-init"), data={"01-extensions.sql": _extensions_sql()},
                opts=self.fixed_name())
            mounts.append(w.Mount(w.config_map_volume("initdb", self.init_scripts.metadata.name),
                                  "/docker-entrypoint-initdb.d"))

        containers = [w.Container(
            name=engine.key, image=engine.image, resources=settings.resources, probes=engine.probes,
            ports={engine.port_name: engine.port, **engine.extra_ports},
            command=engine.command, args=engine.args(settings) or None, env=engine.env,
            secret_env={k: w.SecretRef(self.secret_name, v) for k, v in engine.secret_env.items()},
            writable_paths=engine.writable_paths(settings), mounts=mounts)]
        if engine.exporter:
            exporter = engine.exporter
            containers.append(w.Container(
                name=exporter.name, image=exporter.image, resources=EXPORTER_RESOURCES, run_as=exporter.run_as,
                ports={"http-metrics": exporter.port}, env=exporter.env,
                secret_env={k: w.SecretRef(self.secret_name, v) for k, v in exporter.secret_env.items()},
                mounts=[w.Mount(credentials, CREDENTIALS_DIR)] if exporter.reads_credential_files else [],
                probes=w.Probes(readiness=w.Probe(http_path="/", port="http-metrics"),
                                liveness=w.Probe(tcp=True, port="http-metrics"))))
            annotations.update(scrape_annotations(exporter.port))
        return containers


def _redis_conf(maxmemory_mib: int) -> str:
    return (f"bind * -::*\nport 6379\nmaxmemory {maxmemory_mib}mb\nmaxmemory-policy allkeys-lru\ndir /data\n"
            f"appendonly yes\ninclude {CREDENTIALS_DIR}/auth.conf\n")


def _extensions_sql() -> str:
    """The init script: the extensions Archon's schema needs, created before any client connects."""
    return "".join(f"CREATE EXTENSION IF NOT EXISTS {name};\n" for name in POSTGRES_EXTENSIONS)


def _dsn(engine: Engine, host: pulumi.Output[str], values: dict) -> pulumi.Output[str]:
    user, password = values.get("username"), values.get("password") or values.get("api-key")
    database = values.get("database")

    def build(args: list) -> str:
        host_name, secret = args
        auth = f"{user}:{secret}@" if user else (f":{secret}@" if engine.key == "redis" else "")
        path = f"/{database}" if database else ("/0" if engine.key == "redis" else "")
        return f"{engine.scheme}://{auth}{host_name}:{engine.port}{path}"
    return pulumi.Output.all(host, password).apply(build)

