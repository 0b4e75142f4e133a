"""The StatefulSet with its volume: ordered rolling updates, one claim per pod that outlives the pod, and the
Service that gives the pods their stable names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.objects import Metadata, cluster_service, service_ports
from components.options import replaced_first
from stackconfig.model import Storage

DATA = "data"  # the claim template, and the volume the pods mount it as
DATA_VOLUME = w.claim_template(DATA)


def stateful_set(resource: str, name: str, meta: Metadata, selector: Mapping[str, str], *, replicas: int,
                 pod: Mapping[str, Any], storage: Storage, protect: bool, opts: pulumi.ResourceOptions,
                 service: pulumi.Input[str] | None = None, claim_labels: Mapping[str, str] | None = None,
                 annotations: Mapping[str, str] | None = None,
                 timeouts: pulumi.CustomTimeouts | None = None,
                 ) -> tuple[k8s.apps.v1.StatefulSet, k8s.core.v1.Service | None]:
    """A StatefulSet `name` whose pods mount their claim as volume DATA, and its headless Service `name-headless`
    (ports from the containers) unless `service` names one that exists. `pod` is what w.pod_template takes.

    Claims are kept when the StatefulSet is deleted or scaled down; with `protect`, the StatefulSet too (and a
    replacement, which the claim template or the service name force, deletes it first, keeping the claims)."""
    headless = None
    if service is None:
        containers: Sequence[w.Container] = pod["containers"]
        headless = cluster_service(f"{resource}-headless", meta.named(f"{name}-headless"), selector,
                                   service_ports(containers), opts, headless=True)
        service = headless.metadata.name
    statefulset = k8s.apps.v1.StatefulSet(
        resource, metadata=meta.named(name, w.controller_annotations(annotations)),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            replicas=replicas, service_name=service, pod_management_policy="OrderedReady",
            update_strategy=k8s.apps.v1.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
            persistent_volume_claim_retention_policy=k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                when_deleted="Retain", when_scaled="Retain"),
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
            template=w.pod_template(claim_templates=[DATA], **pod),
            volume_claim_templates=[k8s.core.v1.PersistentVolumeClaimArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(name=DATA, labels=dict(claim_labels) if claim_labels else None),
                spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                    access_modes=["ReadWriteOnce"], storage_class_name=storage.storage_class,
                    resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": storage.size})))]),
        opts=replaced_first(opts, protect=protect, retain_on_delete=protect, custom_timeouts=timeouts))
    return statefulset, headless
