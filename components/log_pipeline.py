"""Logs: Loki single-binary on a volume, and Grafana Alloy shipping the namespace's pod logs via the API."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import workload as w
from components.component import Placement
from components.labels import recommended_labels, selector_labels
from components.monitoring_base import NamespacedComponent, token_exemption
from components.objects import Metadata
from components.stateful import DATA_VOLUME
from monitoring.configs import scrape_annotations
from monitoring.logs import ALLOY_STORAGE, LOKI_DATA, alloy_config, loki_config
from monitoring.ports import ALLOY as ALLOY_PORT
from monitoring.ports import LOKI as LOKI_PORT
from stackconfig.model import MonitoringSettings

LOKI_IMAGE, LOKI_VERSION = "grafana/loki:3.7.6", "3.7.6"
ALLOY_IMAGE, ALLOY_VERSION = "grafana/alloy:v1.18.1", "v1.18.1"
LOKI_USER = w.RunAs(10001, 10001, 10001)
ALLOY_USER = w.RunAs(473, 473, 473)  # the image's `alloy` user; the image itself defaults to root


class LogPipeline(NamespacedComponent):
    """Loki (StatefulSet, retention by the compactor) and one Alloy replica tailing pod logs; no node access."""

    def __init__(self, name: str, *, settings: MonitoringSettings, site: Placement, also_from: list[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:LogPipeline", name, site=site, opts=opts)
        self.loki_url = f"http://archon-loki.{self.namespace}.svc:{LOKI_PORT}"
        self._loki(settings)
        self._alloy(settings, also_from)
        self.register_outputs({"loki": self.loki_url})

    def _loki(self, settings: MonitoringSettings) -> None:
        labels = recommended_labels("loki", "logging", self.instance, LOKI_VERSION)
        config = k8s.core.v1.ConfigMap("archon-loki-config", metadata=self._autonamed(labels), data={
            "config.yaml": yaml.safe_dump(loki_config(settings.loki.retention), sort_keys=False)}, opts=self.child)
        container = w.Container(
            name="loki", image=LOKI_IMAGE, resources=settings.loki.resources, ports={"http": LOKI_PORT},
            args=["-config.file=/etc/loki/config/config.yaml", "-target=all"],
            probes=w.Probes(readiness=w.Probe(http_path="/ready", initial_delay_seconds=15),
                            liveness=w.Probe(http_path="/loki/api/v1/status/buildinfo", period_seconds=30,
                                             failure_threshold=10)),
            writable_paths=[w.WritablePath("/tmp", "64Mi")],
            mounts=[w.Mount(DATA_VOLUME, LOKI_DATA, read_only=False),
                    w.Mount(w.config_map_volume("config", config.metadata.name), "/etc/loki/config")])
        storage = settings.storage.model_copy(update={"size": settings.loki.storage_size})
        self._statefulset("loki", "archon-loki", labels, container, storage, run_as=LOKI_USER,
                          pod_annotations=scrape_annotations(LOKI_PORT))
        self._service("loki-service", "archon-loki", labels, container)
        self._policy("loki-traffic", "archon-loki", labels)

    def _alloy(self, settings: MonitoringSettings, also_from: list[str]) -> None:
        """Alloy, reading pod logs in the stack's namespace and in `also_from` (the ingress controller's, whose
        access log links each request to its lines)."""
        labels = recommended_labels("alloy", "logging", self.instance, ALLOY_VERSION)
        account = k8s.core.v1.ServiceAccount("alloy-account", metadata=self._meta("archon-alloy", labels),
                                             opts=self.child)
        for namespace in [self.namespace, *also_from]:
            suffix = "" if namespace == self.namespace else f"-{namespace}"
            metadata = Metadata(namespace, labels).named("archon-alloy" if not suffix else
                                                         f"archon-alloy-{self.namespace}")
            role = k8s.rbac.v1.Role(f"alloy-role{suffix}", metadata=metadata, rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods/log"], verbs=["get"])],
                opts=self.child)
            k8s.rbac.v1.RoleBinding(
                f"alloy-binding{suffix}", metadata=metadata,
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role",
                                                 name=role.metadata.name),
                subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account.metadata.name,
                                                  namespace=self.namespace)], opts=self.child)
        config = k8s.core.v1.ConfigMap("archon-alloy-config", metadata=self._autonamed(labels), data={
            "config.alloy": alloy_config([self.namespace, *also_from], f"{self.loki_url}/loki/api/v1/push")},
            opts=self.child)
        container = w.Container(
            name="alloy", image=ALLOY_IMAGE, resources=settings.log_shipper.resources, ports={"http": ALLOY_PORT},
            args=["run", "/etc/alloy/config.alloy", f"--storage.path={ALLOY_STORAGE}",
                  f"--server.http.listen-addr=0.0.0.0:{ALLOY_PORT}", "--disable-reporting"],
            probes=w.Probes(readiness=w.Probe(http_path="/-/ready", initial_delay_seconds=10),
                            liveness=w.Probe(tcp=True, period_seconds=30, failure_threshold=5)),
            writable_paths=[w.WritablePath("/tmp", "256Mi")],
            mounts=[w.Mount(w.config_map_volume("config", config.metadata.name), "/etc/alloy")])
        # One replica: without Alloy clustering, a second one would ship every line twice.
        k8s.apps.v1.Deployment("alloy", metadata=self._meta("archon-alloy", labels,
                                                            w.controller_annotations(token_exemption("Grafana Alloy"))),
                               spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(labels)),
            strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
            template=w.pod_template(labels=labels, annotations=scrape_annotations(ALLOY_PORT),
                                    containers=[container], run_as=ALLOY_USER,
                                    service_account_name=account.metadata.name,
                                    automount_service_account_token=True)),
            opts=self.child)
        self._policy("alloy-traffic", "archon-alloy", labels)
