"""Grafana with a generated admin password, provisioned datasources and the Archon dashboard; no state to lose."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import workload as w
from components.component import Placement
from components.labels import recommended_labels, selector_labels
from components.monitoring_base import NamespacedComponent
from components.passwords import generated_password
from monitoring import ports
from monitoring.configs import scrape_annotations
from monitoring.grafana import DASHBOARDS_MOUNT, dashboard_provider, dashboards, datasources
from stackconfig.model import GrafanaSettings

GRAFANA_IMAGE, GRAFANA_VERSION = "grafana/grafana:13.2.0", "13.2.0"
GRAFANA_USER = w.RunAs(472, 472, 472)
PROVISIONING = "/etc/grafana/provisioning"


class Grafana(NamespacedComponent):
    """One Grafana replica: its SQLite database is an emptyDir, because every dashboard and datasource is code."""

    def __init__(self, name: str, *, settings: GrafanaSettings, site: Placement, prometheus_url: str, loki_url: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:Grafana", name, site=site, opts=opts)
        labels = recommended_labels("grafana", "monitoring", self.instance, GRAFANA_VERSION)
        # Rotate: `pulumi up --replace` this resource, then restart Grafana; its emptyDir database starts afresh.
        password = generated_password("grafana-admin-password", self.child)
        self.admin_secret = k8s.core.v1.Secret(
            "grafana-admin", metadata=self._meta("archon-grafana-admin", labels), type="Opaque",
            string_data={"admin-user": "admin", "admin-password": password.result},
            opts=self.fixed_name())
        provisioning = k8s.core.v1.ConfigMap(
            "archon-grafana-provisioning", metadata=self._autonamed(labels),
            data={"datasources.yaml": yaml.safe_dump(datasources(prometheus_url, loki_url), sort_keys=False),
                  "dashboards.yaml": yaml.safe_dump(dashboard_provider(), sort_keys=False)}, opts=self.child)
        boards = k8s.core.v1.ConfigMap("archon-grafana-dashboards", metadata=self._autonamed(labels),
                                       data=dashboards(), opts=self.child)
        secret = self.admin_secret.metadata.name
        provisioned = w.config_map_volume("provisioning", provisioning.metadata.name)
        container = w.Container(
            name="grafana", image=GRAFANA_IMAGE, resources=settings.resources, ports={"http": ports.GRAFANA},
            env={"GF_PATHS_DATA": "/var/lib/grafana", "GF_PATHS_PROVISIONING": PROVISIONING,
                 "GF_UNIFIED_STORAGE_INDEX_PATH": "/var/lib/grafana-search", "GF_LOG_MODE": "console",
                 "GF_ANALYTICS_REPORTING_ENABLED": "false", "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
                 "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false", "GF_USERS_ALLOW_SIGN_UP": "false",
                 "GF_AUTH_ANONYMOUS_ENABLED": "false", "GF_PLUGINS_PREINSTALL_DISABLED": "true"},
            secret_env={"GF_SECURITY_ADMIN_USER": w.SecretRef(secret, "admin-user"),
                        "GF_SECURITY_ADMIN_PASSWORD": w.SecretRef(secret, "admin-password")},
            probes=w.Probes(readiness=w.Probe(http_path="/api/health", period_seconds=10),
                            liveness=w.Probe(tcp=True, initial_delay_seconds=60, failure_threshold=10)),
            writable_paths=[w.WritablePath("/tmp", "64Mi"), w.WritablePath("/var/lib/grafana", "512Mi"),
                            w.WritablePath("/var/lib/grafana-search", "256Mi")],
            mounts=[w.Mount(provisioned, f"{PROVISIONING}/datasources/archon.yaml", sub_path="datasources.yaml"),
                    w.Mount(provisioned, f"{PROVISIONING}/dashboards/archon.yaml", sub_path="dashboards.yaml"),
                    w.Mount(w.config_map_volume("dashboards", boards.metadata.name), DASHBOARDS_MOUNT)])
        k8s.apps.v1.Deployment("grafana", metadata=self._meta("archon-grafana", labels, w.controller_annotations()),
                               spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(labels)),
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1)),
            template=w.pod_template(labels=labels, annotations=scrape_annotations(ports.GRAFANA),
                                    containers=[container],
                                    run_as=GRAFANA_USER)),
            opts=self.child)
        self._service("grafana-service", "archon-grafana", labels, container)
        self._policy("grafana-traffic", "archon-grafana", labels)
        self.url = f"http://archon-grafana.{self.namespace}.svc:{ports.GRAFANA}"
        self.register_outputs({"url": self.url, "adminSecret": secret})
