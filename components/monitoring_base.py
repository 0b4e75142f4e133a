"""The base of the monitoring components: namespaced objects, Services, NetworkPolicies and StatefulSets."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.labels import selector_labels
from components.traffic import APP, TrafficGraph

NOBODY = w.RunAs(65534, 65534)


def token_exemption(what: str) -> dict[str, str]:
    """Annotations that exempt a workload which reads the Kubernetes API from the no-token rules (ours, checkov's)."""
    reason = f"{what} reads the Kubernetes API with a read-only, least-privilege role and needs its token for that"
    return {"policy.archon.io/exempt": "no-service-account-token-automount",
            "policy.archon.io/justification": reason,
            "checkov.io/skip1": f"CKV_K8S_38={reason}"}


class NamespacedComponent(pulumi.ComponentResource):
    """A ComponentResource whose children live in one namespace and share its helpers."""

    def __init__(self, type_: str, name: str, *, namespace: str, instance: str, traffic: TrafficGraph,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_, name, None, opts)
        # The namespace comes as a plain name (the config builders format it into strings), so what the
        # component was told to wait for (the namespace baseline) is handed down to every child: a component's
        # own depends_on does not reach them, and without it they would race the Namespace on up and destroy.
        after = opts.depends_on if opts else None
        self.child = pulumi.ResourceOptions(parent=self, depends_on=after)
        self.namespace, self.instance, self.traffic = namespace, instance, traffic

    def _meta(self, object_name: str, labels: dict, annotations: dict | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=self.namespace, labels=labels,
                                          annotations=annotations)

    def _autonamed(self, labels: dict) -> k8s.meta.v1.ObjectMetaArgs:
        # Config objects are autonamed: a content change replaces them under a new name, which changes the pod
        # template that mounts them, so the workload rolls onto the new config (a fixed name would collide).
        return k8s.meta.v1.ObjectMetaArgs(namespace=self.namespace, labels=labels)

    def _service(self, resource: str, object_name: str, labels: dict, port: int) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(resource, metadata=self._meta(object_name, labels), spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP", selector=selector_labels(labels), ports=[k8s.core.v1.ServicePortArgs(
                name="http", port=port, target_port="http", protocol="TCP")]),
            opts=pulumi.ResourceOptions.merge(self.child, pulumi.ResourceOptions(delete_before_replace=True)))

    def _policy(self, resource: str, object_name: str, labels: dict) -> None:
        """The NetworkPolicy of the app these labels name, from the traffic graph."""
        k8s.networking.v1.NetworkPolicy(resource, metadata=self._meta(object_name, labels),
                                        spec=self.traffic.policy(labels[APP], selector_labels(labels)),
                                        opts=self.child)

    def _statefulset(self, resource: str, object_name: str, labels: dict, container: w.Container, volumes: list,
                     storage, protect: bool, account: k8s.core.v1.ServiceAccount | None = None,
                     annotations: dict | None = None, run_as: w.RunAs = NOBODY,
                     pod_annotations: dict | None = None) -> None:
        k8s.apps.v1.StatefulSet(
            resource, metadata=self._meta(object_name, labels, w.controller_annotations(annotations)),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                replicas=1, service_name=object_name, pod_management_policy="OrderedReady",
                update_strategy=k8s.apps.v1.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
                persistent_volume_claim_retention_policy=k8s.apps.v1.
                StatefulSetPersistentVolumeClaimRetentionPolicyArgs(when_deleted="Retain", when_scaled="Retain"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(labels)),
                template=w.pod_template(labels=labels, annotations=pod_annotations, containers=[container],
                                        run_as=run_as, volumes=volumes, claim_volumes=["data"],
                                        service_account_name=account.metadata.name if account else None,
                                        automount_service_account_token=account is not None),
                volume_claim_templates=[k8s.core.v1.PersistentVolumeClaimArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(name="data"),
                    spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                        access_modes=["ReadWriteOnce"], storage_class_name=storage.storage_class,
                        resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": storage.size})))]),
            opts=pulumi.ResourceOptions.merge(self.child, pulumi.ResourceOptions(
                protect=protect, retain_on_delete=protect, delete_before_replace=True)))
