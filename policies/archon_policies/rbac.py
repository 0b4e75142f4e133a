"""RBAC rules: what the well-known scanners flag in Roles, ClusterRoles and their bindings (Trivy's KSV-0041 to
KSV-0056, kube-linter's RBAC checks): wildcards, the kubelet's proxy, secrets cluster-wide, escalation verbs, exec into
pods, and bindings to the system groups."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .rule import policy
from .subject import Subject, Violation, unknown
from .values import get, is_unknown

ROLES = ("Role", "ClusterRole")
BINDINGS = ("RoleBinding", "ClusterRoleBinding")
READ = {"get", "list", "watch", "*"}


def _rules(subject: Subject, out: list[Violation]) -> Iterable[tuple[str, set[str], set[str], set[str]]]:
    """Each rule of a Role or ClusterRole as (where, apiGroups, resources, verbs); unknowns reported to `out`."""
    if not subject.is_kubernetes or subject.kind not in ROLES:
        return
    rules = subject.props.get("rules")
    if is_unknown(rules):
        out.append(unknown(subject.describe(), "rules"))
        return
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        where = f"rules[{index}]"
        fields = {key: get(rule, key) if isinstance(rule, dict) else None
                  for key in ("apiGroups", "resources", "verbs")}
        if any(is_unknown(value) for value in fields.values()):
            out.append(unknown(subject.describe(), where))
            continue
        groups, resources, verbs = (set(value) if isinstance(value, list) else set() for value in fields.values())
        yield where, groups, resources, verbs


def _role_check(message: Callable[[str, set[str], set[str], set[str]], str | None]) -> Callable:
    """A check over every rule of a Role or ClusterRole: `message` says what is wrong with one, or None."""
    def check(subject: Subject, config: dict) -> list[Violation]:
        out: list[Violation] = []
        for where, groups, resources, verbs in _rules(subject, out):
            problem = message(subject.kind, groups, resources, verbs)
            if problem:
                out.append(Violation(f"{subject.describe()}: {where} {problem}"))
        return out
    return check


@policy("rbac-no-wildcards", "high",
        remediation="List the API groups, resources and verbs the workload uses instead of '*'.")
def rbac_no_wildcards(subject: Subject, config: dict) -> list[Violation]:
    """Roles name their API groups, resources and verbs: no '*' (Trivy KSV-0044, KSV-0045, KSV-0046)."""
    def problem(kind: str, groups: set[str], resources: set[str], verbs: set[str]) -> str | None:
        wild = [name for name, values in (("apiGroups", groups), ("resources", resources), ("verbs", verbs))
                if "*" in values]
        return f"grants '*' in {', '.join(wild)}, which includes whatever the API adds later" if wild else None
    return _role_check(problem)(subject, config)


@policy("rbac-no-nodes-proxy", "high",
        remediation="Scrape the kubelet directly with nodes/metrics instead of through the API server's node proxy.")
def rbac_no_nodes_proxy(subject: Subject, config: dict) -> list[Violation]:
    """No role reaches the kubelet API through nodes/proxy (Trivy KSV-0047).

    nodes/proxy reaches each kubelet's whole API, exec into any pod on the node included."""
    def problem(kind: str, groups: set[str], resources: set[str], verbs: set[str]) -> str | None:
        if ("" in groups or "*" in groups) and "nodes/proxy" in resources and verbs:
            return ("grants nodes/proxy: the kubelet's whole API on every node, exec into its pods included; "
                    "read kubelet metrics with nodes/metrics instead")
        return None
    return _role_check(problem)(subject, config)


@policy("rbac-no-cluster-wide-secret-read", "high",
        remediation="Read Secrets with a Role in the one namespace that needs them, with resourceNames where "
                    "possible.")
def rbac_no_cluster_wide_secret_read(subject: Subject, config: dict) -> list[Violation]:
    """No ClusterRole reads Secrets (Trivy KSV-0041): a binding would open every namespace's credentials."""
    def problem(kind: str, groups: set[str], resources: set[str], verbs: set[str]) -> str | None:
        if kind == "ClusterRole" and ("" in groups or "*" in groups) and {"secrets", "*"} & resources \
                and verbs & READ:
            return f"lets its holders {'/'.join(sorted(verbs & READ))} Secrets in every namespace"
        return None
    return _role_check(problem)(subject, config)


@policy("rbac-no-escalation-verbs", "high",
        remediation="Drop escalate, bind and impersonate; grant the permissions themselves to whoever needs them.")
def rbac_no_escalation_verbs(subject: Subject, config: dict) -> list[Violation]:
    """No role grants escalate, bind or impersonate (Trivy KSV-0043, KSV-0056): each is a way to more rights."""
    def problem(kind: str, groups: set[str], resources: set[str], verbs: set[str]) -> str | None:
        found = sorted(verbs & {"escalate", "bind", "impersonate"})
        return f"grants {', '.join(found)}, which lets its holders gain rights they were not given" if found else None
    return _role_check(problem)(subject, config)


@policy("rbac-no-pod-exec", "high",
        remediation="Remove pods/exec and pods/attach; debug with ephemeral containers under a separate, audited "
                    "role.")
def rbac_no_pod_exec(subject: Subject, config: dict) -> list[Violation]:
    """No role can exec or attach into pods (Trivy KSV-0053): that runs commands as the pod, with its secrets."""
    def problem(kind: str, groups: set[str], resources: set[str], verbs: set[str]) -> str | None:
        found = sorted(resources & {"pods/exec", "pods/attach"})
        if ("" in groups or "*" in groups) and found and verbs & {"create", "get", "*"}:
            return f"grants {', '.join(found)}: its holders run commands inside the pods, with their credentials"
        return None
    return _role_check(problem)(subject, config)


@policy("rbac-no-system-group-bindings", "high",
        remediation="Bind the role to the ServiceAccount or group that needs it, not to a system: group.")
def rbac_no_system_group_bindings(subject: Subject, config: dict) -> list[Violation]:
    """No binding grants a role to system: groups or anonymous users (everyone, every account, unauthenticated)."""
    if not subject.is_kubernetes or subject.kind not in BINDINGS:
        return []
    subjects = subject.props.get("subjects")
    if is_unknown(subjects):
        return [unknown(subject.describe(), "subjects")]
    out = []
    for index, entry in enumerate(subjects if isinstance(subjects, list) else []):
        kind, name = (get(entry, "kind"), get(entry, "name")) if isinstance(entry, dict) else (None, None)
        if is_unknown(kind) or is_unknown(name):
            out.append(unknown(subject.describe(), f"subjects[{index}]"))
        elif isinstance(name, str) and ((kind == "Group" and name.startswith("system:"))
                                        or (kind == "User" and name == "system:anonymous")):
            out.append(Violation(f"{subject.describe()}: subjects[{index}] is the {kind.lower()} {name!r}, so "
                                 f"{_who(name)} gets the role"))
    return out


def _who(name: str) -> str:
    """Who a system group or user is, in words."""
    known: dict[str, Any] = {"system:authenticated": "every authenticated user and account",
                             "system:unauthenticated": "every anonymous request",
                             "system:anonymous": "every anonymous request",
                             "system:serviceaccounts": "every ServiceAccount of the cluster",
                             "system:masters": "a group that bypasses authorization entirely"}
    if name in known:
        return known[name]
    if name.startswith("system:serviceaccounts:"):
        return f"every ServiceAccount of namespace {name.rsplit(':', 1)[1]!r}"
    return f"every member of {name}"
