"""Stack rules over several resources: NetworkPolicy coverage, PodDisruptionBudgets, service-account tokens."""

from __future__ import annotations

from policies.archon_policies.catalog import BY_NAME
from tests.policy_helpers import subject
from tests.test_policy_rules import deployment, pod

LABELS = {"app.kubernetes.io/name": "app"}
DENY_ALL = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny", "namespace": "archon"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}


def check(rule: str, *objects: dict) -> list[str]:
    subjects = [subject(obj, name=f"r{i}") for i, obj in enumerate(objects)]
    return [violation.message for _, violation in BY_NAME[rule].check(subjects, {})]


def netpol(spec: dict, name: str = "allow") -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "archon"}, "spec": spec}


def test_default_deny_covers_every_workload():  # E-25
    assert check("workloads-have-network-policy", deployment(pod()["spec"]), DENY_ALL) == []


def test_missing_default_deny_and_uncovered_directions_are_named():
    allow_in = netpol({"podSelector": {"matchLabels": LABELS}, "ingress": [{}]})  # policyTypes omitted: Ingress only
    assert check("workloads-have-network-policy", deployment(pod()["spec"]), allow_in) == [
        "Deployment archon/app: namespace 'archon' has no default-deny NetworkPolicy (podSelector: {}, policyTypes "
        "[Ingress, Egress], no rules); add one so only allowed traffic reaches the pods",
        "Deployment archon/app: no NetworkPolicy in namespace 'archon' selects its pods for Egress; add one whose "
        "podSelector matches spec.template.metadata.labels"]


def test_policies_in_another_namespace_do_not_count():
    other = {**DENY_ALL, "metadata": {"name": "deny", "namespace": "elsewhere"}}
    assert len(check("workloads-have-network-policy", deployment(pod()["spec"]), other)) == 3


def test_match_expressions_select_pods():
    deny = netpol({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    selected = netpol({"podSelector": {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In",
                                                             "values": ["app"]}]}, "policyTypes": ["Egress"],
                       "egress": [{}]})
    assert check("workloads-have-network-policy", deployment(pod()["spec"]), deny, selected) == []


def pdb(spec: dict) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "b", "namespace": "archon"},
            "spec": {"selector": {"matchLabels": LABELS}, **spec}}


def test_single_replica_needs_no_budget_but_two_do():
    assert check("replicated-workloads-have-pdb", deployment(pod()["spec"], replicas=1)) == []
    assert check("replicated-workloads-have-pdb", deployment(pod()["spec"], replicas=2)) == [
        "Deployment archon/app: runs 2+ replicas but no PodDisruptionBudget in its namespace selects its pods; add "
        "one with maxUnavailable: 1"]
    assert check("replicated-workloads-have-pdb", deployment(pod()["spec"], replicas=2),
                 pdb({"maxUnavailable": 1})) == []


def test_budgets_that_block_every_disruption_fail():
    for spec, problem in (({"maxUnavailable": 0}, "sets maxUnavailable to 0"),
                          ({"minAvailable": "100%"}, "requires minAvailable 100% of 3 replicas"),
                          ({"minAvailable": 3}, "requires minAvailable 3 of 3 replicas")):
        found = check("replicated-workloads-have-pdb", deployment(pod()["spec"], replicas=3), pdb(spec))
        assert found == [f"Deployment archon/app: PodDisruptionBudget PodDisruptionBudget archon/b {problem}, so no "
                         "node can be drained; use maxUnavailable: 1"]


def test_an_autoscaler_minimum_counts_as_the_replica_count():
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "h", "namespace": "archon"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "app"}, "minReplicas": 2}}
    assert len(check("replicated-workloads-have-pdb", deployment(pod()["spec"], replicas=1), hpa)) == 1


def test_service_account_token_follows_the_pod_then_the_account():  # E-27
    spec = pod()["spec"]
    assert "is not set and ServiceAccount 'default' does not turn it off" in check(
        "no-service-account-token-automount", deployment(spec))[0]
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "archon"},
               "automountServiceAccountToken": False}
    assert check("no-service-account-token-automount", deployment(spec), account) == []
    assert "is true" in check("no-service-account-token-automount",
                              deployment({**spec, "automountServiceAccountToken": True}), account)[0]
    assert check("no-service-account-token-automount", deployment({**spec, "automountServiceAccountToken": False})) \
        == []


def ingress(middlewares: str | None, paths: tuple[str, ...] = ("/", "/api"), **annotations: str) -> dict:
    notes = dict(annotations)
    if middlewares is not None:
        notes["traefik.ingress.kubernetes.io/router.middlewares"] = middlewares
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "app", "namespace": "archon", "annotations": notes},
            "spec": {"rules": [{"host": "a.example.org", "http": {"paths": [
                {"path": p, "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
                for p in paths]}}]}}


def middleware(name: str, spec: dict) -> dict:
    return {"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
            "metadata": {"name": name, "namespace": "archon"}, "spec": spec}


HEADERS = middleware("headers", {"headers": {"frameDeny": True}})


def test_a_route_behind_basic_forward_or_allow_list_auth_passes():
    for spec in ({"basicAuth": {"secret": "s"}}, {"forwardAuth": {"address": "http://auth/"}},
                 {"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}}):
        assert check("ingress-routes-authenticated", ingress("archon-headers@kubernetescrd,archon-auth@kubernetescrd"),
                     HEADERS, middleware("auth", spec)) == []
    assert check("ingress-routes-authenticated",
                 ingress(None, **{"nginx.ingress.kubernetes.io/auth-url": "https://auth/"})) == []


def test_a_route_without_an_authenticating_middleware_is_named():
    assert check("ingress-routes-authenticated", ingress("archon-headers@kubernetescrd"), HEADERS) == [
        "Ingress archon/app: a.example.org/ -> web, a.example.org/api -> web pass no authenticating middleware; anyone "
        "who reaches the host reaches the service. Add basicAuth, forwardAuth or ipAllowList to its router.middlewares"]


def test_a_middleware_of_another_namespace_or_outside_the_stack_does_not_count():
    elsewhere = {**middleware("auth", {"basicAuth": {"secret": "s"}}), "metadata": {"name": "auth", "namespace": "x"}}
    (message,) = check("ingress-routes-authenticated", ingress("archon-auth@kubernetescrd,sso@file"), elsewhere)
    assert "(archon-auth@kubernetescrd, sso@file are not in the stack, so the rule cannot see what they do)" in message
