"""IngressController: Traefik from its Helm chart, hardened, as the stack's one public entry point."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.charts import TRAEFIK, release_source
from components.component import Component
from components.namespace_baseline import pod_security_labels
from stackconfig.model import Charts, ControllerSettings, IngressSettings

NONROOT = 65532
LOAD_BALANCER_EXEMPTION = {
    "policy.archon.io/exempt": "no-public-service-types",
    "policy.archon.io/justification": "the ingress controller's Service is the stack's one public entry point; "
                                      "every other Service is ClusterIP behind it",
}


def client_address(settings: ControllerSettings) -> dict:
    """An entry point's trust in what load balancers say about the client: forwarded headers, PROXY protocol."""
    out: dict = {}
    if settings.trusted_proxy_cidrs:
        out["forwardedHeaders"] = {"trustedIPs": list(settings.trusted_proxy_cidrs)}
    if settings.proxy_protocol_cidrs:
        out["proxyProtocol"] = {"trustedIPs": list(settings.proxy_protocol_cidrs)}
    return out


def chart_values(class_name: str, settings: ControllerSettings) -> dict:
    """Non-root with a numeric id, read-only, no capabilities, sized, metrics on, status published for awaits."""
    replicas = settings.replicas
    return {
        "deployment": {"replicas": replicas},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "podDisruptionBudget": {"enabled": replicas > 1, "maxUnavailable": 1},
        "resources": {"requests": settings.resources.requests.model_dump(),
                      "limits": settings.resources.limits.model_dump()},
        "podSecurityContext": w.pod_security(w.RunAs(NONROOT, NONROOT, NONROOT)),
        "securityContext": w.container_security(),
        "ingressClass": {"enabled": True, "isDefaultClass": False, "name": class_name},
        "providers": {"kubernetesCRD": {"enabled": True, "allowCrossNamespace": False},
                      "kubernetesIngress": {"enabled": True, "publishedService": {"enabled": True}}},
        # HTTP -> HTTPS at the entry point (an Ingress with TLS is an HTTPS-only router, so a redirect middleware on
        # it never sees plain HTTP). Priority 1: the one more specific router on web, cert-manager's HTTP-01
        # solver, still answers its challenge.
        "ports": {"web": {"http": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https",
                                                                   "permanent": True, "priority": 1}}},
                          **client_address(settings)},
                  "websecure": {"http": {"tls": {"enabled": True}}, **client_address(settings)}},
        "metrics": {"prometheus": {"entryPoint": "metrics", "addServicesLabels": True, "addRoutersLabels": True}},
        # The chart takes the Service's fields under service.spec (a service.type is ignored without a word).
        "service": {"spec": {"type": settings.service_type,
                             "externalTrafficPolicy": settings.external_traffic_policy},
                    "annotations": dict(LOAD_BALANCER_EXEMPTION)},
        "ingressRoute": {"dashboard": {"enabled": False}},
        "log": {"level": "INFO", "format": "json"},
        # One JSON line per request, with the request id a client or load balancer sent (Traefik passes the header
        # on to the app), so Grafana links a line to every other line of its request (monitoring/grafana.py).
        "accessLog": {"enabled": True, "format": "json",
                      "fields": {"headers": {"defaultMode": "drop",
                                             "names": {"X-Request-Id": "keep", "User-Agent": "keep"}}}},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
    }


class IngressController(Component):
    """Traefik in its own restricted namespace; nothing when an existing ingress class is used."""

    def __init__(self, name: str, *, settings: IngressSettings, charts: Charts,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:IngressController", name, opts)
        install, namespace = settings.install_controller, settings.controller_namespace
        self.release = None
        if install:
            child = self.child
            self.namespace = k8s.core.v1.Namespace(
                f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace,
                                                                         labels=pod_security_labels()),
                opts=child)
            self.release = k8s.helm.v3.Release(  # fixed name, as cert-manager's (its CRDs carry it)
                name, name="traefik", **release_source(TRAEFIK, charts.repository, charts.directory),
                namespace=self.namespace.metadata.name, values=chart_values(settings.class_name, settings.controller),
                atomic=True, cleanup_on_fail=True, timeout=600, opts=child)
        self.register_outputs({"installed": install})
