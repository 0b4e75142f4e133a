"""Write the plan: resources.json, outputs.json, manifests/ and manifests.yaml."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from offline.fakes import is_kubernetes_object
from offline.recorder import Recording, Registration

# libyaml's emitter when PyYAML has it (its wheels do): the same safe YAML, several times faster.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
PLAN_FILES = ("resources.json", "outputs.json", "manifests.yaml", "manifests", "policy-report.json",
              "policy-report.sarif", "diff.json")
# The order kubectl/Helm apply kinds in, so manifests.yaml applies cleanly top to bottom.
_KIND_ORDER = ["Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
               "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
               "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
               "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList",
               "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController",
               "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
               "IngressClass", "Ingress", "APIService"]


def clear_plan(out: Path) -> None:
    """Remove an earlier plan's files, so a failed run never leaves a stale plan that looks complete."""
    for name in PLAN_FILES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def ordered(recording: Recording) -> list[Registration]:
    """Resources as a depth-first walk of the parent tree, siblings by type and name (stable across runs)."""
    children: dict[Any, list[Registration]] = {}
    for res in recording.resources:
        children.setdefault(res.parent, []).append(res)
    result: list[Registration] = []

    def walk(parent: Any) -> None:
        for res in sorted(children.get(parent, []), key=lambda r: (r.type, r.name)):
            result.append(res)
            walk(res.urn)
    walk(None)
    return result


def manifests(recording: Recording) -> list[dict]:
    """Every Kubernetes object, in apply order."""
    objects = [r.inputs for r in ordered(recording) if r.custom and is_kubernetes_object(r.type, r.inputs)]

    def key(obj: dict) -> tuple:
        kind = obj["kind"]
        rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
        meta = obj.get("metadata") or {}
        return rank, kind, meta.get("namespace") or "", meta.get("name") or ""
    return sorted(objects, key=key)


def manifest_filename(obj: dict) -> str:
    """`kind-namespace-name.yaml`, lowercase; cluster-scoped objects have no namespace part."""
    meta = obj.get("metadata") or {}
    parts = [obj["kind"].lower(), meta.get("namespace"), meta.get("name")]
    return "-".join(str(p) for p in parts if p) + ".yaml"


def write_plan(out: Path, stack: str, recording: Recording) -> list[Path]:
    """Write every plan file; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    resources = [{
        "urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "custom": r.custom,
        "inputs": r.inputs, "dependencies": r.dependencies, "options": r.options,
    } for r in ordered(recording)]
    written.append(_write_json(out / "resources.json", resources))
    outputs = {k: ("[secret]" if k in recording.secret_outputs else v) for k, v in sorted(recording.outputs.items())}
    written.append(_write_json(out / "outputs.json", outputs))
    objects = manifests(recording)
    folder = out / "manifests"
    folder.mkdir(exist_ok=True)
    for obj in objects:
        path = folder / manifest_filename(obj)
        path.write_text(_yaml(obj))
        written.append(path)
    path = out / "manifests.yaml"
    path.write_text(f"# Stack {stack}: {len(objects)} objects, rendered offline by `python -m offline plan`.\n"
                    + "---\n".join(_yaml(obj) for obj in objects))
    written.append(path)
    return written


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def canonical(obj: dict) -> dict:
    """apiVersion, kind and metadata first, every other key sorted: the same object always reads the same."""
    head = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    return {**head, **{k: v for k, v in sorted(obj.items()) if k not in head}}


def _yaml(obj: dict) -> str:
    return yaml.dump(canonical(_sorted(obj)), Dumper=_DUMPER, sort_keys=False, default_flow_style=False)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
