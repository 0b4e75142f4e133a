"""Application: the Archon services from the catalog, wired to the data layer, with their images and secrets."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.database import Database
from components.images import DOCKER_DIR, AppImages
from components.labels import recommended_labels
from components.options import fixed_name
from components.service import Service
from components.service_catalog import SERVICES, Wiring
from stackconfig.model import StackConfig


class Application(pulumi.ComponentResource):
    """The app Secret, the frontend's nginx config, the images, and one Service per enabled catalog entry."""

    def __init__(self, name: str, *, cfg: StackConfig, namespace: pulumi.Input[str], instance: str,
                 databases: dict[str, Database], supabase_secret: pulumi.Input[str] | None,
                 openai_api_key: pulumi.Input[str], registry_password: pulumi.Input[str] | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:Application", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = recommended_labels("archon", "app", instance, cfg.images.tag)
        enabled = [spec for spec in SERVICES if spec.key in cfg.enabled_services()]

        self.secret = k8s.core.v1.Secret(
            f"{name}-secrets", metadata=k8s.meta.v1.ObjectMetaArgs(name="archon-app-secrets", namespace=namespace,
                                                                   labels=labels),
            type="Opaque", string_data={"openai-api-key": openai_api_key}, opts=fixed_name(self))
        self.nginx_conf = (DOCKER_DIR / "frontend" / "default.conf").read_text()
        self.nginx = k8s.core.v1.ConfigMap(
            f"{name}-nginx", metadata=k8s.meta.v1.ObjectMetaArgs(name="archon-frontend-nginx", namespace=namespace,
                                                                 labels=labels),
            data={"default.conf": self.nginx_conf}, opts=fixed_name(self))
        self.images = AppImages(f"{name}-images", images=cfg.images, app_source=cfg.app_source, services=enabled,
                                registry_password=registry_password, opts=child)

        wiring = Wiring(app_secret=self.secret.metadata.name, domain=cfg.domain, supabase_secret=supabase_secret,
                        databases={key: (db.host, db.port, db.secret_name) for key, db in databases.items()})
        # The Secrets and the nginx config keep their names when their data changes; these digests on the pod
        # templates roll the pods that read them (a new API key, rotated credentials, a new nginx config).
        secrets_checksum = w.digest({"openai-api-key": openai_api_key,
                                     **{key: db.checksum for key, db in databases.items()}})
        nginx_checksum = w.text_digest(self.nginx_conf)
        ports = {spec.name: spec.container_port for spec in enabled}
        ports |= {db.engine.name: db.engine.port for db in databases.values()}
        self.services = {}
        for spec in enabled:
            frontend = spec.key == "frontend"
            self.services[spec.key] = Service(
                f"{name}-{spec.key}", spec=spec, settings=getattr(cfg.services, spec.key),
                image=self.images.refs[spec.key], pull_policy=cfg.images.pull_policy, namespace=namespace,
                instance=instance, version=cfg.images.tag, env=spec.env(wiring), secret_env=spec.secret_env(wiring),
                spread=cfg.environment == "production", ports=ports, network=cfg.network,
                controller_namespace=cfg.ingress.controller_namespace,
                mounts=[w.Mount("nginx-config", "/etc/nginx/conf.d")] if frontend else [],
                volumes=[k8s.core.v1.VolumeArgs(name="nginx-config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                    name=self.nginx.metadata.name))] if frontend else [],
                pod_annotations={"archon.io/secrets-checksum": secrets_checksum,
                                 **({"archon.io/config-checksum": nginx_checksum} if frontend else {})},
                opts=child)
        self.register_outputs({"services": {key: svc.service.metadata.name for key, svc in self.services.items()}})
