"""The base of the monitoring components: namespaced objects, Services, NetworkPolicies and StatefulSets."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.component import Component, Placement
from components.labels import selector_labels
from components.objects import Metadata, cluster_service, service_ports
from components.stateful import stateful_set
from components.traffic import APP

NOBODY = w.RunAs(65534, 65534)


def token_exemption(what: str) -> dict[str, str]:
    """Annotations that exempt a workload which reads the Kubernetes API from the no-token rules (ours, checkov's)."""
    reason = f"{what} reads the Kubernetes API with a read-only, least-privilege role and needs its token for that"
    return {"policy.archon.io/exempt": "no-service-account-token-automount",
            "policy.archon.io/justification": reason,
            "checkov.io/skip1": f"CKV_K8S_38={reason}"}


class NamespacedComponent(Component):
    """A ComponentResource whose children live in one namespace and share its helpers."""

    def __init__(self, type_: str, name: str, *, site: Placement, opts: pulumi.ResourceOptions | None = None) -> None:
        # The namespace comes as a plain name (the config builders format it into strings), so the children's
        # order comes from what the component waits for (the namespace baseline), handed down by Component.
        super().__init__(type_, name, opts)
        if not isinstance(site.namespace, str):
            raise TypeError(f"{name}: the monitoring components take the namespace as a plain name")
        self.site, self.namespace, self.instance, self.traffic = site, site.namespace, site.instance, site.traffic

    def _meta(self, object_name: str, labels: dict, annotations: dict | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        return Metadata(self.namespace, labels).named(object_name, annotations)

    def _autonamed(self, labels: dict) -> k8s.meta.v1.ObjectMetaArgs:
        # Config objects are autonamed: a content change replaces them under a new name, which changes the pod
        # template that mounts them, so the workload rolls onto the new config (a fixed name would collide).
        return Metadata(self.namespace, labels).autonamed()

    def _service(self, resource: str, object_name: str, labels: dict, container: w.Container) -> k8s.core.v1.Service:
        """The ClusterIP Service of one app, on its container's `http` port."""
        return cluster_service(resource, self._meta(object_name, labels), selector_labels(labels),
                               service_ports([container], only=("http",)), self.child)

    def _policy(self, resource: str, object_name: str, labels: dict) -> None:
        """The NetworkPolicy of the app these labels name, from the traffic graph."""
        k8s.networking.v1.NetworkPolicy(resource, metadata=self._meta(object_name, labels),
                                        spec=self.traffic.policy(labels[APP], selector_labels(labels)),
                                        opts=self.child)

    def _statefulset(self, resource: str, object_name: str, labels: dict, container: w.Container, storage, *,
                     account: k8s.core.v1.ServiceAccount | None = None,
                     annotations: dict | None = None, run_as: w.RunAs = NOBODY,
                     pod_annotations: dict | None = None) -> None:
        """One replica on its volume, its pod named through a headless Service (`object_name`-headless); the
        ClusterIP Service `_service` makes is what clients use."""
        stateful_set(
            resource, object_name, Metadata(self.namespace, labels), selector_labels(labels), replicas=1,
            pod={"labels": labels, "annotations": pod_annotations, "containers": [container], "run_as": run_as,
                 "service_account_name": account.metadata.name if account else None,
                 "automount_service_account_token": account is not None},
            storage=storage, protect=self.site.protect, opts=self.child, annotations=annotations)
