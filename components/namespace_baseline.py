"""NamespaceBaseline: the namespace every Archon workload lives in, locked down before anything runs."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.component import Component
from components.labels import MANAGED_BY, PART_OF
from components.objects import Metadata
from components.traffic import EVERY_POD, TrafficGraph
from stackconfig.model import LimitRangeSettings, QuotaSettings

# Pod Security Admission profile and the version it is pinned to: the oldest Kubernetes the stack
# is validated against, so a cluster upgrade never tightens or loosens enforcement by surprise.
PSA_LEVEL = "restricted"
PSA_VERSION = "v1.30"


def pod_security_labels(level: str = PSA_LEVEL, version: str = PSA_VERSION) -> dict[str, str]:
    """Enforce, audit and warn at one level, each pinned to one version."""
    labels = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


def quota_limits(quota: QuotaSettings) -> dict[str, str]:
    """The namespace's hard limits: requests, limits, pods and claims."""
    return {
        "requests.cpu": quota.requests.cpu,
        "requests.memory": quota.requests.memory,
        "requests.storage": quota.requests.storage,
        "limits.cpu": quota.limits.cpu,
        "limits.memory": quota.limits.memory,
        "pods": str(quota.pods),
        "persistentvolumeclaims": str(quota.persistent_volume_claims),
    }


class NamespaceBaseline(Component):
    """Namespace with Pod Security Admission labels, quota, limit range, default-deny and allow-DNS policies."""

    namespace_name: pulumi.Output[str]

    def __init__(self, name: str, *, namespace: str, environment: str, quota: QuotaSettings,
                 limit_range: LimitRangeSettings, protect: bool, traffic: TrafficGraph,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:NamespaceBaseline", name, opts)
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": MANAGED_BY,
                  "archon.io/environment": environment}

        # Deleting a namespace deletes every volume claim in it, so it is protected with the data.
        self.namespace = k8s.core.v1.Namespace(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace, labels={**labels, **pod_security_labels()}),
            # What the component waits for (cert-manager) must outlive the namespace on destroy, for the finalizers
            # it removes.
            opts=self.options(protect=protect, retain_on_delete=protect),
        )
        ns = self.namespace.metadata.name
        # Everything else waits for the Namespace only (the baseline's dependents wait for all of it).
        child = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])

        meta = Metadata(ns, labels).named

        self.quota = k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("archon-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=quota_limits(quota)),
            opts=child,
        )
        self.limit_range = k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("archon-limits"),
            spec=k8s.core.v1.LimitRangeSpecArgs(limits=[k8s.core.v1.LimitRangeItemArgs(
                type="Container",
                default_request={"cpu": limit_range.default_request.cpu, "memory": limit_range.default_request.memory},
                default={"cpu": limit_range.default.cpu, "memory": limit_range.default.memory},
                max={"cpu": limit_range.max.cpu, "memory": limit_range.max.memory},
            )]),
            opts=child,
        )
        self.default_deny = k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta("default-deny-all"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]),
            opts=child,
        )
        self.allow_dns = k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=meta("allow-dns-egress"),
            spec=traffic.policy(EVERY_POD, types=("Egress",)),
            opts=child,
        )
        self.namespace_name = ns
        self.register_outputs({"namespace": ns})
