"""Monitoring: Prometheus (with kube-state-metrics) and Alertmanager for the stack's namespace, hardened."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import workload as w
from components.component import Placement
from components.grafana import Grafana
from components.labels import recommended_labels, selector_labels
from components.log_pipeline import LogPipeline
from components.monitoring_base import NOBODY, NamespacedComponent, token_exemption
from components.stateful import DATA_VOLUME
from monitoring import ports
from monitoring.configs import RULES_DIR, RULES_MOUNT, alertmanager_config, prometheus_config
from monitoring.targets import ScrapeTarget, monitor_spec, operator_targets
from stackconfig.model import ALERTMANAGER_STORAGE, MonitoringSettings, OperatorSettings

PROMETHEUS_IMAGE, PROMETHEUS_VERSION = "prom/prometheus:v3.14.0", "v3.14.0"
ALERTMANAGER_IMAGE, ALERTMANAGER_VERSION = "prom/alertmanager:v0.34.0", "v0.34.0"
KSM_IMAGE, KSM_VERSION = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.19.1", "v2.19.1"
RULES_VERSION = "1"  # the version label of the rule objects; bump when the rule files change meaning
KSM_KINDS = ("pods", "deployments", "statefulsets", "replicasets", "persistentvolumeclaims",
             "horizontalpodautoscalers", "jobs", "cronjobs")


class Monitoring(NamespacedComponent):
    """Prometheus (StatefulSet, least-privilege RBAC, rule files), kube-state-metrics, Alertmanager, Grafana, logs."""

    def __init__(self, name: str, *, settings: MonitoringSettings, site: Placement, traefik_namespace: str | None,
                 cert_manager_namespace: str | None, database_apps: list[str],
                 secrets: Mapping[str, pulumi.Input[str] | None], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:Monitoring", name, site=site, opts=opts)
        namespace = self.namespace
        outputs = {}
        if settings.mode == "bundled":
            alertmanager_host = f"archon-alertmanager.{namespace}.svc:{ports.ALERTMANAGER}"
            self._kube_state_metrics(settings)
            self._prometheus(settings, prometheus_config(namespace, alertmanager_host, traefik_namespace,
                                                                  cert_manager_namespace))
            self._alertmanager(settings, secrets)
            outputs["alertmanager"] = f"http://{alertmanager_host}"
        else:
            self._operator_objects(settings.operator, operator_targets(database_apps, traefik_namespace,
                                                                       cert_manager_namespace))
        prometheus_url = settings.prometheus_url(namespace)
        logs = LogPipeline("logs", settings=settings, site=site,
                           also_from=[traefik_namespace] if traefik_namespace else [], opts=self.child)
        self.grafana = Grafana("grafana", settings=settings.grafana, site=site, prometheus_url=prometheus_url,
                               loki_url=logs.loki_url, opts=self.child)
        self.register_outputs({"prometheus": prometheus_url, "loki": logs.loki_url, "grafana": self.grafana.url,
                               **outputs})

    def _operator_objects(self, operator: OperatorSettings, targets: list[ScrapeTarget]) -> None:
        """ServiceMonitors, PodMonitors and PrometheusRules for an existing Prometheus Operator."""
        labels = {**recommended_labels("archon-monitoring", "monitoring", self.instance, RULES_VERSION),
                  **operator.labels}
        for target in targets:
            kind, spec = monitor_spec(target, self.namespace)
            k8s.apiextensions.CustomResource(
                f"{target.job}-{kind.lower()}", api_version="monitoring.coreos.com/v1", kind=kind,
                metadata=self._meta(f"archon-{target.job.removeprefix('archon-')}", labels), spec=spec,
                opts=self.child)
        for path in sorted(RULES_DIR.glob("*.yaml")):
            k8s.apiextensions.CustomResource(
                f"{path.stem}-rule", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                metadata=self._meta(path.stem, labels), spec=yaml.safe_load(path.read_text()), opts=self.child)

    def _kube_state_metrics(self, settings: MonitoringSettings) -> None:
        labels = recommended_labels("kube-state-metrics", "monitoring", self.instance, KSM_VERSION)
        account = k8s.core.v1.ServiceAccount("kube-state-metrics-account",
                                             metadata=self._meta("archon-kube-state-metrics", labels), opts=self.child)
        role = k8s.rbac.v1.Role("kube-state-metrics-role", metadata=self._meta("archon-kube-state-metrics", labels),
                                rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=["", "apps", "batch", "autoscaling"],
                                                                  resources=list(KSM_KINDS), verbs=["list", "watch"])],
                                opts=self.child)
        k8s.rbac.v1.RoleBinding("kube-state-metrics-binding", metadata=self._meta("archon-kube-state-metrics", labels),
                                role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role",
                                                                 name=role.metadata.name),
                                subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account.metadata.name,
                                                                  namespace=self.namespace)], opts=self.child)
        container = w.Container(
            name="kube-state-metrics", image=KSM_IMAGE, resources=settings.kube_state_metrics_resources,
            ports={"http": ports.KUBE_STATE_METRICS, "telemetry": ports.KUBE_STATE_METRICS_TELEMETRY},
            args=[f"--namespaces={self.namespace}", f"--resources={','.join(KSM_KINDS)}"],
            probes=w.Probes(readiness=w.Probe(http_path="/readyz", port="telemetry"),
                            liveness=w.Probe(http_path="/livez", port="http")))
        k8s.apps.v1.Deployment("kube-state-metrics", metadata=self._meta(
            "archon-kube-state-metrics", labels, w.controller_annotations(token_exemption("kube-state-metrics"))),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(labels)),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1)),
                template=w.pod_template(labels=labels, containers=[container], run_as=NOBODY,
                                        service_account_name=account.metadata.name,
                                        automount_service_account_token=True)),
            opts=self.child)
        self._service("kube-state-metrics-service", "archon-kube-state-metrics", labels, container)
        self._policy("kube-state-metrics-traffic", "archon-kube-state-metrics", labels)

    def _prometheus(self, settings: MonitoringSettings, config: dict) -> None:
        labels = recommended_labels("prometheus", "monitoring", self.instance, PROMETHEUS_VERSION)
        account = k8s.core.v1.ServiceAccount("prometheus-account", metadata=self._meta("archon-prometheus", labels),
                                             opts=self.child)
        cluster_role = k8s.rbac.v1.ClusterRole(
            "prometheus-role", metadata=k8s.meta.v1.ObjectMetaArgs(name=f"archon-prometheus-{self.namespace}",
                                                                   labels=labels),
            rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["nodes", "nodes/metrics"],
                                              verbs=["get", "list", "watch"]),
                   k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods", "services", "endpoints"],
                                              verbs=["get", "list", "watch"]),
                   k8s.rbac.v1.PolicyRuleArgs(api_groups=["discovery.k8s.io"], resources=["endpointslices"],
                                              verbs=["get", "list", "watch"])],
            opts=self.child)
        k8s.rbac.v1.ClusterRoleBinding(
            "prometheus-binding", metadata=k8s.meta.v1.ObjectMetaArgs(name=f"archon-prometheus-{self.namespace}",
                                                                      labels=labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                             name=cluster_role.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account.metadata.name,
                                              namespace=self.namespace)], opts=self.child)
        config_map = k8s.core.v1.ConfigMap("archon-prometheus-config", metadata=self._autonamed(labels),
                                           data={"prometheus.yml": yaml.safe_dump(config, sort_keys=False)},
                                           opts=self.child)
        rules = k8s.core.v1.ConfigMap("archon-prometheus-rules", metadata=self._autonamed(labels),
                                      data={p.name: p.read_text() for p in sorted(RULES_DIR.glob("*.yaml"))},
                                      opts=self.child)
        args = ["--config.file=/etc/prometheus/config/prometheus.yml", "--storage.tsdb.path=/prometheus",
                f"--storage.tsdb.retention.time={settings.retention}", "--web.enable-lifecycle"]
        if settings.retention_size:
            args.append(f"--storage.tsdb.retention.size={settings.retention_size}")
        container = w.Container(
            name="prometheus", image=PROMETHEUS_IMAGE, resources=settings.resources, ports={"http": ports.PROMETHEUS},
            args=args,
            probes=w.Probes(readiness=w.Probe(http_path="/-/ready", initial_delay_seconds=10, period_seconds=5),
                            liveness=w.Probe(http_path="/-/healthy", period_seconds=15, timeout_seconds=10),
                            startup=w.Probe(http_path="/-/ready", period_seconds=5, failure_threshold=120)),
            writable_paths=[w.WritablePath("/tmp", "64Mi")],
            mounts=[w.Mount(DATA_VOLUME, "/prometheus", read_only=False),
                    w.Mount(w.config_map_volume("config", config_map.metadata.name), "/etc/prometheus/config"),
                    w.Mount(w.config_map_volume("rules", rules.metadata.name), RULES_MOUNT)])
        self._statefulset("prometheus", "archon-prometheus", labels, container, settings.storage,
                          account=account, annotations=token_exemption("Prometheus service discovery"))
        self._service("prometheus-service", "archon-prometheus", labels, container)
        self._policy("prometheus-traffic", "archon-prometheus", labels)

    def _alertmanager(self, settings: MonitoringSettings,
                      secrets: Mapping[str, pulumi.Input[str] | None]) -> None:
        labels = recommended_labels("alertmanager", "monitoring", self.instance, ALERTMANAGER_VERSION)
        receivers = settings.receivers
        email = receivers.email

        def render(values: list) -> str:
            slack, pagerduty, smtp_password = values
            email_config = None
            if email:
                email_config = {"to": email.to, "from": email.sender, "smarthost": email.smarthost,
                                "require_tls": True}
                if email.username:
                    email_config |= {"auth_username": email.username, "auth_password": smtp_password or ""}
            return yaml.safe_dump(alertmanager_config(slack, receivers.slack_channel, pagerduty, email_config),
                                  sort_keys=False)
        rendered = pulumi.Output.all(secrets.get("slackWebhookUrl"), secrets.get("pagerdutyRoutingKey"),
                                     secrets.get("alertSmtpPassword")).apply(render)
        # Receiver URLs and keys are secrets, so the whole config is a Secret, never a ConfigMap.
        config = k8s.core.v1.Secret("archon-alertmanager-config", metadata=self._autonamed(labels),
                                    type="Opaque", string_data={"alertmanager.yml": rendered}, opts=self.child)
        container = w.Container(
            name="alertmanager", image=ALERTMANAGER_IMAGE, resources=settings.alertmanager_resources,
            ports={"http": ports.ALERTMANAGER},
            args=["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager",
                  "--cluster.listen-address="],
            probes=w.Probes(readiness=w.Probe(http_path="/-/ready", period_seconds=10),
                            liveness=w.Probe(http_path="/-/healthy", period_seconds=20)),
            writable_paths=[w.WritablePath("/tmp", "16Mi")],
            mounts=[w.Mount(DATA_VOLUME, "/alertmanager", read_only=False),
                    w.Mount(w.secret_volume("config", config.metadata.name, default_mode=0o440), "/etc/alertmanager")])
        storage = settings.storage.model_copy(update={"size": ALERTMANAGER_STORAGE})
        self._statefulset("alertmanager", "archon-alertmanager", labels, container, storage)
        self._service("alertmanager-service", "archon-alertmanager", labels, container)
        self._policy("alertmanager-traffic", "archon-alertmanager", labels)
