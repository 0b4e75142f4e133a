"""One ordering rule: a component's children wait for what the component waits for, read from the dependencies the
plan recorded for every resource."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stackconfig import load_stack_config
from tests.conftest import ROOT, STACKS, Plan, plan_with, raw_config
from tests.test_traffic import OPERATOR

NAMESPACE = "kubernetes:core/v1:Namespace"
BASELINE = "archon:components:NamespaceBaseline"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _namespace_of(resource: dict) -> str | None:
    inputs = resource["inputs"] or {}
    return (inputs.get("metadata") or {}).get("namespace") or inputs.get("namespace")


def _urns(plan: Plan, type_: str, *, parent_type: str | None = None) -> dict[str, str]:
    by_urn = {r["urn"]: r for r in plan.resources}
    return {r["name"]: r["urn"] for r in plan.resources if r["type"] == type_
            and (parent_type is None or by_urn[r["parent"]]["type"] == parent_type)}


def _in_app_namespace(plan: Plan, stack: str) -> list[dict]:
    namespace = load_stack_config(stack, raw_config(stack)).namespace
    return [r for r in plan.resources if r["custom"] and r["type"] != NAMESPACE and _namespace_of(r) == namespace]


@pytest.fixture(scope="module")
def operator_plan(tmp_path_factory) -> Plan:
    result = plan_with(tmp_path_factory.mktemp("operator"), "staging",
                       lambda config: config["archon:monitoring"].update(OPERATOR))
    assert result.exit_code == 0, result.stderr
    return result


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_in_the_app_namespace_waits_for_the_namespace(plans, stack):
    plan = plans[stack]
    (namespace,) = _urns(plan, NAMESPACE, parent_type=BASELINE).values()
    objects = _in_app_namespace(plan, stack)
    assert len(objects) > 60
    assert [r["name"] for r in objects if namespace not in r["dependencies"]] == []


def test_operator_mode_objects_wait_for_the_namespace_too(operator_plan):
    (namespace,) = _urns(operator_plan, NAMESPACE, parent_type=BASELINE).values()
    objects = _in_app_namespace(operator_plan, "staging")
    assert any(r["type"].endswith(":PrometheusRule") for r in objects)
    assert [r["name"] for r in objects if namespace not in r["dependencies"]] == []


@pytest.mark.parametrize("stack", STACKS)
def test_workloads_wait_for_the_whole_baseline_so_no_pod_runs_before_default_deny_and_the_quota(plans, stack):
    plan = plans[stack]
    by_urn = {r["urn"]: r for r in plan.resources}
    baseline = {r["urn"] for r in plan.resources if r["parent"] and by_urn[r["parent"]]["type"] == BASELINE}
    assert len(baseline) == 5
    outside = [r for r in _in_app_namespace(plan, stack) if r["urn"] not in baseline]
    assert [r["name"] for r in outside if not baseline <= set(r["dependencies"])] == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_ingress_waits_for_the_controller_cert_manager_and_the_services(plans, stack):
    plan = plans[stack]
    releases = _urns(plan, RELEASE)
    deployments = {name: urn for name, urn in _urns(plan, "kubernetes:apps/v1:Deployment").items()
                   if "archon:components:Application$" in urn}
    assert {"traefik", "cert-manager"} <= set(releases) and "archon-server" in deployments
    by_urn = {r["urn"]: r for r in plan.resources}
    children = [r for r in plan.resources if r["parent"] and by_urn[r["parent"]]["type"] == "archon:components:Ingress"]
    assert {r["type"].split(":")[-1] for r in children} >= {"Ingress", "Certificate", "Middleware"}
    for child in children:
        assert {releases["traefik"], releases["cert-manager"], *deployments.values()} <= set(child["dependencies"]), \
            child["name"]


def test_the_app_namespace_outlives_cert_manager_on_destroy(plans):
    plan = plans["staging"]
    (namespace,) = (r for r in plan.resources if r["type"] == NAMESPACE and r["name"] == "archon")
    assert _urns(plan, RELEASE)["cert-manager"] in namespace["dependencies"]


def test_every_component_is_a_component_so_the_rule_is_the_same_everywhere():
    """A ComponentResource subclassed directly would parent children that do not wait for what it waits for."""
    direct = []
    for path in sorted((ROOT / "components").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(ast.unparse(base) == "pulumi.ComponentResource"
                                                      for base in node.bases):
                direct.append(f"{Path(path).name}:{node.name}")
    assert direct == ["component.py:Component"]
