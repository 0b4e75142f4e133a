"""RBAC rules: what the well-known scanners flag in Roles, ClusterRoles and their bindings (Trivy's KSV-0041 to
KSV-0056, kube-linter's RBAC checks): wildcards, the kubelet's proxy, secrets cluster-wide, escalation verbs, exec into
pods, and bindings to the system groups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .rule import policy
from .subject import Subject, Violation, unknown
from .values import get, is_unknown

ROLES = ("Role", "ClusterRole")
BINDINGS = ("RoleBinding", "ClusterRoleBinding")
READ = {"get", "list", "watch", "*"}
ESCALATION = {"escalate", "bind", "impersonate"}
EXEC = {"pods/exec", "pods/attach"}


@dataclass(frozen=True)
class Grant:
    """One rule of a Role or ClusterRole: what it grants, and on which kind of role."""

    kind: str
    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]

    @property
    def core(self) -> bool:
        """It reaches the core API group (pods, nodes, secrets)."""
        return bool(self.groups & {"", "*"})


def _judge(subject: Subject, problem: Callable[[Grant], str | None]) -> list[Violation]:
    """Every rule of a Role or ClusterRole that `problem` finds wrong, named by its index; unknowns as unknown."""
    if not subject.is_kubernetes or subject.kind not in ROLES:
        return []
    rules = subject.props.get("rules")
    if is_unknown(rules):
        return [unknown(subject.describe(), "rules")]
    out = []
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        fields = [get(rule, key) if isinstance(rule, dict) else None for key in ("apiGroups", "resources", "verbs")]
        if any(is_unknown(value) for value in fields):
            out.append(unknown(subject.describe(), f"rules[{index}]"))
            continue
        grant = Grant(subject.kind, *(frozenset(v) if isinstance(v, list) else frozenset() for v in fields))
        found = problem(grant)
        if found:
            out.append(Violation(f"{subject.describe()}: rules[{index}] {found}"))
    return out


def _wildcards(grant: Grant) -> str | None:
    wild = [name for name, values in (("apiGroups", grant.groups), ("resources", grant.resources),
                                      ("verbs", grant.verbs)) if "*" in values]
    return f"grants '*' in {', '.join(wild)}, which includes whatever the API adds later" if wild else None


@policy("rbac-no-wildcards", "high",
        remediation="List the API groups, resources and verbs the workload uses instead of '*'.")
def rbac_no_wildcards(subject: Subject, config: dict) -> list[Violation]:
    """Roles name their API groups, resources and verbs: no '*' (Trivy KSV-0044, KSV-0045, KSV-0046)."""
    return _judge(subject, _wildcards)


@policy("rbac-no-nodes-proxy", "high",
        remediation="Scrape the kubelet directly with nodes/metrics instead of through the API server's node proxy.")
def rbac_no_nodes_proxy(subject: Subject, config: dict) -> list[Violation]:
    """No role reaches the kubelet API through nodes/proxy (Trivy KSV-0047).

    nodes/proxy reaches each kubelet's whole API, exec into any pod on the node included."""
    return _judge(subject, lambda g: (
        "grants nodes/proxy: the kubelet's whole API on every node, exec into its pods included; read kubelet "
        "metrics with nodes/metrics instead") if g.core and "nodes/proxy" in g.resources and g.verbs else None)


@policy("rbac-no-cluster-wide-secret-read", "high",
        remediation="Read Secrets with a Role in the one namespace that needs them, with resourceNames where "
                    "possible.")
def rbac_no_cluster_wide_secret_read(subject: Subject, config: dict) -> list[Violation]:
    """No ClusterRole reads Secrets (Trivy KSV-0041): a binding would open every namespace's credentials."""
    return _judge(subject, lambda g: (
        f"lets its holders {'/'.join(sorted(g.verbs & READ))} Secrets in every namespace")
        if g.kind == "ClusterRole" and g.core and g.resources & {"secrets", "*"} and g.verbs & READ else None)


@policy("rbac-no-escalation-verbs", "high",
        remediation="Drop escalate, bind and impersonate; grant the permissions themselves to whoever needs them.")
def rbac_no_escalation_verbs(subject: Subject, config: dict) -> list[Violation]:
    """No role grants escalate, bind or impersonate (Trivy KSV-0043, KSV-0056): each is a way to more rights."""
    return _judge(subject, lambda g: (
        f"grants {', '.join(sorted(g.verbs & ESCALATION))}, which lets its holders gain rights they were not given")
        if g.verbs & ESCALATION else None)


@policy("rbac-no-pod-exec", "high",
        remediation="Remove pods/exec and pods/attach; debug with ephemeral containers under a separate, audited "
                    "role.")
def rbac_no_pod_exec(subject: Subject, config: dict) -> list[Violation]:
    """No role can exec or attach into pods (Trivy KSV-0053): that runs commands as the pod, with its secrets."""
    return _judge(subject, lambda g: (
        f"grants {', '.join(sorted(g.resources & EXEC))}: its holders run commands inside the pods, with their "
        "credentials") if g.core and g.resources & EXEC and g.verbs & {"create", "get", "*"} else None)


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
