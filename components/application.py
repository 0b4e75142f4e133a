"""Application: the Archon services from the catalog, wired to the data layer, with their images and secrets."""

from __future__ import annotations

import base64
import json

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.component import Component
from components.data_api import URL as DATA_API_URL
from components.data_api import DataApi, rest_proxy
from components.database import Database
from components.images import DOCKER_DIR, AppImages
from components.labels import recommended_labels
from components.service import Service
from components.service_catalog import SERVICES, SecretRef, Wiring
from components.supabase import SupabaseConnection
from components.traffic import TrafficGraph
from stackconfig.model import StackConfig


def docker_config(server: str, username: str, password: str) -> str:
    """A kubernetes.io/dockerconfigjson document for one registry login."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password, "auth": auth}}})


class Application(Component):
    """The app Secret, the frontend's nginx config, the images, the data API (bundled PostgreSQL), and one Service
    per enabled catalog entry."""

    def __init__(self, name: str, *, cfg: StackConfig, namespace: pulumi.Input[str], instance: str,
                 databases: dict[str, Database], supabase: SupabaseConnection | None,
                 openai_api_key: pulumi.Input[str], registry_password: pulumi.Input[str] | None,
                 traffic: TrafficGraph, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:Application", name, opts)
        child = self.child
        labels = recommended_labels("archon", "app", instance, cfg.images.tag)
        enabled = [spec for spec in SERVICES if spec.key in cfg.enabled_services()]

        self.secret = k8s.core.v1.Secret(
            f"{name}-secrets", metadata=k8s.meta.v1.ObjectMetaArgs(name="archon-app-secrets", namespace=namespace,
                                                                   labels=labels),
            type="Opaque", string_data={"openai-api-key": openai_api_key}, opts=self.fixed_name())
        self.nginx_conf = (DOCKER_DIR / "frontend" / "default.conf").read_text()
        self.nginx = k8s.core.v1.ConfigMap(
            f"{name}-nginx", metadata=k8s.meta.v1.ObjectMetaArgs(name="archon-frontend-nginx", namespace=namespace,
                                                                 labels=labels),
            data={"default.conf": self.nginx_conf}, opts=self.fixed_name())
        self.images = AppImages(f"{name}-images", images=cfg.images, app_source=cfg.app_source, services=enabled,
                                registry_password=registry_password,
                                # Builds live in no namespace: they start at once, beside the namespace baseline.
                                opts=pulumi.ResourceOptions(parent=self))

        # The registry credentials also pull: a dockerconfigjson Secret on every app ServiceAccount.
        pull_secrets: list[pulumi.Input[str]] = []
        if registry_password is not None:
            login: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.from_input(registry_password).apply(
                lambda password: docker_config(cfg.images.registry.split("/", 1)[0],
                                               cfg.images.registry_username or "", password)))
            self.registry_secret = k8s.core.v1.Secret(
                f"{name}-registry", metadata=k8s.meta.v1.ObjectMetaArgs(name="archon-registry", namespace=namespace,
                                                                        labels=labels),
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": login},
                opts=self.fixed_name())
            pull_secrets.append(self.registry_secret.metadata.name)
        checksums = {key: db.checksum for key, db in databases.items()}
        if supabase is None:  # the bundled PostgreSQL, behind the Supabase API the app talks to
            self.data_api = DataApi(
                f"{name}-data-api", settings=cfg.databases.data_api, postgres=databases["postgres"],
                schema_image=self.images.refs["server"], traffic=traffic, namespace=namespace, instance=instance,
                rotation=cfg.databases.credentials_rotation, protect=cfg.protect_stateful_resources,
                pull_secrets=pull_secrets, opts=child)
            supabase_url: pulumi.Input[str] | SecretRef = DATA_API_URL
            supabase_key = SecretRef(self.data_api.secret_name, "service-key")
            checksums["data-api"] = self.data_api.checksum
        else:
            supabase_url = SecretRef(supabase.secret_name, "SUPABASE_URL")
            supabase_key = SecretRef(supabase.secret_name, "SUPABASE_SERVICE_KEY")
            checksums["supabase"] = supabase.checksum
        wiring = Wiring(app_secret=self.secret.metadata.name, domain=cfg.domain, supabase_url=supabase_url,
                        supabase_key=supabase_key,
                        databases={key: (db.host, db.port, db.secret_name) for key, db in databases.items()})
        # The Secrets and the nginx config keep their names when their data changes; these digests on the pod
        # templates roll the pods that read them (a new API key, rotated credentials, a new nginx config).
        secrets_checksum = w.digest({"openai-api-key": openai_api_key, **checksums})
        nginx_checksum = w.text_digest(self.nginx_conf)
        self.services = {}
        for spec in enabled:
            frontend = spec.key == "frontend"
            mounts = ([w.Mount(w.config_map_volume("nginx-config", self.nginx.metadata.name), "/etc/nginx/conf.d")]
                      if frontend else [])
            config_checksum = {"archon.io/config-checksum": nginx_checksum} if frontend else {}
            sidecars = []
            if spec.reads_data_api and supabase is None:  # the data API in the cluster, through the sidecar
                sidecars.append(rest_proxy(self.data_api.proxy_config.metadata.name,
                                           cfg.databases.data_api.proxy_resources))
                config_checksum = {"archon.io/config-checksum": w.text_digest(self.data_api.proxy_conf)}
            self.services[spec.key] = Service(
                f"{name}-{spec.key}", spec=spec, settings=getattr(cfg.services, spec.key),
                image=self.images.refs[spec.key], pull_policy=cfg.images.pull_policy, namespace=namespace,
                instance=instance, version=cfg.images.tag, env=spec.env(wiring), secret_env=spec.secret_env(wiring),
                spread=cfg.environment == "production", traffic=traffic,
                mounts=mounts, sidecars=sidecars,
                pod_annotations={"archon.io/secrets-checksum": secrets_checksum, **config_checksum},
                pull_secrets=pull_secrets, opts=child)
        self.register_outputs({"services": {key: svc.service.metadata.name for key, svc in self.services.items()}})
