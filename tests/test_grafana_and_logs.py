"""Grafana, its dashboard and datasources, Loki and the Alloy log shipper, as rendered into both stacks."""

from __future__ import annotations

import json
import re

import promql_parser
import pytest
import yaml

from monitoring.configs import JOB_METRICS
from monitoring.grafana import DASHBOARDS_DIR
from stackconfig import ConfigError, load_stack_config
from tests.conftest import STACKS, plan_with, raw_config
from tests.helpers import changed, find, secret_strings

DASHBOARD_PANELS = {"Request rate per service", "5xx error rate per service", "p95 latency per service",
                    "Pod restarts (1h)", "CPU against limit", "Memory against limit", "Databases up", "Volume usage"}




def metric_names(node) -> set[str]:
    """Every metric name a parsed PromQL expression selects."""
    if isinstance(node, promql_parser.VectorSelector):
        return {node.name}
    children = []
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
        children.append(getattr(node, attr, None))
    children += list(getattr(node, "args", None) or [])
    return set().union(*(metric_names(c) for c in children if c is not None))


def provided_metrics(prometheus_config: dict) -> dict[str, str]:
    """Job name -> regex of the metric names it provides: its __name__ keep filter, else the JOB_METRICS table."""
    provided = {}
    for job in prometheus_config["scrape_configs"]:
        keep = [r["regex"] for r in job.get("metric_relabel_configs", [])
                if r.get("source_labels") == ["__name__"] and r.get("action") == "keep"]
        provided[job["job_name"]] = keep[0] if keep else JOB_METRICS[job["job_name"]]
    return provided


def unprovided(expressions: list[str], prometheus_config: dict) -> list[tuple[str, str]]:
    patterns = provided_metrics(prometheus_config).values()
    return [(expr, name) for expr in expressions for name in metric_names(promql_parser.parse(expr))
            if name != "up" and not any(re.fullmatch(p, name) for p in patterns)]


def dashboard() -> dict:
    (path,) = DASHBOARDS_DIR.glob("*.json")
    return json.loads(path.read_text())


def prometheus_exprs(board: dict) -> list[str]:
    return [t["expr"] for p in board["panels"] if p["datasource"]["uid"] == "prometheus" for t in p["targets"]]


def test_the_dashboard_has_every_panel_the_stack_promises():
    board = dashboard()
    assert {p["title"] for p in board["panels"]} >= DASHBOARD_PANELS
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    assert {p["datasource"]["uid"] for p in board["panels"]} == {"prometheus", "loki"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_dashboard_and_alert_query_names_a_metric_some_scrape_job_provides(plans, stack):
    config = yaml.safe_load(find(plans[stack], "ConfigMap", "archon-prometheus-config")["data"]["prometheus.yml"])
    rules = find(plans[stack], "ConfigMap", "archon-prometheus-rules")["data"]
    alert_exprs = [r["expr"] for text in rules.values() for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    assert len(prometheus_exprs(dashboard())) >= 10
    assert unprovided(prometheus_exprs(dashboard()) + alert_exprs, config) == []


def test_a_metric_no_job_provides_is_caught(plans):
    config = yaml.safe_load(find(plans["staging"], "ConfigMap", "archon-prometheus-config")["data"]["prometheus.yml"])
    config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] != "traefik"]
    missing = {name for _, name in unprovided(prometheus_exprs(dashboard()), config)}
    assert missing == {"traefik_service_requests_total", "traefik_service_request_duration_seconds_bucket"}


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_is_provisioned_with_datasources_dashboards_and_a_generated_password(plans, stack):
    p = plans[stack]
    namespace = load_stack_config(stack, raw_config(stack)).namespace
    provisioning = find(p, "ConfigMap", "archon-grafana-provisioning")["data"]
    sources = {d["uid"]: d for d in yaml.safe_load(provisioning["datasources.yaml"])["datasources"]}
    assert sources["prometheus"]["url"] == f"http://archon-prometheus.{namespace}.svc:9090"
    assert sources["loki"]["url"] == f"http://archon-loki.{namespace}.svc:3100"
    services = {s["metadata"]["name"]: s["spec"]["ports"][0]["port"] for s in p.objects("Service")}
    assert (services["archon-prometheus"], services["archon-loki"]) == (9090, 3100)
    assert find(p, "ConfigMap", "archon-grafana-dashboards")["data"] == {
        path.name: path.read_text() for path in DASHBOARDS_DIR.glob("*.json")}
    pod = find(p, "Deployment", "archon-grafana")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "archon-grafana-admin", "key": "admin-password"}
    assert env["GF_AUTH_ANONYMOUS_ENABLED"]["value"] == "false"
    admin = find(p, "Secret", "archon-grafana-admin")
    password = secret_strings(admin)["admin-password"]
    assert len(password) == 32
    assert password not in yaml.safe_dump([o for o in p.manifests if o["kind"] != "Secret"])
    assert (pod["securityContext"]["runAsUser"], container["securityContext"]["readOnlyRootFilesystem"]) == (472, True)
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp", "/var/lib/grafana",
                                                                   "/var/lib/grafana-search"}


