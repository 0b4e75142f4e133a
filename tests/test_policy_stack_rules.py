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
