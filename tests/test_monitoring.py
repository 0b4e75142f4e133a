"""The monitoring stack as rendered: Prometheus config through promtool, Alertmanager through amtool, objects."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from monitoring.configs import RULES_DIR, alertmanager_config, prometheus_config
from stackconfig import ConfigError, load_stack_config
from tests.conftest import STACKS, plan_with, raw_config
from tests.helpers import changed, find, require_tool, secret_strings
from tests.reachability import PRIVATE, PUBLIC, reaches


def tool(name: str) -> str:
    return require_tool(name, ".ci/run installs Debian's prometheus and prometheus-alertmanager")




def checkable_offline(config: dict, scratch: Path) -> dict:
    """Make a rendered config checkable here, changing only what cannot exist outside a pod.

    Debian's promtool is built without Kubernetes service discovery, so those blocks become a static target;
    the service-account token and CA only exist in-pod, so their paths point at scratch files. Everything else
    (relabeling, alerting, rule files, credential *fields*) is checked for real."""
    config = copy.deepcopy(config)
    swapped: dict[str, str] = {}

    def scratch_file(path: str) -> str:
        if path not in swapped:
            swapped[path] = str(scratch / f"in-pod-{len(swapped)}")
            Path(swapped[path]).write_text("placeholder\n")
        return swapped[path]

    for job in config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["127.0.0.1:9100"]}]
        if "credentials_file" in job.get("authorization", {}):
            job["authorization"]["credentials_file"] = scratch_file(job["authorization"]["credentials_file"])
        if "ca_file" in job.get("tls_config", {}):
            job["tls_config"]["ca_file"] = scratch_file(job["tls_config"]["ca_file"])
    config["rule_files"] = [str(RULES_DIR / "*.yaml")]
    return config


@pytest.mark.parametrize("stack", STACKS)
def test_the_rendered_prometheus_config_passes_promtool(plans, stack, tmp_path):
    cfg = load_stack_config(stack, raw_config(stack))
    rendered = yaml.safe_load(find(plans[stack], "ConfigMap", "archon-prometheus-config")["data"]["prometheus.yml"])
    assert rendered == prometheus_config(
        cfg.namespace, f"archon-alertmanager.{cfg.namespace}.svc:9093", "traefik", "cert-manager"
    )
    jobs = {job["job_name"] for job in rendered["scrape_configs"]}
    assert jobs == {
        "prometheus",
        "kubernetes-pods",
        "kubernetes-services",
        "kubelet",
        "cadvisor",
        "kube-state-metrics",
        "traefik",
        "cert-manager",
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(checkable_offline(rendered, tmp_path)))
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rule_files_are_what_prometheus_loads(plans):
    rules = find(plans["staging"], "ConfigMap", "archon-prometheus-rules")["data"]
    assert rules == {p.name: p.read_text() for p in RULES_DIR.glob("*.yaml")}


@pytest.mark.parametrize(
    "receivers",
    [
        {},
        {"slack": ("https://hooks.slack.com/services/T0/B0/XYZ", "#archon")},
        {
            "slack": ("https://hooks.slack.com/services/T0/B0/XYZ", None),
            "pagerduty": "0123456789abcdef0123456789abcdef",
            "email": {
                "to": "ops@acme.io",
                "from": "alerts@acme.io",
                "smarthost": "smtp.acme.io:587",
                "auth_username": "alerts",
                "auth_password": "pw",
                "require_tls": True,
            },
        },
    ],
    ids=["none", "slack", "all"],
)
def test_alertmanager_configs_pass_amtool(tmp_path, receivers):
    slack_url, channel = receivers.get("slack", (None, None))
    config = alertmanager_config(slack_url, channel, receivers.get("pagerduty"), receivers.get("email"))
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [tool("amtool"), "check-config", str(tmp_path / "alertmanager.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    names = [r["name"] for r in config["receivers"]]
    assert names[0] == "null" and len(names) == 1 + len(receivers)


def test_critical_alerts_page_and_a_down_service_silences_its_symptoms():
    config = alertmanager_config("https://hooks.slack.com/x", "#a", "key", None)
    routes = [(r["receiver"], r["matchers"], r["continue"]) for r in config["route"]["routes"]]
    assert routes == [
        ("pagerduty", ['severity="critical"'], True),
        ("slack", ['severity="critical"'], False),
        ("slack", ['severity="warning"'], False),
    ]
    (inhibit,) = config["inhibit_rules"]
    assert inhibit["source_matchers"] == ['alertname="ArchonServiceDown"'] and inhibit["equal"] == ["deployment"]


def test_alertmanager_config_is_a_secret_and_passes_amtool_as_rendered(plans, tmp_path):
    secret = find(plans["production"], "Secret", "archon-alertmanager-config")
    (tmp_path / "alertmanager.yml").write_text(secret_strings(secret)["alertmanager.yml"])
    result = subprocess.run(
        [tool("amtool"), "check-config", str(tmp_path / "alertmanager.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [c for c in plans["production"].objects("ConfigMap") if "alertmanager" in c["metadata"]["name"]] == []


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_and_alertmanager_are_hardened_stateful_and_sized(plans, stack):
    cfg = load_stack_config(stack, raw_config(stack))
    prometheus = find(plans[stack], "StatefulSet", "archon-prometheus")
    args = prometheus["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--storage.tsdb.retention.time={cfg.monitoring.retention}" in args
    claim = prometheus["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["resources"]["requests"]["storage"] == cfg.monitoring.storage.size
    for name in ("archon-prometheus", "archon-alertmanager"):
        pod = find(plans[stack], "StatefulSet", name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 65534
    alertmanager_args = find(plans[stack], "StatefulSet", "archon-alertmanager")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert "--cluster.listen-address=" in alertmanager_args  # no gossip port with one replica


def test_rbac_is_read_only_and_namespaced_where_it_can_be(plans):
    (cluster_role,) = plans["staging"].objects("ClusterRole")
    verbs = {verb for rule in cluster_role["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    roles = {r["metadata"]["name"]: r for r in plans["staging"].objects("Role")}
    assert set(roles) == {"archon-kube-state-metrics", "archon-alloy", "archon-alloy-archon-staging"}
    assert {r["metadata"]["name"]: r["metadata"]["namespace"] for r in roles.values()} == {
        "archon-kube-state-metrics": "archon-staging", "archon-alloy": "archon-staging",
        "archon-alloy-archon-staging": "traefik"}  # Alloy reads the controller's access log there
    granted = {name: {(res, verb) for rule in r["rules"] for res in rule["resources"] for verb in rule["verbs"]}
               for name, r in roles.items()}
    assert {verb for _, verb in granted["archon-kube-state-metrics"]} == {"list", "watch"}
    for alloy in ("archon-alloy", "archon-alloy-archon-staging"):
        assert granted[alloy] == {("pods", "get"), ("pods", "list"), ("pods", "watch"), ("pods/log", "get")}
    everything = [res for r in [cluster_role, *roles.values()] for rule in r["rules"] for res in rule["resources"]]
    assert "secrets" not in everything and "*" not in everything
    ksm = find(plans["staging"], "Deployment", "archon-kube-state-metrics")
    assert "--namespaces=archon-staging" in ksm["spec"]["template"]["spec"]["containers"][0]["args"]


def test_network_policies_admit_scraping_and_log_reads_and_nothing_else(plans):
    found = plans["staging"].connections
    for app, expected in CLIENTS.items():
        assert {(c, p) for c, s, p, _ in found if s == app} == expected, app
    for app, expected in REACHES.items():
        assert {(s, p) for s, p in reaches(found, app) if "address " not in s} == expected, app


CLIENTS = {  # who connects to each monitoring pod, on which port
    "prometheus": {("grafana", 9090)},
    "alertmanager": {("prometheus", 9093)},
    "kube-state-metrics": {("prometheus", 8080)},
    "grafana": {("prometheus", 3000)},
    "loki": {("alloy", 3100), ("grafana", 3100), ("prometheus", 3100)},
    "alloy": {("prometheus", 12345)},
}
API = {(PUBLIC, 443), (PUBLIC, 6443), (PRIVATE, 443), (PRIVATE, 6443)}  # apiServerCidrs: anywhere by default
REACHES = {  # where each connects (DNS aside): its scrape targets, queries, log pushes and the Kubernetes API
    "prometheus": {("alertmanager", 9093), ("kube-state-metrics", 8080), ("grafana", 3000), ("loki", 3100),
                   ("alloy", 12345), ("archon-postgres", 9187), ("traefik/traefik", 9100),
                   ("cert-manager/cert-manager", 9402), (PUBLIC, 10250), (PRIVATE, 10250), *API},  # the kubelets
    "alertmanager": {(PUBLIC, port) for port in (25, 443, 465, 587)},  # mail and webhooks, not private ranges
    "kube-state-metrics": API, "alloy": {("loki", 3100), *API},
    "grafana": {("prometheus", 9090), ("loki", 3100)}, "loki": set(),
}


def test_receivers_need_their_secrets():
    raw = changed(raw_config("production"), "archon:monitoring.receivers", {"slackChannel": "#ops", "pagerduty": True})
    with pytest.raises(ConfigError) as caught:
        load_stack_config("production", raw)
    assert [i.path for i in caught.value.issues] == ["slackWebhookUrl", "pagerdutyRoutingKey"]


def test_monitoring_can_be_switched_off(tmp_path):
    result = plan_with(tmp_path, "staging", lambda config: config["archon:monitoring"].update(enabled=False))
    assert result.exit_code == 0, result.stderr
    assert [s for s in result.objects("StatefulSet") if "prometheus" in s["metadata"]["name"]] == []


@pytest.mark.parametrize("stack", STACKS)
def test_config_objects_can_be_replaced_without_a_name_collision(plans, stack):
    """A data change replaces a Secret or ConfigMap: autonamed ones roll their pods, fixed names go first."""
    collide = []
    for r in plans[stack].resources:
        if r["type"] in ("kubernetes:core/v1:Secret", "kubernetes:core/v1:ConfigMap"):
            meta = r["inputs"].get("metadata") or {}
            fixed = (meta.get("annotations") or {}).get("pulumi.com/autonamed") != "true"
            if fixed and not r["options"]["deleteBeforeReplace"]:
                collide.append(r["name"])
    assert collide == []
    monitoring = [find(plans[stack], "ConfigMap", name) for name in (
        "archon-prometheus-config", "archon-prometheus-rules", "archon-grafana-provisioning",
        "archon-grafana-dashboards", "archon-loki-config", "archon-alloy-config")]
    assert all(o["metadata"]["annotations"]["pulumi.com/autonamed"] == "true" for o in monitoring)
    sts = find(plans[stack], "StatefulSet", "archon-prometheus")["spec"]["template"]["spec"]
    mounted = {v["configMap"]["name"] for v in sts["volumes"] if "configMap" in v}
    assert mounted == {monitoring[0]["metadata"]["name"], monitoring[1]["metadata"]["name"]}


@pytest.mark.parametrize("stack", STACKS)
def test_every_monitoring_object_waits_for_the_namespace(plans, stack):
    # The components get the namespace as a name; the dependency is handed down so nothing races it.
    resources = plans[stack].resources
    (namespace,) = [r["urn"] for r in resources
                    if r["type"] == "kubernetes:core/v1:Namespace" and r["name"] == "archon"]
    inside = [r for r in resources if r["custom"] and "archon:components:Monitoring" in r["urn"]]
    assert len(inside) > 20
    for resource in inside:
        assert namespace in resource["dependencies"], resource["urn"]


def test_the_api_server_egress_follows_network_api_server_cidrs(tmp_path, plans):
    readers = ("archon-prometheus", "archon-kube-state-metrics", "archon-alloy")

    def api_blocks(plan) -> dict[str, list[str]]:
        policies = {p["metadata"]["name"]: p["spec"] for p in plan.objects("NetworkPolicy")}
        return {name: [peer["ipBlock"]["cidr"] for rule in policies[name]["egress"] for peer in rule.get("to", [])
                       if "ipBlock" in peer and [p["port"] for p in rule["ports"]] == [443, 6443]]
                for name in readers}

    assert api_blocks(plans["staging"]) == {name: ["0.0.0.0/0"] for name in readers}
    # Cilium with policy-cidr-match-mode: nodes (README): the control plane's addresses instead of anywhere.
    result = plan_with(tmp_path, "staging", lambda config: config.setdefault("archon:network", {}).update(
        apiServerCidrs=["10.0.0.10/32", "10.0.0.11/32"]))
    assert result.exit_code == 0, result.stderr
    assert api_blocks(result) == {name: ["10.0.0.10/32", "10.0.0.11/32"] for name in readers}
    bad = changed(raw_config("staging"), "archon:network", {"apiServerCidrs": ["kube-apiserver"]})
    with pytest.raises(ConfigError, match=r"archon:network\.apiServerCidrs\.0 = 'kube-apiserver': is not a CIDR"):
        load_stack_config("staging", bad)