def test_loki_retention_and_volume_come_from_config(tmp_path):
    result = plan_with(tmp_path, "staging", lambda config: config["archon:monitoring"].update(
        loki={"retention": "30d", "storageSize": "25Gi"}))
    assert result.exit_code == 0, result.stderr
    config = yaml.safe_load(find(result, "ConfigMap", "archon-loki-config")["data"]["config.yaml"])
    assert config["limits_config"]["retention_period"] == "30d"
    assert config["compactor"] | {"working_directory": None} == {
        "working_directory": None, "retention_enabled": True, "delete_request_store": "filesystem"}
    assert config["schema_config"]["configs"][0]["index"]["period"] == "24h"
    sts = find(result, "StatefulSet", "archon-loki")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "25Gi"
    assert "storageClassName" not in claim["spec"]  # the cluster's default class
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001


@pytest.mark.parametrize("retention", ["12h", "36h"])
def test_loki_retention_must_be_whole_days(retention):
    raw = changed(raw_config("staging"), "archon:monitoring.loki", {"retention": retention})
    with pytest.raises(ConfigError) as caught:
        load_stack_config("staging", raw)
    (issue,) = caught.value.issues
    assert issue.path == "monitoring.loki.retention" and "whole number of days" in str(caught.value)


def test_the_quota_must_admit_the_monitoring_volumes():
    raw = changed(raw_config("staging"), "archon:monitoring.loki", {"storageSize": "500Gi"})
    with pytest.raises(ConfigError) as caught:
        load_stack_config("staging", raw)
    assert [i.path for i in caught.value.issues] == ["quota.requests.storage"]
    assert "monitoring volumes" in str(caught.value)


@pytest.mark.parametrize("stack", STACKS)
def test_alloy_ships_pod_logs_through_the_api_without_node_access(plans, stack):
    p = plans[stack]
    namespace = load_stack_config(stack, raw_config(stack)).namespace
    deployment = find(p, "Deployment", "archon-alloy")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsNonRoot"]) == (473, True)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = [v for o in p.manifests if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "CronJob")
               for v in json.loads(json.dumps(o)).get("spec", {}).get("template", {}).get("spec", {})
               .get("volumes", [])]
    assert volumes and not [v for v in volumes if "hostPath" in v]
    assert p.objects("DaemonSet") == []
    storage = next(a for a in container["args"] if a.startswith("--storage.path=")).split("=", 1)[1]
    assert any(storage.startswith(m["mountPath"]) for m in container["volumeMounts"]
               if m["name"] in {v["name"] for v in pod["volumes"] if "emptyDir" in v})
    pipeline = find(p, "ConfigMap", "archon-alloy-config")["data"]["config.alloy"]
    assert 'loki.source.kubernetes "pods"' in pipeline
    assert f'names = ["{namespace}", "traefik"]' in pipeline  # the controller's JSON access log too
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in p.objects("Role") if "alloy" in
             r["metadata"]["name"]}
    assert roles == {(namespace, "archon-alloy"), ("traefik", f"archon-alloy-{namespace}")}
    (loki,) = [d for d in yaml.safe_load(find(p, "ConfigMap", "archon-grafana-provisioning")["data"]
                                         ["datasources.yaml"])["datasources"] if d["type"] == "loki"]
    (field,) = loki["jsonData"]["derivedFields"]
    assert re.search(field["matcherRegex"], '{"request_X-Request-Id":"4a1f","RequestPath":"/api"}')[1] == "4a1f"
    assert f'url = "http://archon-loki.{namespace}.svc:3100/loki/api/v1/push"' in pipeline
