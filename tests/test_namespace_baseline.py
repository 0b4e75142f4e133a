"""NamespaceBaseline as both stacks render it: PSA labels, quota, limit range, network policies, options."""

from __future__ import annotations

import pytest

from stackconfig import load_stack_config
from tests.conftest import STACKS, plan_with, raw_config
from tests.helpers import find

NAMESPACE = "kubernetes:core/v1:Namespace"


@pytest.mark.parametrize("stack", STACKS)
def test_namespace_enforces_restricted_pod_security_at_a_pinned_version(plans, stack):
    cfg = load_stack_config(stack, raw_config(stack))
    namespaces = {n["metadata"]["name"]: n for n in plans[stack].objects("Namespace")}
    assert set(namespaces) == {cfg.namespace, "traefik", "cert-manager"}
    for other in ("traefik", "cert-manager"):
        assert namespaces[other]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    ns = namespaces[cfg.namespace]
    labels = ns["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.30"
    assert labels["app.kubernetes.io/part-of"] == "archon"
    assert labels["archon.io/environment"] == stack


@pytest.mark.parametrize("stack", STACKS)
def test_quota_and_limit_range_are_sized_from_config(plans, stack):
    cfg = load_stack_config(stack, raw_config(stack))
    (quota,) = plans[stack].objects("ResourceQuota")
    assert quota["spec"]["hard"] == {
        "requests.cpu": cfg.quota.requests.cpu, "requests.memory": cfg.quota.requests.memory,
        "requests.storage": cfg.quota.requests.storage, "limits.cpu": cfg.quota.limits.cpu,
        "limits.memory": cfg.quota.limits.memory, "pods": str(cfg.quota.pods),
        "persistentvolumeclaims": str(cfg.quota.persistent_volume_claims)}
    (limit_range,) = plans[stack].objects("LimitRange")
    (item,) = limit_range["spec"]["limits"]
    lr = cfg.limit_range
    assert item == {"type": "Container",
                    "defaultRequest": {"cpu": lr.default_request.cpu, "memory": lr.default_request.memory},
                    "default": {"cpu": lr.default.cpu, "memory": lr.default.memory},
                    "max": {"cpu": lr.max.cpu, "memory": lr.max.memory}}


def test_staging_and_production_quotas_differ(plans):
    staging, production = (plans[s].objects("ResourceQuota")[0]["spec"]["hard"] for s in STACKS)
    assert staging["limits.memory"] != production["limits.memory"]


@pytest.mark.parametrize("stack", STACKS)
def test_default_deny_isolates_every_pod_both_ways(plans, stack):
    policies = {p["metadata"]["name"]: p["spec"] for p in plans[stack].objects("NetworkPolicy")}
    assert policies["default-deny-all"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


@pytest.mark.parametrize("stack", STACKS)
def test_dns_egress_is_the_only_thing_allowed(plans, stack):
    policies = {p["metadata"]["name"]: p["spec"] for p in plans[stack].objects("NetworkPolicy")}
    namespace_wide = {name for name, spec in policies.items() if spec["podSelector"] == {}}
    assert namespace_wide == {"default-deny-all", "allow-dns-egress"}
    dns = policies["allow-dns-egress"]
    assert dns["policyTypes"] == ["Egress"] and "ingress" not in dns
    (rule,) = dns["egress"]
    assert rule["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}},
                          {"ipBlock": {"cidr": "169.254.20.10/32"}}]  # NodeLocal DNSCache, which no selector matches
    assert rule["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespaced_object_lives_in_the_stack_namespace(plans, stack):
    from policies.archon_policies.platform import CLUSTER_SCOPED

    cfg = load_stack_config(stack, raw_config(stack))
    # The one exception: Alloy's right to read the ingress controller's pod logs, where those pods run.
    elsewhere = {(cfg.ingress.controller_namespace, kind, f"archon-alloy-{cfg.namespace}")
                 for kind in ("Role", "RoleBinding")}
    for obj in plans[stack].manifests:
        if obj["kind"] not in CLUSTER_SCOPED and (obj["metadata"]["namespace"], obj["kind"],
                                                  obj["metadata"]["name"]) not in elsewhere:
            assert obj["metadata"]["namespace"] == cfg.namespace, obj["metadata"]


def test_component_parents_its_children_and_they_wait_for_the_namespace(plans):
    resources = plans["staging"].resources
    (component,) = [r for r in resources if r["type"] == "archon:components:NamespaceBaseline"]
    children = [r for r in resources if r["parent"] == component["urn"]]
    assert sorted(r["type"].split(":")[-1] for r in children) == \
        ["LimitRange", "Namespace", "NetworkPolicy", "NetworkPolicy", "ResourceQuota"]
    ns_urn = next(r["urn"] for r in children if r["type"] == NAMESPACE)
    for child in children:
        if child["type"] != NAMESPACE:
            assert child["dependencies"] == [ns_urn], child["name"]


def test_production_namespace_is_protected_and_retained(plans):
    ns = plans["production"].resource(NAMESPACE, "archon")
    assert ns["options"]["protect"] is True and ns["options"]["retainOnDelete"] is True
    assert "protected, retained on delete" in plans["production"].stdout


def test_staging_namespace_can_be_torn_down(plans):
    ns = plans["staging"].resource(NAMESPACE, "archon")
    assert ns["options"]["protect"] is False and ns["options"]["retainOnDelete"] is False


def test_production_protects_the_namespace_data_and_credentials_and_staging_nothing(plans):
    protected = {r["type"] for r in plans["production"].resources if r["options"]["protect"]}
    assert protected == {NAMESPACE, "kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:Secret",
                         "kubernetes:core/v1:PersistentVolumeClaim", "random:index/randomPassword:RandomPassword"}
    assert [r["name"] for r in plans["staging"].resources if r["options"]["protect"]] == []


def test_dns_peers_come_from_config(tmp_path):
    dns = {"namespace": "openshift-dns", "podLabels": {"dns.operator.openshift.io/daemonset-dns": "default"},
           "cidrs": ["10.96.0.10/32"]}
    result = plan_with(tmp_path, "staging", lambda c: c.__setitem__("archon:network", {"dns": dns}))
    assert result.exit_code == 0, result.stderr
    (rule,) = find(result, "NetworkPolicy", "allow-dns-egress")["spec"]["egress"]
    assert rule["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-dns"}},
         "podSelector": {"matchLabels": {"dns.operator.openshift.io/daemonset-dns": "default"}}},
        {"ipBlock": {"cidr": "10.96.0.10/32"}}]


def test_a_dns_cidr_that_is_not_one_is_refused(tmp_path):
    result = plan_with(tmp_path, "staging", lambda c: c.__setitem__("archon:network", {"dns": {"cidrs": ["kube-dns"]}}))
    assert result.exit_code == 2
    assert "archon:network.dns.cidrs.0 = 'kube-dns': is not a CIDR such as 203.0.113.0/24" in result.stderr
