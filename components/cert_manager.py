"""CertManager: cert-manager from its Helm chart, hardened, and the stack's own ClusterIssuer."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.charts import CERT_MANAGER, release_source
from components.component import Component
from components.namespace_baseline import pod_security_labels
from stackconfig.model import Charts, IngressSettings

NONROOT = 65532  # the distroless nonroot user of every cert-manager image; the chart sets no runAsUser
ACME_SERVERS = {"letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
                "letsencrypt-production": "https://acme-v02.api.letsencrypt.org/directory"}
COMPONENT_RESOURCES = {
    "controller": ({"cpu": "10m", "memory": "64Mi"}, {"cpu": "100m", "memory": "256Mi"}),
    "webhook": ({"cpu": "10m", "memory": "32Mi"}, {"cpu": "100m", "memory": "64Mi"}),
    "cainjector": ({"cpu": "10m", "memory": "64Mi"}, {"cpu": "100m", "memory": "256Mi"}),
    "startupapicheck": ({"cpu": "10m", "memory": "32Mi"}, {"cpu": "100m", "memory": "64Mi"}),
}
POD_SECURITY = w.pod_security(w.RunAs(NONROOT, NONROOT))


def chart_values(replicas: int) -> dict:
    """Every component non-root with a numeric id, read-only, no capabilities, sized; CRDs installed."""
    values: dict = {"crds": {"enabled": True, "keep": True}, "replicaCount": replicas,
                    "podDisruptionBudget": {"enabled": replicas > 1, "maxUnavailable": 1},
                    "prometheus": {"enabled": True},
                    "global": {"leaderElection": {"namespace": "cert-manager"}}}
    for component, (requests, limits) in COMPONENT_RESOURCES.items():
        block = values if component == "controller" else values.setdefault(component, {})
        block["securityContext"] = dict(POD_SECURITY)
        block["containerSecurityContext"] = w.container_security()
        block["resources"] = {"requests": requests, "limits": limits}
        if component in ("webhook", "cainjector"):
            block["replicaCount"] = replicas
            block["podDisruptionBudget"] = {"enabled": replicas > 1, "maxUnavailable": 1}
    return values


def issuer_name(namespace: str, issuer: str) -> str:
    """The stack's ClusterIssuer: named after its namespace, so stacks sharing a cluster (or its existing
    cert-manager) never claim one another's, e.g. archon-staging-letsencrypt-staging."""
    return f"{namespace}-{issuer}"


def solver_pod_template() -> dict:
    """The HTTP-01 solver pods: this block replaces their securityContext, so it repeats all of it."""
    return {"spec": {"securityContext": dict(POD_SECURITY)}}


class CertManager(Component):
    """cert-manager (with its CRDs) in its own restricted namespace when asked, and the stack's ClusterIssuer."""

    def __init__(self, name: str, *, settings: IngressSettings, issuer_object: str, acme_email: str, replicas: int,
                 charts: Charts, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:CertManager", name, opts)
        install, issuer, ingress_class = settings.install_cert_manager, settings.tls_issuer, settings.class_name
        child = self.child
        depends = []
        self.release = None
        if install:
            self.namespace = k8s.core.v1.Namespace(
                f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name="cert-manager",
                                                                         labels=pod_security_labels()),
                opts=child)
            # A fixed release name: the CRDs it keeps on uninstall carry it, and a reinstall under another
            # (autonamed) name would fail Helm's ownership check on them.
            self.release = k8s.helm.v3.Release(
                name, name="cert-manager", **release_source(CERT_MANAGER, charts.repository, charts.directory),
                namespace=self.namespace.metadata.name, values=chart_values(replicas), atomic=True,
                cleanup_on_fail=True, timeout=600, opts=child)
            depends = [self.release]
        # The issuer waits for the release, so its CRD exists before it.
        spec: dict = {"selfSigned": {}}
        if issuer in ACME_SERVERS:
            spec = {"acme": {"server": ACME_SERVERS[issuer], "email": acme_email,
                             "privateKeySecretRef": {"name": f"{issuer_object}-account-key"},
                             "solvers": [{"http01": {"ingress": {"ingressClassName": ingress_class,
                                                                 "podTemplate": solver_pod_template()}}}]}}
        self.issuer = k8s.apiextensions.CustomResource(
            f"{name}-{issuer}", api_version="cert-manager.io/v1", kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=issuer_object), spec=spec,
            opts=self.options(depends_on=depends))
        self.register_outputs({"issuer": issuer_object})
