"""Application: the Archon services from the catalog, wired to the data layer, with their images and secrets."""

from __future__ import annotations

import base64
import json

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.component import Component, Placement
from components.data_api import URL as DATA_API_URL
from components.data_api import DataApi, rest_proxy
from components.database import Database
from components.images import DOCKER_DIR, AppImages
from components.labels import recommended_labels
from components.objects import Metadata
from components.service import Service, ServicePod
from components.service_catalog import SERVICES, AppService, SecretRef, Wiring
from components.supabase import SupabaseConnection
from stackconfig.model import StackConfig


def docker_config(server: str, username: str, password: str) -> str:
    """A kubernetes.io/dockerconfigjson document for one registry login."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password, "auth": auth}}})


class Application(Component):
    """The app Secret, the frontend's nginx config, the images, the data API (bundled PostgreSQL), and one Service
    per enabled catalog entry."""

    def __init__(self, name: str, *, cfg: StackConfig, site: Placement, databases: dict[str, Database],
                 supabase: SupabaseConnection | None, openai_api_key: pulumi.Input[str],
                 registry_password: pulumi.Input[str] | None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:Application", name, opts)
        meta = Metadata(site.namespace, recommended_labels("archon", "app", site.instance, cfg.images.tag)).named
        enabled = [spec for spec in SERVICES if spec.key in cfg.enabled_services()]

        self.secret = k8s.core.v1.Secret(
            f"{name}-secrets", metadata=meta("archon-app-secrets"),
            type="Opaque", string_data={"openai-api-key": openai_api_key}, opts=self.fixed_name())
        self.nginx_conf = (DOCKER_DIR / "frontend" / "default.conf").read_text()
        self.nginx = k8s.core.v1.ConfigMap(
            f"{name}-nginx", metadata=meta("archon-frontend-nginx"),
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
                f"{name}-registry", metadata=meta("archon-registry"), type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": login}, opts=self.fixed_name())
            pull_secrets.append(self.registry_secret.metadata.name)
        wiring, checksums = self._data_layer(name, cfg, site, databases, supabase, pull_secrets)
        # The Secrets and the nginx config keep their names when their data changes; these digests on the pod
        # templates roll the pods that read them (a new API key, rotated credentials, a new nginx config).
        secrets_checksum = w.digest({"openai-api-key": openai_api_key, **checksums})
        self.services = {spec.key: self._service(f"{name}-{spec.key}", spec, cfg, site, wiring, secrets_checksum,
                                                 pull_secrets, data_api=supabase is None)
                         for spec in enabled}
        self.register_outputs({"services": {key: svc.service.metadata.name for key, svc in self.services.items()}})

    def _data_layer(self, name: str, cfg: StackConfig, site: Placement, databases: dict[str, Database],
                    supabase: SupabaseConnection | None, pull_secrets: list[pulumi.Input[str]],
                    ) -> tuple[Wiring, dict[str, pulumi.Input[str]]]:
        """The Supabase API the app talks to (the data API in front of the bundled PostgreSQL, or Supabase's), and
        how the services are wired to it and to the data stores; with the digests of the credentials they read."""
        checksums: dict[str, pulumi.Input[str]] = {key: db.checksum for key, db in databases.items()}
        if supabase is None:  # the bundled PostgreSQL, behind the Supabase API the app talks to
            self.data_api = DataApi(
                f"{name}-data-api", settings=cfg.databases.data_api, site=site, postgres=databases["postgres"],
                schema_image=self.images.refs["server"], rotation=cfg.databases.credentials_rotation,
                pull_secrets=pull_secrets, opts=self.child)
            supabase_url: pulumi.Input[str] | SecretRef = DATA_API_URL
            supabase_key = SecretRef(self.data_api.secret_name, "service-key")
            checksums["data-api"] = self.data_api.checksum
        else:
            supabase_url = SecretRef(supabase.secret_name, "SUPABASE_URL")
            supabase_key = SecretRef(supabase.secret_name, "SUPABASE_SERVICE_KEY")
            checksums["supabase"] = supabase.checksum
        wiring = Wiring(app_secret=self.secret.metadata.name, domain=cfg.domain, supabase_url=supabase_url,
                        supabase_key=supabase_key, log_level=cfg.log_level,
                        databases={key: (db.host, db.port, db.secret_name) for key, db in databases.items()})
        return wiring, checksums

    def _service(self, resource: str, spec: AppService, cfg: StackConfig, site: Placement, wiring: Wiring,
                 secrets_checksum: pulumi.Input[str], pull_secrets: list[pulumi.Input[str]], *,
                 data_api: bool) -> Service:
        """One catalog entry as a Service: the frontend with its nginx config, readers of the data API with the
        sidecar that reaches it."""
        frontend = spec.key == "frontend"
        mounts = ([w.Mount(w.config_map_volume("nginx-config", self.nginx.metadata.name), "/etc/nginx/conf.d")]
                  if frontend else [])
        config_checksum = {"archon.io/config-checksum": w.text_digest(self.nginx_conf)} if frontend else {}
        sidecars, init = [], []
        image = self.images.refs[spec.key]
        if spec.reads_data_api and data_api:  # the data API in the cluster, through the sidecar
            sidecars.append(rest_proxy(self.data_api.proxy_config.metadata.name,
                                       cfg.databases.data_api.proxy_resources))
            config_checksum = {"archon.io/config-checksum": w.text_digest(self.data_api.proxy_conf)}
            if spec.needs_data_api_to_start:
                init.append(self.data_api.wait_container(image, cfg.images.pull_policy,
                                                         cfg.databases.data_api.proxy_resources))
        pod = ServicePod(image=image, pull_policy=cfg.images.pull_policy, version=cfg.images.tag,
                         env=spec.env(wiring), secret_env=spec.secret_env(wiring), mounts=mounts, sidecars=sidecars,
                         init_containers=init,
                         annotations={"archon.io/secrets-checksum": secrets_checksum, **config_checksum},
                         pull_secrets=pull_secrets)
        return Service(resource, spec=spec, settings=getattr(cfg.services, spec.key), pod=pod, site=site,
                       spread=cfg.environment == "production", opts=self.child)
