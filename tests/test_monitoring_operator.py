"""monitoring.mode: operator: monitors and rules for an existing Prometheus Operator instead of our own stack."""

from __future__ import annotations

import json

import pytest
import yaml

from monitoring.configs import RULES_DIR
from stackconfig import ConfigError, load_stack_config
from tests.conftest import STACKS, plan_with, raw_config
from tests.helpers import changed, find
from tests.reachability import reaches

OPERATOR = {"mode": "operator", "operator": {"namespace": "observability", "labels": {"release": "kps"}}}


@pytest.fixture(scope="module")
def operator_plans(tmp_path_factory):
    """Both stacks planned with monitoring.mode: operator and the operator's selector label."""
    return {stack: plan_with(tmp_path_factory.mktemp(stack), stack,
                             lambda config: config["archon:monitoring"].update(OPERATOR)) for stack in STACKS}


def named(plan_, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in plan_.objects(kind)}


@pytest.mark.parametrize("stack", STACKS)
def test_operator_mode_runs_no_prometheus_or_alertmanager_and_plans_clean(operator_plans, stack):
    p = operator_plans[stack]
    assert p.exit_code == 0, p.stderr
    running = set(named(p, "StatefulSet")) | set(named(p, "Deployment"))
    assert not running & {"archon-prometheus", "archon-alertmanager", "archon-kube-state-metrics"}
    assert {"archon-grafana", "archon-loki", "archon-alloy"} <= running
    assert p.objects("ClusterRole") == []
    report = json.loads((p.out / "policy-report.json").read_text())
    assert report["summary"] == {"mandatory": 0, "advisory": 0, "exempted": 1}  # Alloy's API token only


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_rules_come_from_the_same_rule_files(operator_plans, stack):
    rules = named(operator_plans[stack], "PrometheusRule")
    assert {name: r["spec"] for name, r in rules.items()} == {
        path.stem: yaml.safe_load(path.read_text()) for path in RULES_DIR.glob("*.yaml")}
    assert all(r["metadata"]["labels"]["release"] == "kps" for r in rules.values())


def test_monitors_select_each_target_by_label_port_and_namespace(operator_plans):
    p = operator_plans["staging"]
    pods, services = named(p, "PodMonitor"), named(p, "ServiceMonitor")
    seen = {name: (m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
                   m["spec"]["namespaceSelector"]["matchNames"],
                   [e["port"] for e in m["spec"].get("podMetricsEndpoints", m["spec"].get("endpoints"))])
            for name, m in {**pods, **services}.items()}
    assert seen == {
        "archon-postgres": ("archon-postgres", ["archon-staging"], ["http-metrics"]),
        "archon-alloy": ("alloy", ["archon-staging"], ["http"]),
        "archon-grafana": ("grafana", ["archon-staging"], ["http"]),
        "archon-loki": ("loki", ["archon-staging"], ["http"]),
        "archon-traefik": ("traefik", ["traefik"], ["metrics"]),
        "archon-cert-manager": ("cert-manager", ["cert-manager"], ["http-metrics"]),
    }
    assert set(services) == {"archon-grafana", "archon-loki"}
    assert all(m["metadata"]["labels"]["release"] == "kps" for m in [*pods.values(), *services.values()])
    ports = {s["metadata"]["name"]: [port["name"] for port in s["spec"]["ports"]] for s in p.objects("Service")}
    assert "http" in ports["archon-grafana"] and "http" in ports["archon-loki"]  # what the ServiceMonitors name


def test_the_operators_prometheus_is_admitted_and_queried_across_namespaces(operator_plans):
    p = operator_plans["staging"]
    source = yaml.safe_load(find(p, "ConfigMap", "archon-grafana-provisioning")["data"]["datasources.yaml"])
    assert source["datasources"][0]["url"] == "http://prometheus-operated.observability.svc:9090"
    found = p.connections
    # The operator's Prometheus (its namespace, its label) scrapes the stack; a pod with that label elsewhere
    # does not; Grafana queries it there.
    assert {(s, port) for c, s, port, _ in found if c == "observability/prometheus"} == {
        ("grafana", 3000), ("loki", 3100), ("alloy", 12345), ("archon-postgres", 9187)}
    assert {c for c, s, _, _ in found if c == "default/prometheus"} == set()
    assert ("observability/prometheus", 9090) in reaches(found, "grafana")


def test_receivers_are_refused_in_operator_mode():
    raw = changed(raw_config("staging"), "archon:monitoring", {**yaml.safe_load(raw_config("staging")[
        "archon:monitoring"]), **OPERATOR, "receivers": {"slackChannel": "#ops"}})
    with pytest.raises(ConfigError) as caught:
        load_stack_config("staging", raw)
    assert [i.path for i in caught.value.issues] == ["monitoring.receivers"]
    assert "operator's Alertmanager" in str(caught.value)


def test_the_quota_no_longer_counts_prometheus_in_operator_mode():
    base = yaml.safe_load(raw_config("staging")["archon:monitoring"])
    huge = {**base, "storage": {"size": "5Ti", "storageClass": "standard"}}
    with pytest.raises(ConfigError):
        load_stack_config("staging", changed(raw_config("staging"), "archon:monitoring", huge))
    cfg = load_stack_config("staging", changed(raw_config("staging"), "archon:monitoring", {**huge, **OPERATOR}))
    assert cfg.monitoring.mode == "operator"
