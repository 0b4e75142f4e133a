"""What an operator-managed Prometheus scrapes in operator mode: one ServiceMonitor or PodMonitor per target."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScrapeTarget:
    """Pods (or a Service) with app.kubernetes.io/name `app`, scraped on the named port."""

    job: str
    app: str
    port: str
    namespace: str | None = None  # None: the stack's namespace
    service: bool = False  # a ServiceMonitor (through the Service) instead of a PodMonitor


def operator_targets(database_apps: list[str], traefik_namespace: str | None,
                     cert_manager_namespace: str | None) -> list[ScrapeTarget]:
    """The stack's own targets; kubelet, cAdvisor and kube-state-metrics come with the operator's stack."""
    targets = [ScrapeTarget(app, app, "http-metrics") for app in database_apps]
    targets += [ScrapeTarget("grafana", "grafana", "http", service=True),
                ScrapeTarget("loki", "loki", "http", service=True),
                ScrapeTarget("alloy", "alloy", "http")]
    if traefik_namespace:
        targets.append(ScrapeTarget("traefik", "traefik", "metrics", traefik_namespace))
    if cert_manager_namespace:
        targets.append(ScrapeTarget("cert-manager", "cert-manager", "http-metrics", cert_manager_namespace))
    return targets


def monitor_spec(target: ScrapeTarget, stack_namespace: str) -> tuple[str, dict]:
    """The kind (ServiceMonitor or PodMonitor) and spec that make the operator scrape one target."""
    endpoint = {"port": target.port, "path": "/metrics", "interval": "30s"}
    spec = {"jobLabel": "app.kubernetes.io/name",
            "selector": {"matchLabels": {"app.kubernetes.io/name": target.app}},
            "namespaceSelector": {"matchNames": [target.namespace or stack_namespace]}}
    if target.service:
        return "ServiceMonitor", {**spec, "endpoints": [endpoint]}
    return "PodMonitor", {**spec, "podMetricsEndpoints": [endpoint]}
