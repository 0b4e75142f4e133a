"""Ingress and TLS: controller and cert-manager values walked against the policy, issuers, routes, middlewares."""

from __future__ import annotations

import pytest

from components import cert_manager, charts, ingress
from stackconfig import load_stack_config
from tests.conftest import STACKS, plan_with, raw_config
from tests.policy_helpers import messages

CHAIN = ["redirect-https", "security-headers", "rate-limit", "compress", "body-limit"]


def release(plan_, name: str) -> dict:
    (found,) = [r for r in plan_.resources if r["type"] == "kubernetes:helm.sh/v3:Release" and r["name"] == name]
    return found["inputs"]


def custom(plan_, kind: str) -> list[dict]:
    return plan_.objects(kind)


def as_pod(pod_security: dict, container_security: dict, resources: dict) -> dict:
    """A pod built from chart values, so the pack's own rules judge them (walk the values, don't trust them)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "chart", "namespace": "x"},
            "spec": {"securityContext": pod_security, "containers": [
                {"name": "c", "image": "pinned:1.0.0", "securityContext": container_security,
                 "resources": resources}]}}


POD_RULES = ["pods-run-as-non-root", "containers-read-only-root-filesystem", "no-privilege-escalation",
             "drop-all-capabilities", "seccomp-runtime-default", "containers-have-resource-limits",
             "no-privileged-containers"]


@pytest.mark.parametrize("stack", STACKS)
def test_traefik_values_meet_the_policy(plans, stack):
    values = release(plans[stack], "traefik")["values"]
    pod = as_pod(values["podSecurityContext"], values["securityContext"], values["resources"])
    for rule in POD_RULES:
        assert messages(rule, pod) == [], rule
    assert values["podSecurityContext"]["runAsUser"] == 65532
    settings = load_stack_config(stack, raw_config(stack)).ingress.controller
    assert values["deployment"]["replicas"] == settings.replicas
    assert values["podDisruptionBudget"]["enabled"] == (settings.replicas > 1)
    assert values["metrics"]["prometheus"]["entryPoint"] == "metrics"
    assert values["providers"]["kubernetesIngress"]["publishedService"]["enabled"] is True


def test_the_controllers_load_balancer_is_the_one_justified_exemption(plans):
    service_values = release(plans["production"], "traefik")["values"]["service"]
    assert service_values["type"] == "LoadBalancer"
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "traefik", "namespace": "traefik", "annotations": service_values["annotations"]},
               "spec": {"type": "LoadBalancer"}}
    assert messages("no-public-service-types", service)  # the rule does flag it ...
    assert messages("exemptions-justified", service) == []  # ... and the exemption is valid, with its reason
    public = [s for s in plans["production"].objects("Service") if s["spec"].get("type") != "ClusterIP"
              and s["spec"].get("clusterIP") != "None"]
    assert public == []


@pytest.mark.parametrize("stack", STACKS)
def test_cert_manager_values_meet_the_policy(plans, stack):
    values = release(plans[stack], "cert-manager")["values"]
    assert values["crds"]["enabled"] is True
    for component in ("controller", "webhook", "cainjector", "startupapicheck"):
        block = values if component == "controller" else values[component]
        pod = as_pod(block["securityContext"], block["containerSecurityContext"], block["resources"])
        for rule in POD_RULES:
            assert messages(rule, pod) == [], (component, rule)


def test_issuers_solve_http01_through_the_class_with_hardened_solver_pods(plans):
    issuers = {i["metadata"]["name"]: i["spec"] for i in custom(plans["staging"], "ClusterIssuer")}
    assert set(issuers) == {"letsencrypt-staging", "letsencrypt-production", "selfsigned"}
    acme = issuers["letsencrypt-staging"]["acme"]
    assert acme["server"] == "https://acme-staging-v02.api.letsencrypt.org/directory"
    assert acme["email"] == load_stack_config("staging", raw_config("staging")).acme_email
    (solver,) = acme["solvers"]
    http01 = solver["http01"]["ingress"]
    assert http01["ingressClassName"] == "traefik"
    assert http01["podTemplate"]["spec"]["securityContext"] == cert_manager.POD_SECURITY


@pytest.mark.parametrize("stack, issuer", [("staging", "letsencrypt-staging"),
                                           ("production", "letsencrypt-production")])
def test_each_stack_uses_its_issuer_and_awaits_the_certificate(plans, stack, issuer):
    (certificate,) = custom(plans[stack], "Certificate")
    assert certificate["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": issuer}
    assert certificate["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert certificate["spec"]["dnsNames"] == [load_stack_config(stack, raw_config(stack)).domain]


@pytest.mark.parametrize("stack", STACKS)
def test_every_host_is_covered_by_tls_and_every_route_has_the_middlewares(plans, stack):
    cfg = load_stack_config(stack, raw_config(stack))
    for obj in plans[stack].objects("Ingress"):
        assert messages("ingress-requires-tls", obj) == []
        annotations = obj["metadata"]["annotations"]
        assert annotations["traefik.ingress.kubernetes.io/router.middlewares"].split(",")[-len(CHAIN):] == \
            [f"{cfg.namespace}-{m}@kubernetescrd" for m in CHAIN]
    names = {m["metadata"]["name"] for m in custom(plans[stack], "Middleware")}
    assert set(CHAIN) <= names


def test_routes_follow_the_guide(plans):
    (app,) = plans["production"].objects("Ingress")
    (rule,) = app["spec"]["rules"]
    routes = {p["path"]: (p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
              for p in rule["http"]["paths"]}
    assert routes == ingress.ROUTES
    assert app["spec"]["ingressClassName"] == "traefik"
    assert plans["production"].outputs["urls"] == {
        "app": "https://archon.acmecorp.io/", "api": "https://archon.acmecorp.io/api",
        "health": "https://archon.acmecorp.io/health", "mcp": "https://archon.acmecorp.io/mcp"}


def test_headers_are_strict_and_preload_only_in_production(plans):
    headers = {s: {m["metadata"]["name"]: m["spec"] for m in custom(plans[s], "Middleware")}["security-headers"]
               ["headers"] for s in STACKS}
    assert headers["production"]["stsPreload"] is True and headers["production"]["stsSeconds"] == 31536000
    assert headers["staging"]["stsPreload"] is False
    for h in headers.values():
        assert h["frameDeny"] and h["contentTypeNosniff"] and "frame-ancestors 'none'" in h["contentSecurityPolicy"]
    rate = {m["metadata"]["name"]: m["spec"] for m in custom(plans["production"], "Middleware")}["rate-limit"]
    assert rate == {"rateLimit": {"average": 100, "burst": 200}}


def test_custom_resources_wait_for_the_releases_that_install_their_crds(plans):
    resources = plans["production"].resources
    by_urn = {r["urn"]: r for r in resources}
    for r in resources:
        if r["type"].startswith(("kubernetes:traefik.io", "kubernetes:cert-manager.io")):
            releases = {by_urn[d]["name"] for d in r["dependencies"] if by_urn[d]["type"].endswith("v3:Release")}
            needed = {"traefik"} if "traefik.io" in r["type"] else {"cert-manager"}
            assert needed <= releases, r["name"]


def test_an_existing_ingress_class_installs_nothing(tmp_path):
    def existing(config: dict) -> None:
        config["archon:ingress"].update(installController=False, installCertManager=False,
                                        className="traefik-shared")
    result = plan_with(tmp_path, "staging", existing)
    assert result.exit_code == 0, result.stderr
    assert [r for r in result.resources if r["type"] == "kubernetes:helm.sh/v3:Release"] == []
    assert {n["metadata"]["name"] for n in result.objects("Namespace")} == {"archon-staging"}
    (app,) = result.objects("Ingress")
    assert app["spec"]["ingressClassName"] == "traefik-shared"
    assert app["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"


def test_an_optional_grafana_host_is_covered_and_allow_listed(tmp_path):
    def grafana(config: dict) -> None:
        config["archon:ingress"]["grafana"] = {"host": "grafana.staging.archon.example.com",
                                               "allowCidrs": ["203.0.113.0/24"]}
    result = plan_with(tmp_path, "staging", grafana)
    assert result.exit_code == 0, result.stderr
    ingresses = {i["metadata"]["name"]: i for i in result.objects("Ingress")}
    graf = ingresses["archon-grafana"]
    assert graf["spec"]["tls"][0]["hosts"] == ["grafana.staging.archon.example.com"]
    assert graf["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"].startswith(
        "archon-staging-grafana-allow-list@kubernetescrd,")
    allow = [m for m in result.objects("Middleware") if m["metadata"]["name"] == "grafana-allow-list"]
    assert allow[0]["spec"] == {"ipAllowList": {"sourceRange": ["203.0.113.0/24"]}}
    (certificate,) = result.objects("Certificate")
    assert certificate["spec"]["dnsNames"] == ["staging.archon.example.com", "grafana.staging.archon.example.com"]
    assert result.outputs["urls"]["grafana"] == "https://grafana.staging.archon.example.com/"


def test_chart_versions_are_pinned(plans):
    assert release(plans["staging"], "traefik")["version"] == charts.TRAEFIK.version == "41.3.0"
    assert release(plans["staging"], "cert-manager")["version"] == charts.CERT_MANAGER.version == "v1.21.1"
