"""Where pod specs live in any Kubernetes object, and the containers in them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .subject import Subject, Violation, unknown
from .values import UNKNOWN, get, is_unknown

# PSA's DefaultPodSpecExtractor: the kinds that carry a pod spec, and where.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# Kinds that hold no pod spec and need no search (the rest are searched generically).
NO_POD_KINDS = frozenset({
    "Namespace", "Service", "ConfigMap", "Secret", "ServiceAccount", "NetworkPolicy", "ResourceQuota",
    "LimitRange", "PersistentVolumeClaim", "PersistentVolume", "StorageClass", "Role", "RoleBinding",
    "ClusterRole", "ClusterRoleBinding", "Ingress", "IngressClass", "PodDisruptionBudget",
    "HorizontalPodAutoscaler", "CustomResourceDefinition", "Endpoints", "EndpointSlice", "PriorityClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService", "Lease", "Event",
})
# Generic discovery, as Polaris does it: descend through these keys until a map has `containers`.
TEMPLATE_KEYS = ("spec", "template", "jobTemplate")
CONTAINER_SETS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class Pod:
    """A pod spec inside an object: where it is, the spec, and the pod metadata (labels, annotations)."""

    path: tuple[str, ...]
    spec: Any
    metadata: Any

    @cached_property
    def where(self) -> str:
        return ".".join(self.path)

    @property
    def windows(self) -> bool:
        """Windows pods, which the Pod Security Standards exempt from several Linux-only controls."""
        return get(self.spec, "os", "name") == "windows"


@dataclass(frozen=True)
class Container:
    """One container of a pod, with where it sits."""

    pod: Pod
    set: str
    index: int
    data: dict

    @property
    def name(self) -> str:
        name = self.data.get("name")
        return name if isinstance(name, str) else f"#{self.index}"

    @cached_property
    def where(self) -> str:
        return f"container '{self.name}' ({self.pod.where}.{self.set}[{self.index}])"


_found: dict[int, tuple[dict, list[Pod]]] = {}
_found_lock = threading.Lock()


def find_pods(props: dict) -> list[Pod]:
    """Every pod spec in the object (remembered for the last objects: every rule asks about the same one)."""
    hit = _found.get(id(props))
    if hit is not None and hit[0] is props:
        return hit[1]
    pods = _find_pods(props)
    with _found_lock:
        if len(_found) > 4096:
            _found.clear()
        _found[id(props)] = (props, pods)
    return pods


def _find_pods(props: dict) -> list[Pod]:
    """By kind where the kind is known, by generic discovery otherwise."""
    kind = props.get("kind")
    kind = kind if isinstance(kind, str) else None  # a kind of the wrong type is no known kind
    if kind in POD_SPEC_PATHS:
        path = POD_SPEC_PATHS[kind]
        spec = get(props, *path)
        if spec is None:
            return []
        meta_path = (*path[:-1], "metadata") if len(path) > 1 else ("metadata",)
        return [Pod(path, spec, get(props, *meta_path))]
    if kind in NO_POD_KINDS:
        return []
    found: list[Pod] = []
    _discover(props, (), found)
    return found


def _discover(node: Any, path: tuple[str, ...], found: list[Pod], parent: Any = None) -> None:
    if not isinstance(node, dict):
        return
    if "containers" in node and path:
        # Like a pod template: the metadata beside the spec is the pod's.
        metadata = get(parent, "metadata") if path[-1] == "spec" and isinstance(parent, dict) else None
        found.append(Pod(path, node, metadata))
        return
    for key in TEMPLATE_KEYS:
        if key in node:
            _discover(node[key], (*path, key), found, node)


def undiscovered_containers(props: dict, pods: list[Pod]) -> list[str]:
    """Paths of container lists in the object that no discovered pod spec covers."""
    covered = [pod.path for pod in pods]
    paths: list[str] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if any(path[: len(c)] == c for c in covered):
            return
        if isinstance(node, dict):
            for key, value in node.items():
                if key in (*CONTAINER_SETS, "container") and isinstance(value, (list, dict)) and value:
                    paths.append(".".join((*path, key)))
                walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, str(i)))
    if not isinstance(props.get("kind"), str) or props["kind"] not in POD_SPEC_PATHS:
        walk({k: v for k, v in props.items() if k not in ("metadata", "status")}, ())
    return paths


def each_pod(subject: Subject, out: list[Violation]) -> Iterator[Pod]:
    """The subject's pods whose spec is known; an unknown spec is recorded in `out`."""
    if not subject.is_kubernetes:
        return
    for pod in find_pods(subject.props):
        if is_unknown(pod.spec):
            out.append(unknown(subject.describe(), f"the pod spec at {pod.where}"))
        elif isinstance(pod.spec, dict):
            yield pod


def each_container(pod: Pod, out: list[Violation], sets: tuple[str, ...] = CONTAINER_SETS) -> Iterator[Container]:
    """Containers of the given sets whose definition is known; unknown ones are recorded in `out`."""
    for set_name in sets:
        items = pod.spec.get(set_name)
        if is_unknown(items):
            out.append(unknown(pod.where, set_name))
            continue
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if is_unknown(item):
                out.append(unknown(f"{pod.where}.{set_name}[{index}]", "the container"))
            elif isinstance(item, dict):
                yield Container(pod, set_name, index, item)


def each_container_field(subject: Subject, key: str, out: list[Violation]) -> Iterator[tuple[Container, Any]]:
    """(container, its `key`) for every known container of every pod; an unknown value is recorded in `out`."""
    for pod in each_pod(subject, out):
        for c in each_container(pod, out):
            value = c.data.get(key)
            if is_unknown(value):
                out.append(unknown(c.where, key))
            else:
                yield c, value


__all__ = ["CONTAINER_SETS", "POD_SPEC_PATHS", "UNKNOWN", "Container", "Pod", "each_container", "each_pod",
           "find_pods", "undiscovered_containers"]
