"""Compare a plan with an earlier one: what is created, updated (per field), replaced or deleted, and which
replacements put data at risk. Replacement rules follow pulumi-kubernetes' forceNewProperties (provider diff.go)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Fields whose change makes the provider delete and recreate the object, per type (beyond every kind's
# metadata.name and metadata.namespace). "*" means any input change.
FORCE_NEW: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:StatefulSet": ("spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.selector",
                                       "spec.serviceName", "spec.volumeClaimTemplates"),
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:DaemonSet": ("spec.selector",),
    "kubernetes:batch/v1:Job": ("spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec.accessModes", "spec.selector", "spec.storageClassName",
                                                 "spec.volumeName"),
    "kubernetes:core/v1:Service": ("spec.clusterIP",),
    "kubernetes:core/v1:Secret": ("type", "data", "stringData"),
    "kubernetes:core/v1:ConfigMap": ("data", "binaryData"),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("roleRef",),
    "random:index/randomPassword:RandomPassword": ("*",),
}
IDENTITY = ("metadata.name", "metadata.namespace")
# Replacing these with the fields below loses what they hold (volumes, or a Secret's contents under a new type).
DATA_LOSS: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:StatefulSet": ("spec.volumeClaimTemplates", "spec.selector", "spec.serviceName", *IDENTITY),
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec.accessModes", "spec.selector", "spec.storageClassName",
                                                 "spec.volumeName", *IDENTITY),
    "kubernetes:core/v1:Secret": ("type", *IDENTITY),
}
SECRET_TYPES = ("kubernetes:core/v1:Secret", "random:index/randomPassword:RandomPassword")
SECRET_FIELDS = ("data", "stringData", "result")


class DiffError(Exception):
    """The base plan cannot be read."""


@dataclass
class Change:
    """One resource that differs from the base plan."""

    action: str  # create, update, replace, delete
    urn: str
    type: str
    name: str
    fields: list[dict] = field(default_factory=list)  # {"path", "old", "new"}
    forced_by: list[str] = field(default_factory=list)
    data_loss: bool = False


def load_base(base_dir: Path) -> list[dict]:
    """The resources of an earlier plan, read before anything is written (the base may be the output folder)."""
    path = base_dir / "resources.json"
    if not path.is_file():
        raise DiffError(f"--diff {base_dir}: no resources.json there; pass the output folder of an earlier plan")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DiffError(f"--diff {base_dir}: resources.json is not valid JSON ({exc})") from None


# Provider settings (stack config `kubernetes:<key>: true`) under which these fields update the object in place.
MUTABLE = {"enableSecretMutable": ("kubernetes:core/v1:Secret", ("data", "stringData")),
           "enableConfigMapMutable": ("kubernetes:core/v1:ConfigMap", ("data", "binaryData"))}


def provider_mutable(config: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Type -> fields that update in place, from the default Kubernetes provider's config."""
    return {type_: fields for key, (type_, fields) in MUTABLE.items()
            if str(config.get(f"kubernetes:{key}", "")).lower() == "true"}


def diff(base: list[dict], current: list[dict], mutable: dict[str, tuple[str, ...]] | None = None) -> list[Change]:
    """Every created, updated, replaced and deleted resource, keyed by URN, in the current plan's order; fields
    in `mutable` (provider_mutable) update in place instead of replacing."""
    old = {r["urn"]: r for r in base}
    new = {r["urn"]: r for r in current}
    changes = []
    for urn, res in new.items():
        if urn not in old:
            changes.append(Change("create", urn, res["type"], res["name"]))
            continue
        fields = _changed_fields(old[urn].get("inputs") or {}, res.get("inputs") or {})
        if not fields:
            continue
        in_place = (mutable or {}).get(res["type"], ())
        rules = tuple(r for r in FORCE_NEW.get(res["type"], ()) if r not in in_place)
        rules += IDENTITY if res["type"].startswith("kubernetes:") else ()
        forced = sorted({rule for f in fields for rule in rules if _under(f["path"], rule)})
        risky = [rule for rule in forced if rule in DATA_LOSS.get(res["type"], ())]
        secret = res["type"] in SECRET_TYPES
        shown = [_masked(f) if secret and f["path"].split(".")[0].split("[")[0] in SECRET_FIELDS else f
                 for f in fields]
        changes.append(Change("replace" if forced else "update", urn, res["type"], res["name"], shown, forced,
                              bool(risky)))
    changes += [Change("delete", urn, res["type"], res["name"]) for urn, res in old.items() if urn not in new]
    return changes


def _under(path: str, rule: str) -> bool:
    return rule == "*" or path == rule or path.startswith(rule + ".") or path.startswith(rule + "[")


def _masked(change: dict) -> dict:
    return {"path": change["path"], "old": "[secret]", "new": "[secret]"}


def _changed_fields(old: Any, new: Any, path: str = "") -> list[dict]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append({"path": child, "old": None, "new": new[key]})
            elif key not in new:
                out.append({"path": child, "old": old[key], "new": None})
            else:
                out += _changed_fields(old[key], new[key], child)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [f for i, (a, b) in enumerate(zip(old, new, strict=True)) for f in _changed_fields(a, b, f"{path}[{i}]")]
    return [] if old == new else [{"path": path, "old": old, "new": new}]


def diff_json(base_dir: Path, changes: list[Change]) -> dict:
    """The diff as written to diff.json."""
    summary = {action: sum(c.action == action for c in changes) for action in ("create", "update", "replace",
                                                                                "delete")}
    summary["dataLoss"] = sum(c.data_loss for c in changes)
    return {"base": str(base_dir), "summary": summary,
            "changes": [{"action": c.action, "urn": c.urn, "type": c.type, "name": c.name, "fields": c.fields,
                         "forcedBy": c.forced_by, "dataLoss": c.data_loss} for c in changes]}


def diff_text(base_dir: Path, changes: list[Change]) -> str:
    """The diff for people: one line per resource, changed fields under it, data-loss risks called out."""
    marks = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}
    lines = [f"Changes against {base_dir}:"]
    if not changes:
        lines.append("    no changes")
    for c in changes:
        risk = "  DATA-LOSS RISK" if c.data_loss else ""
        lines.append(f"    {marks[c.action]:<3}{c.type:<60} {c.name:<36} {c.action}{risk}")
        for f in c.fields[:20]:
            forced = " (forces replacement)" if any(_under(f["path"], r) for r in c.forced_by) else ""
            lines.append(f"           {f['path']}: {_short(f['old'])} => {_short(f['new'])}{forced}")
        if len(c.fields) > 20:
            lines.append(f"           … and {len(c.fields) - 20} more fields (diff.json has them all)")
    summary = diff_json(base_dir, changes)["summary"]
    lines.append(f"    {summary['create']} to create, {summary['update']} to update, {summary['replace']} to replace "
                 f"({summary['dataLoss']} putting data at risk), {summary['delete']} to delete")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."
