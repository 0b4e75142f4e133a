"""Rules over the whole stack: NetworkPolicy coverage, PodDisruptionBudgets, service-account tokens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .pods import Pod, each_pod
from .rule import policy
from .selectors import selects
from .subject import Subject, Violation, unknown
from .values import get, is_unknown

StackViolation = tuple[str, Violation]  # (URN of the resource it is about, violation)
REPLICATED = ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController")


def _namespace(subject: Subject) -> str:
    namespace = subject.namespace
    if isinstance(namespace, str) and namespace:
        return namespace
    return subject.provider_namespace or "default"


def _objects(subjects: Iterable[Subject], kind: str) -> list[Subject]:
    return [s for s in subjects if s.is_kubernetes and s.kind == kind]


def _workloads(subjects: Iterable[Subject]) -> Iterable[tuple[Subject, Pod | None, list[Violation]]]:
    for subject in subjects:
        out: list[Violation] = []
        for pod in each_pod(subject, out):
            yield subject, pod, out
        for violation in out:
            yield subject, None, [violation]


def _policy_types(spec: dict) -> list[str]:
    """policyTypes as Kubernetes defaults them: Ingress always, Egress when egress rules exist."""
    types = spec.get("policyTypes")
    if isinstance(types, list) and types:
        return types
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _is_default_deny(spec: dict) -> bool:
    return (spec.get("podSelector") in ({}, None) and {"Ingress", "Egress"} <= set(_policy_types(spec))
            and not spec.get("ingress") and not spec.get("egress"))


@policy("workloads-have-network-policy", "medium",
        remediation="Add a default-deny NetworkPolicy to the namespace and policies that allow each workload's "
                    "traffic.",
        scope="stack")
def workloads_have_network_policy(subjects: list[Subject], config: dict) -> list[StackViolation]:
    """Every workload's namespace has a default-deny NetworkPolicy and its pods are selected for ingress and egress."""
    policies: dict[str, list[dict]] = {}
    for network_policy in _objects(subjects, "NetworkPolicy"):
        spec = network_policy.props.get("spec")
        policies.setdefault(_namespace(network_policy), []).append(spec if isinstance(spec, dict) else {})
    out: list[StackViolation] = []
    for subject, pod, pending in _workloads(subjects):
        if pod is None:
            out += [(subject.urn, v) for v in pending]
            continue
        namespace = _namespace(subject)
        labels = get(pod.metadata, "labels")
        if is_unknown(labels):
            out.append((subject.urn, unknown(subject.describe(), f"the pod labels at {pod.where}")))
            continue
        specs = policies.get(namespace, [])
        if not any(_is_default_deny(spec) for spec in specs):
            out.append((subject.urn, Violation(
                f"{subject.describe()}: namespace {namespace!r} has no default-deny NetworkPolicy (podSelector: {{}}, "
                "policyTypes [Ingress, Egress], no rules); add one so only allowed traffic reaches the pods")))
        for direction in ("Ingress", "Egress"):
            if not any(direction in _policy_types(spec) and selects(spec.get("podSelector") or {}, labels)
                       for spec in specs):
                out.append((subject.urn, Violation(
                    f"{subject.describe()}: no NetworkPolicy in namespace {namespace!r} selects its pods for "
                    f"{direction}; add one whose podSelector matches {pod.where.rsplit('.', 1)[0]}.metadata.labels")))
    return out


@policy("replicated-workloads-have-pdb", "low",
        remediation="Add a PodDisruptionBudget selecting the pods with maxUnavailable: 1.",
        scope="stack")
def replicated_workloads_have_pdb(subjects: list[Subject], config: dict) -> list[StackViolation]:
    """Workloads with 2+ replicas have a PodDisruptionBudget that allows a disruption.

    Workloads with 2+ replicas have a PodDisruptionBudget that selects their pods and allows a disruption."""
    budgets = _objects(subjects, "PodDisruptionBudget")
    autoscalers = _objects(subjects, "HorizontalPodAutoscaler")
    out: list[StackViolation] = []
    for subject in subjects:
        if not subject.is_kubernetes or subject.kind not in REPLICATED:
            continue
        replicas = _min_replicas(subject, autoscalers)
        if is_unknown(replicas):
            out.append((subject.urn, unknown(subject.describe(), "spec.replicas")))
            continue
        if replicas < 2:
            continue
        labels = get(subject.props, "spec", "template", "metadata", "labels")
        matching = [b for b in budgets if _namespace(b) == _namespace(subject)
                    and selects(get(b.props, "spec", "selector"), labels)]
        if not matching:
            out.append((subject.urn, Violation(
                f"{subject.describe()}: runs {replicas}+ replicas but no PodDisruptionBudget in its namespace selects "
                "its pods; add one with maxUnavailable: 1")))
            continue
        for budget in matching:
            problem = _blocks_disruption(get(budget.props, "spec") or {}, replicas)
            if problem:
                out.append((subject.urn, Violation(
                    f"{subject.describe()}: PodDisruptionBudget {budget.describe()} {problem}, so no node can be "
                    "drained; use maxUnavailable: 1")))
    return out


def _min_replicas(subject: Subject, autoscalers: list[Subject]) -> Any:
    name = get(subject.props, "metadata", "name")
    for hpa in autoscalers:
        target = get(hpa.props, "spec", "scaleTargetRef")
        if (isinstance(target, dict) and target.get("kind") == subject.kind and target.get("name") == name
                and _namespace(hpa) == _namespace(subject)):
            minimum = get(hpa.props, "spec", "minReplicas")
            return 1 if minimum is None else minimum
    replicas = get(subject.props, "spec", "replicas")
    return 1 if replicas is None else replicas


