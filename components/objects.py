"""Builders for what every component writes the same way: object metadata, and a Service whose ports are its
containers' named ports under a fixed name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.options import replaced_first
from components.workload import Container

meta = k8s.meta.v1
core = k8s.core.v1


@dataclass(frozen=True)
class Metadata:
    """How one component names and labels its objects: one namespace, one set of labels."""

    namespace: pulumi.Input[str] | None
    labels: Mapping[str, str]

    def named(self, name: str, annotations: Mapping[str, pulumi.Input[str]] | None = None,
              labels: Mapping[str, str] | None = None) -> meta.ObjectMetaArgs:
        """The metadata of an object with a fixed name (the component's labels unless `labels` replaces them)."""
        return meta.ObjectMetaArgs(name=name, namespace=self.namespace, labels=dict(labels or self.labels),
                                   annotations=dict(annotations) if annotations else None)

    def autonamed(self) -> meta.ObjectMetaArgs:
        """The metadata of an object the engine names (a config object: new content, new name, pods roll)."""
        return meta.ObjectMetaArgs(namespace=self.namespace, labels=dict(self.labels))


def service_ports(containers: Sequence[Container], only: Sequence[str] | None = None,
                  at: Mapping[str, int] | None = None) -> list[core.ServicePortArgs]:
    """The containers' named ports as Service ports, targeting them by name (`only` some; `at` another number)."""
    at = at or {}
    return [core.ServicePortArgs(name=name, port=at.get(name, number), target_port=name, protocol="TCP")
            for container in containers for name, number in container.ports.items() if only is None or name in only]


def cluster_service(resource: str, metadata: meta.ObjectMetaArgs, selector: Mapping[str, str],
                    ports: list[core.ServicePortArgs], opts: pulumi.ResourceOptions, *,
                    headless: bool = False) -> core.Service:
    """A ClusterIP Service (headless: every pod's address, ready or not, for a StatefulSet's stable names). Its
    name is fixed, so a replacement deletes the old one first."""
    spec = (core.ServiceSpecArgs(cluster_ip="None", publish_not_ready_addresses=True, selector=dict(selector),
                                 ports=ports) if headless
            else core.ServiceSpecArgs(type="ClusterIP", selector=dict(selector), ports=ports))
    return core.Service(resource, metadata=metadata, spec=spec,
                        opts=replaced_first(opts))
