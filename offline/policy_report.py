"""Policy results as the plan reports them: findings, the JSON report, SARIF 2.1.0, and a printed table."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from pulumi.runtime.proto import analyzer_pb2

from offline.analyzer import Diagnostic
from offline.recorder import Registration
from offline.render import manifest_filename
from policies.archon_policies.exemptions import ExemptedFinding
from policies.archon_policies.rule import EXEMPTED_FINDINGS

_UNKNOWN = re.compile(r"^can't run policy '(?P<rule>[^']+)' .*? during preview: (?P<message>.*)$", re.S)
SEVERITIES = {0: "", 1: "low", 2: "medium", 3: "high", 4: "critical"}
SECURITY_SEVERITY = {"low": "3.0", "medium": "5.5", "high": "8.0", "critical": "9.5", "": "5.0"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True)
class Finding:
    """One row of the policy report (DESIGN.md, offline engine step 4)."""

    policy: str
    enforcement: str
    severity: str
    urn: str
    type: str
    name: str
    message: str
    exempted: bool
    justification: str


def findings(diagnostics: list[Diagnostic], info: analyzer_pb2.AnalyzerInfo, levels: dict[str, str],
             resources: list[Registration]) -> list[Finding]:
    """Diagnostics as findings; exempted ones carry the rule they were exempted from and the reason."""
    severity = {p.name: SEVERITIES.get(p.severity, "") for p in info.policies}
    by_urn = {r.urn: r for r in resources}
    result = []
    for d in diagnostics:
        policy, message, exempted, why, enforcement = d.policy, d.message, False, "", d.enforcement
        finding = ExemptedFinding.from_report(d.urn, message) if d.policy == EXEMPTED_FINDINGS else None
        if finding:
            policy, message, exempted, why = finding.rule, finding.message, True, finding.justification
            enforcement = levels.get(policy, "advisory")
        unknown = _UNKNOWN.match(message)
        if unknown:
            message = unknown["message"]
        resource = by_urn.get(d.urn)
        result.append(Finding(policy=policy, enforcement=enforcement, severity=severity.get(policy, ""), urn=d.urn,
                              type=resource.type if resource else "", name=resource.name if resource else "",
                              message=message, exempted=exempted, justification=why))
    return sorted(result, key=lambda f: (f.exempted, f.enforcement != "mandatory", f.policy, f.urn, f.message))


def summary(items: list[Finding]) -> dict[str, int]:
    """Counts that decide the exit code: mandatory violations block; exempted ones never do."""
    return {"mandatory": sum(1 for f in items if not f.exempted and f.enforcement == "mandatory"),
            "advisory": sum(1 for f in items if not f.exempted and f.enforcement != "mandatory"),
            "exempted": sum(1 for f in items if f.exempted)}


def json_report(stack: str, info: analyzer_pb2.AnalyzerInfo, items: list[Finding]) -> dict:
    """The JSON report of DESIGN.md."""
    return {"stack": stack, "policyPack": {"name": info.name, "version": info.version},
            "findings": [asdict(f) for f in items], "summary": summary(items)}


def sarif_report(info: analyzer_pb2.AnalyzerInfo, levels: dict[str, str], items: list[Finding],
                 resources: list[Registration], plan_dir: Path, project_dir: Path) -> dict:
    """SARIF 2.1.0: every rule with its help, one result per finding located at the resource's manifest."""
    policies = sorted(info.policies, key=lambda p: p.name)
    index = {p.name: i for i, p in enumerate(policies)}
    rules = [{
        "id": p.name,
        "name": "".join(part.capitalize() for part in p.name.split("-")),
        "shortDescription": {"text": p.description},
        "fullDescription": {"text": p.description},
        "help": {"text": p.remediation_steps or p.description,
                 "markdown": f"**{p.name}**: {p.description}\n\nHow to fix: {p.remediation_steps or p.description}"},
        "defaultConfiguration": {"level": _level(levels.get(p.name, "advisory"))},
        "properties": {"tags": ["security", *p.tags], "precision": "very-high",
                       "security-severity": SECURITY_SEVERITY[SEVERITIES.get(p.severity, "")]},
    } for p in policies]
    by_urn = {r.urn: r for r in resources}
    results = []
    for f in items:
        result: dict[str, object] = {"ruleId": f.policy, "level": _level(f.enforcement), "message": {"text": f.message},
                  "locations": [_location(by_urn.get(f.urn), f, plan_dir, project_dir)]}
        if f.policy in index:
            result["ruleIndex"] = index[f.policy]
        if f.exempted:
            result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.justification}]
        results.append(result)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": info.name, "version": info.version or "0.0.0",
                            "informationUri": "https://www.pulumi.com/docs/insights/policy/", "rules": rules}},
        "results": results,
        "columnKind": "utf16CodeUnits",
    }]}


def _level(enforcement: str) -> str:
    return "error" if enforcement == "mandatory" else "warning"


def _location(resource: Registration | None, finding: Finding, plan_dir: Path, project_dir: Path) -> dict:
    """The manifest file of a Kubernetes object, else the program; the URN as the logical location."""
    path = project_dir / "__main__.py"
    if resource is not None and "kind" in resource.inputs and "apiVersion" in resource.inputs:
        path = plan_dir / "manifests" / manifest_filename(resource.inputs)
    try:
        uri = path.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        uri = path.resolve().as_uri()
    location: dict = {"physicalLocation": {"artifactLocation": {"uri": uri}}}
    if finding.urn:
        location["logicalLocations"] = [{"fullyQualifiedName": finding.urn, "name": finding.name or finding.urn,
                                         "kind": "resource"}]
    return location


def write_reports(out: Path, stack: str, info: analyzer_pb2.AnalyzerInfo, levels: dict[str, str],
                  items: list[Finding], resources: list[Registration], project_dir: Path) -> None:
    """policy-report.json and policy-report.sarif in the plan folder."""
    (out / "policy-report.json").write_text(json.dumps(json_report(stack, info, items), indent=2) + "\n")
    sarif = sarif_report(info, levels, items, resources, out, project_dir)
    (out / "policy-report.sarif").write_text(json.dumps(sarif, indent=2) + "\n")


def table(items: list[Finding]) -> list[str]:
    """Rule, severity, enforcement, resource, then the message indented below."""
    if not items:
        return ["    no findings"]
    rows = []
    for f in items:
        level = f"exempted ({f.enforcement})" if f.exempted else f.enforcement
        rows.append((f.policy, f.severity, level, f"{f.type.rsplit(':', 1)[-1]} {f.name}".strip() or "stack"))
    header = ("Rule", "Severity", "Enforcement")
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(3)]
    lines = [f"    {'Rule':<{widths[0]}}  {'Severity':<{widths[1]}}  {'Enforcement':<{widths[2]}}  Resource"]
    for row, f in zip(rows, items, strict=True):
        lines.append(f"    {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
        lines.append(f"        {f.message}")
        if f.exempted:
            lines.append(f"        justification: {f.justification}")
    return lines