def _blocks_disruption(spec: dict, replicas: int) -> str | None:
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        return "sets maxUnavailable to 0" if max_unavailable in (0, "0%", "0") else None
    if min_available is None:
        return "sets neither minAvailable nor maxUnavailable"
    if min_available == "100%" or (isinstance(min_available, int) and min_available >= replicas):
        return f"requires minAvailable {min_available} of {replicas} replicas"
    return None


@policy("no-service-account-token-automount", "medium",
        remediation="Set automountServiceAccountToken: false on the pod; exempt workloads that use the API, with the "
                    "reason.",
        scope="stack")
def no_service_account_token_automount(subjects: list[Subject], config: dict) -> list[StackViolation]:
    """Pods get no API token unless they talk to the API.

    Pods get no API token: the pod sets automountServiceAccountToken false, or its ServiceAccount does."""
    accounts = {(_namespace(sa), get(sa.props, "metadata", "name")): sa.props.get("automountServiceAccountToken")
                for sa in _objects(subjects, "ServiceAccount")}
    out: list[StackViolation] = []
    for subject, pod, pending in _workloads(subjects):
        if pod is None:
            out += [(subject.urn, v) for v in pending]
            continue
        value = pod.spec.get("automountServiceAccountToken")
        if is_unknown(value):
            out.append((subject.urn, unknown(subject.describe(), f"{pod.where}.automountServiceAccountToken")))
            continue
        if value is False:
            continue
        account = pod.spec.get("serviceAccountName") or pod.spec.get("serviceAccount") or "default"
        if value is None and accounts.get((_namespace(subject), account)) is False:
            continue
        reason = "is true" if value is True else f"is not set and ServiceAccount {account!r} does not turn it off"
        out.append((subject.urn, Violation(
            f"{subject.describe()}: {pod.where}.automountServiceAccountToken {reason}, so every container gets an "
            "API token; set it to false (exempt the workload with a justification if it talks to the API)")))
    return out


TRAEFIK_MIDDLEWARES = "traefik.ingress.kubernetes.io/router.middlewares"
AUTHENTICATING = ("basicAuth", "digestAuth", "forwardAuth", "ipAllowList", "ipWhiteList")  # Traefik middleware kinds
NGINX_AUTH = ("nginx.ingress.kubernetes.io/auth-url", "nginx.ingress.kubernetes.io/auth-type")


@policy("ingress-routes-authenticated", "high",
        remediation="Put an authenticating middleware (basicAuth, forwardAuth to an OIDC proxy, or an ipAllowList) "
                    "in the Ingress's traefik.ingress.kubernetes.io/router.middlewares, e.g. ingress.auth.mode: basic.",
        scope="stack")
def ingress_routes_authenticated(subjects: list[Subject], config: dict) -> list[StackViolation]:
    """Every Ingress route passes an authentication middleware.

    Every Ingress route passes an authenticating middleware of the stack (Traefik basicAuth, digestAuth,
    forwardAuth or ipAllowList; or ingress-nginx's auth-url/auth-type)."""
    authenticating: dict[str, bool] = {}
    for middleware in _objects(subjects, "Middleware"):
        name, spec = get(middleware.props, "metadata", "name"), middleware.props.get("spec")
        if isinstance(name, str) and isinstance(spec, dict):
            authenticating[f"{_namespace(middleware)}-{name}@kubernetescrd"] = any(k in spec for k in AUTHENTICATING)
    out: list[StackViolation] = []
    for ingress in _objects(subjects, "Ingress"):
        annotations = get(ingress.props, "metadata", "annotations")
        if is_unknown(annotations):
            out.append((ingress.urn, unknown(ingress.describe(), "metadata.annotations")))
            continue
        annotations = annotations if isinstance(annotations, dict) else {}
        if any(annotations.get(key) for key in NGINX_AUTH):
            continue
        chain = annotations.get(TRAEFIK_MIDDLEWARES)
        if is_unknown(chain):
            out.append((ingress.urn, unknown(ingress.describe(), f"the {TRAEFIK_MIDDLEWARES} annotation")))
            continue
        refs = [ref.strip() for ref in str(chain or "").split(",") if ref.strip()]
        if any(authenticating.get(ref) for ref in refs):
            continue
        outside = [ref for ref in refs if ref not in authenticating]
        routes = ", ".join(_routes(ingress)) or "its default backend"
        note = (f" ({', '.join(outside)} {'is' if len(outside) == 1 else 'are'} not in the stack, so the rule cannot "
                "see what they do)") if outside else ""
        out.append((ingress.urn, Violation(
            f"{ingress.describe()}: {routes} pass no authenticating middleware{note}; anyone who reaches the host "
            "reaches the service. Add basicAuth, forwardAuth or ipAllowList to its router.middlewares")))
    return out


def _routes(ingress: Subject) -> list[str]:
    """The Ingress's routes as `host/path -> service`."""
    found = []
    rules = get(ingress.props, "spec", "rules")
    for rule in rules if isinstance(rules, list) else []:
        host = rule.get("host") if isinstance(rule, dict) else None
        paths = get(rule, "http", "paths") if isinstance(rule, dict) else None
        for path in paths if isinstance(paths, list) else []:
            service = get(path, "backend", "service", "name") if isinstance(path, dict) else None
            found.append(f"{host or '*'}{path.get('path', '/') if isinstance(path, dict) else '/'} -> {service}")
    return found
