"""Build the Prometheus and Alertmanager configs (plain dicts, rendered to YAML; promtool and amtool check them)."""

from __future__ import annotations

from pathlib import Path

from monitoring import ports

RULES_DIR = Path(__file__).resolve().parent / "rules"
RULES_MOUNT = "/etc/prometheus/rules"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
KUBE_API = {"scheme": "https", "authorization": {"credentials_file": f"{SA_DIR}/token"},
            "tls_config": {"ca_file": f"{SA_DIR}/ca.crt"}}
# Kubelet serving certificates are self-signed on most clusters (not from the cluster CA), as kube-prometheus assumes.
KUBELET = {"scheme": "https", "authorization": {"credentials_file": f"{SA_DIR}/token"},
           "tls_config": {"insecure_skip_verify": True}}


def scrape_annotations(port: int) -> dict[str, str]:
    """Pod annotations that the `kubernetes-pods` job reads: scrape this pod's /metrics on `port`."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port)}


def _pods_in(namespaces: list[str]) -> dict:
    return {"role": "pod", "namespaces": {"names": namespaces}}


def prometheus_config(namespace: str, alertmanager: str, traefik_namespace: str | None,
                      cert_manager_namespace: str | None) -> dict:
    """Scrape jobs: itself, annotated pods and services, kubelet and cAdvisor, kube-state-metrics, Traefik,
    cert-manager; series outside the stack's namespace are dropped where the source is cluster-wide."""
    keep_namespace = [{"source_labels": ["namespace"], "regex": namespace, "action": "keep"}]
    jobs = [
        {"job_name": "prometheus", "static_configs": [{"targets": [f"localhost:{ports.PROMETHEUS}"]}]},
        {"job_name": "kubernetes-pods", "kubernetes_sd_configs": [_pods_in([namespace])],
         "relabel_configs": [
             {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], "regex": "true",
              "action": "keep"},
             {"source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
              "regex": r"([^:]+)(?::\d+)?;(\d+)", "replacement": "$1:$2", "target_label": "__address__"},
             {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "target_label": "job"},
             {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
             {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"}]},
        {"job_name": "kubernetes-services", "kubernetes_sd_configs": [{"role": "endpoints",
                                                                       "namespaces": {"names": [namespace]}}],
         "relabel_configs": [
             {"source_labels": ["__meta_kubernetes_service_annotation_prometheus_io_scrape"], "regex": "true",
              "action": "keep"},
             {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job"},
             {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"}]},
        # The kubelets themselves, with the token (nodes/metrics), as kube-prometheus scrapes them: through the API
        # server's node proxy it would need nodes/proxy, which reaches every kubelet's whole API (exec included).
        {"job_name": "kubelet", **KUBELET, "kubernetes_sd_configs": [{"role": "node"}],
         "metric_relabel_configs": [{"source_labels": ["__name__"], "regex": "kubelet_volume_stats_.+",
                                     "action": "keep"}, *keep_namespace]},
        {"job_name": "cadvisor", **KUBELET, "metrics_path": "/metrics/cadvisor",
         "kubernetes_sd_configs": [{"role": "node"}],
         "metric_relabel_configs": [
             {"source_labels": ["__name__"],
              "regex": "container_(cpu_usage_seconds_total|memory_working_set_bytes)", "action": "keep"},
             *keep_namespace]},
        {"job_name": "kube-state-metrics",
         "static_configs": [{"targets": [f"archon-kube-state-metrics.{namespace}.svc:{ports.KUBE_STATE_METRICS}"]}]},
    ]
    for job, ns, app, port in (("traefik", traefik_namespace, "traefik", ports.TRAEFIK_METRICS),
                               ("cert-manager", cert_manager_namespace, "cert-manager", ports.CERT_MANAGER_METRICS)):
        if ns:
            jobs.append({"job_name": job, "kubernetes_sd_configs": [_pods_in([ns])], "relabel_configs": [
                {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "regex": app,
                 "action": "keep"},
                {"source_labels": ["__address__"], "regex": r"([^:]+)(?::\d+)?", "replacement": f"$1:{port}",
                 "target_label": "__address__"}]})
    return {"global": {"scrape_interval": "30s", "evaluation_interval": "30s",
                       "external_labels": {"stack_namespace": namespace}},
            "rule_files": [f"{RULES_MOUNT}/*.yaml"],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
            "scrape_configs": jobs}


def alertmanager_config(slack_webhook: str | None, slack_channel: str | None, pagerduty_key: str | None,
                        email: dict | None) -> dict:
    """Routes by severity to the configured receivers; a down service silences its own error and latency alerts."""
    receivers: list[dict] = [{"name": "null"}]
    critical, warning = [], []
    if slack_webhook:
        receivers.append({"name": "slack", "slack_configs": [{
            "api_url": slack_webhook, "channel": slack_channel or "#alerts", "send_resolved": True,
            "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}',
            "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n{{ end }}"}]})
        critical.append("slack")
        warning.append("slack")
    if pagerduty_key:
        receivers.append({"name": "pagerduty", "pagerduty_configs": [{"routing_key": pagerduty_key,
                                                                     "send_resolved": True}]})
        critical.insert(0, "pagerduty")
    if email:
        receivers.append({"name": "email", "email_configs": [{**email, "send_resolved": True}]})
        warning.append("email")
        critical.append("email")
    routes = []
    for severity, targets in (("critical", critical), ("warning", warning)):
        for index, target in enumerate(targets):
            routes.append({"receiver": target, "matchers": [f'severity="{severity}"'],
                           "continue": index < len(targets) - 1})
    return {
        "route": {"receiver": "null", "group_by": ["alertname", "service", "namespace"], "group_wait": "30s",
                  "group_interval": "5m", "repeat_interval": "4h", "routes": routes},
        "inhibit_rules": [{"source_matchers": ['alertname="ArchonServiceDown"'],
                           "target_matchers": ['alertname=~"ArchonHighErrorRate|ArchonHighLatency"'],
                           "equal": ["deployment"]}],
        "receivers": receivers,
    }


# Which metric names each scrape job provides (beyond `up`), so dashboards and rules can be checked against the
# jobs that are actually configured. Jobs that keep only some metrics (kubelet, cadvisor) are read from their
# metric_relabel_configs instead.
JOB_METRICS = {
    "prometheus": r"prometheus_.+",
    "kube-state-metrics": r"kube_.+",
    "traefik": r"traefik_.+",
    "cert-manager": r"certmanager_.+",
    # Pods and services annotated prometheus.io/scrape: the database exporters and the monitoring tools.
    "kubernetes-pods": r"(pg|redis|loki|alloy|grafana)_.+",
    "kubernetes-services": r"(pg|redis|loki|alloy|grafana)_.+",
}
