"""RBAC rules: each fail fixture is flagged by the rule it is named after, no pass fixture by any, every message says
what the grant allows, and the committed stacks grant nothing the rules refuse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policies.archon_policies import rbac
from policies.archon_policies.catalog import RULES
from tests.conftest import STACKS
from tests.policy_helpers import load, messages, run

FIXTURES = Path(__file__).parent / "fixtures" / "rbac"
RBAC_RULES = [rule.name for rule in RULES if rule.check.__module__ == rbac.__name__]


def rule_of(path: Path) -> str:
    return re.sub(r"\d+$", "", path.stem)


def test_every_rbac_rule_has_fail_fixtures():
    assert sorted({rule_of(p) for p in (FIXTURES / "fail").glob("*.yaml")}) == sorted(RBAC_RULES)
    assert len(RBAC_RULES) == 6


@pytest.mark.parametrize("path", sorted((FIXTURES / "fail").glob("*.yaml")), ids=lambda p: p.stem)
def test_fail_fixture_is_flagged_by_its_rule(path):
    violations = run(rule_of(path), load(path))
    assert violations and not any(v.unknown for v in violations)


@pytest.mark.parametrize("path", sorted((FIXTURES / "pass").glob("*.yaml")), ids=lambda p: p.stem)
def test_no_rbac_rule_flags_a_pass_fixture(path):
    assert {rule: run(rule, load(path)) for rule in RBAC_RULES} == {rule: [] for rule in RBAC_RULES}


def test_messages_name_the_rule_and_what_it_opens():
    assert messages("rbac-no-nodes-proxy", load(FIXTURES / "fail" / "rbac-no-nodes-proxy0.yaml")) == [
        "ClusterRole n0: rules[0] grants nodes/proxy: the kubelet's whole API on every node, exec into its pods "
        "included; read kubelet metrics with nodes/metrics instead"]
    assert messages("rbac-no-system-group-bindings", load(FIXTURES / "fail" / "rbac-no-system-group-bindings3.yaml")) \
        == ["RoleBinding archon/g3: subjects[0] is the group 'system:serviceaccounts:archon', so every ServiceAccount "
            "of namespace 'archon' gets the role"]
    secrets = load(FIXTURES / "fail" / "rbac-no-cluster-wide-secret-read1.yaml")
    assert messages("rbac-no-cluster-wide-secret-read", secrets) == [
        "ClusterRole s1: rules[0] lets its holders list/watch Secrets in every namespace"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_grants_nothing_the_rbac_rules_refuse(plans, stack):
    objects = [o for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
               for o in plans[stack].objects(kind)]
    assert len(objects) >= 4
    assert {rule: [m for o in objects for m in messages(rule, o)] for rule in RBAC_RULES} == \
        {rule: [] for rule in RBAC_RULES}
    (prometheus,) = plans[stack].objects("ClusterRole")
    assert prometheus["rules"][0]["resources"] == ["nodes", "nodes/metrics"]
