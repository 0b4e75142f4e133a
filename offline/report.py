"""What the plan prints: a resource tree like `pulumi preview`, outputs, placeholders, policy status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offline.policy_report import table
from offline.policy_step import PolicyOutcome
from offline.project import StackInputs
from offline.recorder import Recording, Registration
from offline.render import ordered

NO_POLICY_PACK = "no policy pack was run: the project has no policies/PulumiPolicy.yaml (use --policy-pack DIR)"


def _flags(res: Registration) -> str:
    opts = res.options
    flags = [name for name, key in (("protected", "protect"), ("retained on delete", "retainOnDelete"),
                                    ("delete before replace", "deleteBeforeReplace")) if opts.get(key)]
    if opts.get("ignoreChanges"):
        flags.append("ignores " + ", ".join(opts["ignoreChanges"]))
    return ", ".join(flags)


def tree_rows(recording: Recording) -> list[tuple[str, str, str]]:
    """(indented type, name, info) per resource, parents before children."""
    resources = ordered(recording)
    by_parent: dict[Any, list[Registration]] = {}
    for res in resources:
        by_parent.setdefault(res.parent, []).append(res)
    rows = []

    def walk(parent: Any, prefix: str) -> None:
        kids = by_parent.get(parent, [])
        for i, res in enumerate(kids):
            last = i == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            rows.append((prefix + branch + res.type, res.name, _flags(res)))
            walk(res.urn, prefix + ("" if parent is None else ("   " if last else "│  ")))
    walk(None, "")
    return rows


def text_report(inputs: StackInputs, recording: Recording, out: Path, manifest_count: int,
                policy: PolicyOutcome | None = None) -> str:
    """The human-readable plan."""
    rows = tree_rows(recording)
    width = max(len(r[0]) for r in rows) + 2
    name_width = max(len(r[1]) for r in rows) + 2
    lines = [f"Previewing update ({inputs.stack}) offline: Pulumi SDK mocks, no CLI, no cluster", "",
             f"     {'Type':<{width}}{'Name':<{name_width}}{'Plan':<8}Info"]
    lines += [f" +   {t:<{width}}{n:<{name_width}}{'create':<8}{info}".rstrip() for t, n, info in rows]
    lines += ["", "Outputs:"]
    secret = recording.secret_outputs
    key_width = max((len(k) for k in recording.outputs), default=0) + 1
    for key, value in sorted(recording.outputs.items()):
        shown = "[secret]" if key in secret else json.dumps(value)
        lines.append(f"    {key:<{key_width}}: {shown}")
    lines += ["", "Resources:", f"    + {len(rows)} to create"]
    if inputs.placeholders:
        lines += ["", "Placeholders (secret config the offline plan cannot read; `pulumi up` needs the real values):"]
        key_width = max(len(p.key) for p in inputs.placeholders) + 2
        lines += [f"    {p.key:<{key_width}}{p.reason}" for p in inputs.placeholders]
    lines += ["", *_policy_lines(policy), ""]
    files = "resources.json, outputs.json, manifests.yaml, manifests/"
    files += ", policy-report.json, policy-report.sarif" if policy else ""
    lines.append(f"Plan written to {out}: {files} ({manifest_count} objects)")
    return "\n".join(lines)


def _policy_lines(policy: PolicyOutcome | None) -> list[str]:
    if policy is None:
        return ["Policies:", f"    {NO_POLICY_PACK}"]
    counts = policy.summary
    head = f"Policies ({policy.info.name} {policy.info.version}, config {policy.config_source}):"
    verdict = (f"    {counts['mandatory']} mandatory violation(s), {counts['advisory']} advisory, "
               f"{counts['exempted']} exempted")
    return [head, *table(policy.items), "", verdict]


def json_report(inputs: StackInputs, recording: Recording, out: Path, manifest_count: int,
                policy: PolicyOutcome | None = None) -> str:
    """The machine-readable plan summary."""
    return json.dumps({
        "stack": inputs.stack,
        "out": str(out),
        "resources": [{"urn": r.urn, "type": r.type, "name": r.name, "plan": "create", "options": r.options}
                      for r in ordered(recording)],
        "summary": {"create": len(recording.resources), "manifests": manifest_count},
        "outputs": {k: ("[secret]" if k in recording.secret_outputs else v)
                    for k, v in sorted(recording.outputs.items())},
        "placeholders": [{"key": p.key, "reason": p.reason} for p in inputs.placeholders],
        "policy": ({"ran": True, "policyPack": {"name": policy.info.name, "version": policy.info.version},
                    "config": policy.config_source, **policy.summary} if policy else
                   {"ran": False, "reason": NO_POLICY_PACK, "mandatory": 0, "advisory": 0, "exempted": 0}),
    }, indent=2)
