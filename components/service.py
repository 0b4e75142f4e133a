"""Service: one Archon service as a zero-downtime Deployment with its Service, account, HPA, PDB and policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.component import Component, Placement
from components.labels import recommended_labels, selector_labels
from components.objects import Metadata, cluster_service, service_ports
from components.service_catalog import AppService
from stackconfig.model import ServiceSettings

REVISION_HISTORY = 5


@dataclass(frozen=True)
class ServicePod:
    """What one service's pods run besides its catalog entry: the image, its env, mounts and sidecars."""

    image: pulumi.Input[str]
    pull_policy: str
    version: str
    env: Mapping[str, pulumi.Input[str]]
    secret_env: Mapping[str, w.SecretRef]
    mounts: Sequence[w.Mount] = ()
    sidecars: Sequence[w.Container] = ()
    init_containers: Sequence[w.Container] = ()
    annotations: Mapping[str, pulumi.Input[str]] | None = None
    pull_secrets: Sequence[pulumi.Input[str]] = ()


def service_probes(spec: AppService) -> w.Probes:
    """Readiness on the ready path, liveness on the live path (or the port), and a startup allowance."""
    return w.Probes(
        readiness=w.Probe(http_path=spec.ready_path, port="http", period_seconds=10, timeout_seconds=3),
        liveness=(w.Probe(http_path=spec.live_path, port="http", period_seconds=20, timeout_seconds=5,
                          failure_threshold=3) if spec.live_path
                  else w.Probe(tcp=True, port="http", period_seconds=20, failure_threshold=3)),
        startup=w.Probe(http_path=spec.ready_path, port="http", period_seconds=5, timeout_seconds=3,
                        failure_threshold=max(1, spec.startup_seconds // 5)))


class Service(Component):
    """Deployment (maxUnavailable 0), ClusterIP Service, ServiceAccount, HPA, PDB and NetworkPolicy for a service."""

    def __init__(self, name: str, *, spec: AppService, settings: ServiceSettings, pod: ServicePod, site: Placement,
                 spread: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:Service", name, opts)
        labels = recommended_labels(spec.name, spec.key, site.instance, pod.version)
        selector = selector_labels(labels)
        scaling = settings.autoscaling
        autoscaled = scaling.enabled and not spec.in_memory_state
        meta = Metadata(site.namespace, labels).named

        # The registry's pull Secret rides on the account, so every pod it runs (and kubectl debug copies) pulls.
        self.account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata=meta(spec.name), automount_service_account_token=False,
            image_pull_secrets=[k8s.core.v1.LocalObjectReferenceArgs(name=n) for n in pod.pull_secrets] or None,
            opts=self.child)
        probes = service_probes(spec)
        container = w.Container(
            name=spec.key, image=pod.image, image_pull_policy=pod.pull_policy, resources=settings.resources,
            probes=probes, ports={"http": spec.container_port}, env=pod.env, secret_env=pod.secret_env,
            writable_paths=spec.writable, mounts=pod.mounts)
        spread_constraints = [k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1, topology_key=key, when_unsatisfiable="ScheduleAnyway",
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector))
            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")] if spread else None
        self.deployment = k8s.apps.v1.Deployment(
            name, metadata=meta(spec.name, w.controller_annotations()),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=None if autoscaled else settings.replicas,  # the HPA owns the count when it runs
                # The controller marks a rollout failed after this; it must outlast the slowest allowed start.
                revision_history_limit=REVISION_HISTORY,
                progress_deadline_seconds=w.rollout_seconds(probes),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate", rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_unavailable=0, max_surge=settings.max_surge)),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=w.pod_template(labels=labels, annotations=pod.annotations,
                                        containers=[container, *pod.sidecars], run_as=spec.run_as,
                                        init_containers=pod.init_containers,
                                        service_account_name=self.account.metadata.name,
                                        topology_spread_constraints=spread_constraints,
                                        termination_grace_period_seconds=30)),
            opts=self.options(custom_timeouts=w.rollout_timeouts(probes)))
        self.service = cluster_service(f"{name}-service", meta(spec.name), selector,
                                       service_ports([container], at={"http": spec.service_port}), self.child)
        self._scaling(name, meta(spec.name), selector, settings, autoscaled)
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-traffic", metadata=meta(spec.name),
            spec=site.traffic.policy(spec.name, selector), opts=self.child)
        self.register_outputs({"service": self.service.metadata.name})

    def _scaling(self, name: str, metadata: k8s.meta.v1.ObjectMetaArgs, selector: Mapping[str, str],
                 settings: ServiceSettings, autoscaled: bool) -> None:
        """The HPA (unless the service keeps state in memory), and a PDB once two pods run."""
        scaling = settings.autoscaling
        if autoscaled:
            self.autoscaler = k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa", metadata=metadata,
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=self.deployment.metadata.name),
                    min_replicas=scaling.min_replicas, max_replicas=scaling.max_replicas,
                    metrics=[_utilization("cpu", scaling.target_cpu_utilization),
                             _utilization("memory", scaling.target_memory_utilization)]),
                opts=self.child)
        if (scaling.min_replicas if autoscaled else settings.replicas) >= 2:
            self.pdb = k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb", metadata=metadata,
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
                    unhealthy_pod_eviction_policy="AlwaysAllow"),
                opts=self.child)


def _utilization(resource: str, percent: int) -> k8s.autoscaling.v2.MetricSpecArgs:
    return k8s.autoscaling.v2.MetricSpecArgs(type="Resource", resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
        name=resource, target=k8s.autoscaling.v2.MetricTargetArgs(type="Utilization", average_utilization=percent)))
