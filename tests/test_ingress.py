"""Ingress and TLS: controller and cert-manager values walked against the policy, issuers, routes, middlewares."""

from __future__ import annotations

import base64

import pytest

from components import cert_manager, charts
from stackconfig import load_stack_config
from tests.conftest import STACKS, plan_with, raw_config
from tests.policy_helpers import messages

APP_CHAIN = ["security-headers", "rate-limit", "edge-auth", "compress", "body-limit"]


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


def test_the_service_type_and_client_address_settings_reach_the_chart_where_it_reads_them(tmp_path):
    def behind_a_proxy(config: dict) -> None:
        config["archon:ingress"]["controller"].update(
            serviceType="NodePort", externalTrafficPolicy="Cluster", trustedProxyCidrs=["10.0.0.0/8"],
            proxyProtocolCidrs=["192.0.2.0/24"])
    result = plan_with(tmp_path, "staging", behind_a_proxy)
    assert result.exit_code == 0, result.stderr
    values = release(result, "traefik")["values"]
    # Traefik's chart 41 reads service.spec (templates/_service.tpl); a service.type would be ignored silently.
    assert values["service"]["spec"] == {"type": "NodePort", "externalTrafficPolicy": "Cluster"}
    assert "type" not in values["service"]
    for entry_point in ("web", "websecure"):
        assert values["ports"][entry_point]["forwardedHeaders"] == {"trustedIPs": ["10.0.0.0/8"]}
        assert values["ports"][entry_point]["proxyProtocol"] == {"trustedIPs": ["192.0.2.0/24"]}


def test_the_controllers_load_balancer_is_the_one_justified_exemption(plans):
    service_values = release(plans["production"], "traefik")["values"]["service"]
    assert service_values["spec"] == {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}
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


def test_the_acme_issuer_solves_http01_through_the_class_with_hardened_solver_pods(plans):
    cfg = load_stack_config("production", raw_config("production"))
    (issuer,) = custom(plans["production"], "ClusterIssuer")  # only the one the stack uses, named per stack
    assert issuer["metadata"]["name"] == f"{cfg.namespace}-letsencrypt-production"
    acme = issuer["spec"]["acme"]
    assert acme["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert acme["email"] == cfg.acme_email
    assert acme["privateKeySecretRef"] == {"name": f"{cfg.namespace}-letsencrypt-production-account-key"}
    (solver,) = acme["solvers"]
    http01 = solver["http01"]["ingress"]
    assert http01["ingressClassName"] == "traefik"
    assert http01["podTemplate"]["spec"]["securityContext"] == cert_manager.POD_SECURITY


def test_the_solver_pods_are_let_in_from_the_controller_namespace_only_with_acme(plans):
    (policy,) = [p for p in plans["production"].objects("NetworkPolicy")
                 if p["metadata"]["name"] == "archon-acme-http01-solver"]
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}],
                     "ports": [{"port": 8089, "protocol": "TCP"}]}]}
    assert "archon-acme-http01-solver" not in {p["metadata"]["name"] for p in plans["staging"].objects("NetworkPolicy")}


@pytest.mark.parametrize("stack, issuer", [("staging", "archon-staging-selfsigned"),
                                           ("production", "archon-letsencrypt-production")])
def test_each_stack_uses_its_own_issuer_and_nothing_waits_for_the_certificate(plans, stack, issuer):
    (certificate,) = custom(plans[stack], "Certificate")
    assert certificate["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": issuer}
    assert not any(key.startswith("pulumi.com/") for key in certificate["metadata"].get("annotations") or {})
    assert certificate["spec"]["dnsNames"] == [load_stack_config(stack, raw_config(stack)).domain]
    (issuer_object,) = custom(plans[stack], "ClusterIssuer")
    assert issuer_object["metadata"]["name"] == issuer


def test_an_existing_cert_manager_still_gets_the_stacks_own_issuer(tmp_path):
    result = plan_with(tmp_path, "staging", lambda c: c["archon:ingress"].update(installCertManager=False))
    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in result.resources if r["type"] == "kubernetes:helm.sh/v3:Release"] == ["traefik"]
    assert [i["metadata"]["name"] for i in custom(result, "ClusterIssuer")] == ["archon-staging-selfsigned"]


@pytest.mark.parametrize("stack", STACKS)
def test_releases_have_fixed_names_and_plain_http_is_redirected_at_the_entry_point(plans, stack):
    # Fixed names: the CRDs cert-manager keeps on uninstall carry the release name a reinstall must match.
    assert release(plans[stack], "traefik")["name"] == "traefik"
    assert release(plans[stack], "cert-manager")["name"] == "cert-manager"
    web = release(plans[stack], "traefik")["values"]["ports"]["web"]
    assert web["http"]["redirections"]["entryPoint"] == {"to": "websecure", "scheme": "https", "permanent": True,
                                                         "priority": 1}
    for obj in plans[stack].objects("Ingress"):
        assert obj["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"
    assert plans[stack].outputs.get("ingressAddress") is None  # published by the controller once it runs


def chains(plan_) -> dict[str, list[str]]:
    """Each route path of the app's host, with the middleware names of its Ingress in order."""
    out = {}
    for obj in plan_.objects("Ingress"):
        namespace = obj["metadata"]["namespace"]
        chain = [m.removeprefix(f"{namespace}-").removesuffix("@kubernetescrd") for m in
                 obj["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"].split(",")]
        for rule in obj["spec"]["rules"]:
            out |= {path["path"]: chain for path in rule["http"]["paths"]}
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_every_route_is_authenticated_and_only_the_streaming_one_unbuffered(plans, stack):
    for obj in plans[stack].objects("Ingress"):
        assert messages("ingress-requires-tls", obj) == []
    assert chains(plans[stack]) == {
        "/": APP_CHAIN, "/api": APP_CHAIN, "/health": APP_CHAIN,
        "/mcp": ["security-headers", "rate-limit", "mcp-auth"]}  # streamable HTTP: no response buffering
    specs = {m["metadata"]["name"]: m["spec"] for m in custom(plans[stack], "Middleware")}
    assert specs["edge-auth"] == {"basicAuth": {"secret": "archon-edge-credentials", "realm": "Archon",
                                                "removeHeader": True}}
    assert specs["mcp-auth"] == {"basicAuth": {"secret": "archon-mcp-credentials", "realm": "Archon MCP",
                                               "removeHeader": True}}
    assert specs["compress"] == {"compress": {"excludedContentTypes": ["text/event-stream"]}}
    secrets = {s["metadata"]["name"]: s for s in plans[stack].objects("Secret")}
    for name, user in (("archon-edge-credentials", "archon"), ("archon-mcp-credentials", "mcp")):
        assert secrets[name]["type"] == "kubernetes.io/basic-auth"
        assert base64.b64decode(secrets[name]["data"]["username"]).decode() == user
    assert plans[stack].outputs["auth"] == {"mode": "basic", "mcp": "basic", "credentials": {
        "archon": "archon-edge-credentials", "mcp": "archon-mcp-credentials"}}


def test_routes_follow_the_guide(plans):
    routes = {p["path"]: (p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
              for app in plans["production"].objects("Ingress") for rule in app["spec"]["rules"]
              for p in rule["http"]["paths"]}
    assert routes == {"/": ("archon-frontend", 3737), "/api": ("archon-server", 8181),
                      "/health": ("archon-server", 8181), "/mcp": ("archon-mcp", 8051)}  # the deployment guide's
    assert {app["spec"]["ingressClassName"] for app in plans["production"].objects("Ingress")} == {"traefik"}
    assert plans["production"].outputs["urls"] == {
        "app": "https://archon.acmecorp.io/", "api": "https://archon.acmecorp.io/api",
        "health": "https://archon.acmecorp.io/health", "mcp": "https://archon.acmecorp.io/mcp"}


def oidc(config: dict) -> None:
    config["archon:ingress"]["auth"] = {"mode": "oidc", "oidc": {
        "issuerUrl": "https://login.example.org/realms/archon", "clientId": "archon", "emailDomains": ["example.org"],
        "allowedGroups": ["archon-users"]}, "mcp": {"mode": "allowList", "allowCidrs": ["10.20.0.0/16"]}}
    config["archon:oidcClientSecret"] = {"secure": "v1:b2lkYw=="}


def test_oidc_puts_oauth2_proxy_in_front_and_opens_only_its_own_routes(tmp_path):
    result = plan_with(tmp_path, "staging", oidc)
    assert result.exit_code == 0, result.stderr
    assert chains(result) == {"/": ["security-headers", "rate-limit", "edge-auth", "compress", "body-limit"],
                              "/api": APP_CHAIN, "/health": APP_CHAIN,
                              "/mcp": ["security-headers", "rate-limit", "mcp-auth"],
                              "/oauth2": ["security-headers", "rate-limit"]}
    specs = {m["metadata"]["name"]: m["spec"] for m in custom(result, "Middleware")}
    assert specs["edge-auth"]["forwardAuth"]["address"] == "http://archon-oauth2-proxy.archon-staging.svc:4180/"
    assert specs["mcp-auth"] == {"ipAllowList": {"sourceRange": ["10.20.0.0/16"]}}
    (proxy,) = [d for d in result.objects("Deployment") if d["metadata"]["name"] == "archon-oauth2-proxy"]
    (container,) = proxy["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "quay.io/oauth2-proxy/oauth2-proxy:v7.15.6"
    assert {"--oidc-issuer-url=https://login.example.org/realms/archon", "--email-domain=example.org",
            "--allowed-group=archon-users", "--redirect-url=https://staging.archon.example.com/oauth2/callback",
            "--cookie-secure=true", "--upstream=static://202"} <= set(container["args"])
    assert {e["name"] for e in container["env"]} == {"OAUTH2_PROXY_CLIENT_SECRET", "OAUTH2_PROXY_COOKIE_SECRET"}
    assert all("value" not in e for e in container["env"])  # from the Secret, never literal
    (sign_in,) = [i for i in result.objects("Ingress") if i["metadata"]["name"] == "archon-sign-in"]
    assert sign_in["metadata"]["annotations"]["policy.archon.io/exempt"] == "ingress-routes-authenticated"
    assert not [s for s in result.objects("Secret") if s["type"] == "kubernetes.io/basic-auth"]
    assert result.outputs["auth"] == {"mode": "oidc", "mcp": "allowList", "credentials": {}}


def test_no_authentication_is_a_warning_and_refused_in_production_unless_acknowledged(tmp_path):
    result = plan_with(tmp_path / "s", "staging", lambda c: c["archon:ingress"].update(auth={"mode": "none"}))
    assert result.exit_code == 0, result.stderr
    assert "ingress.auth.mode is none: the app, its knowledge base and the OpenAI key's spending are open" in (
        result.stdout + result.stderr)
    assert chains(result)["/"] == ["security-headers", "rate-limit", "compress", "body-limit"]
    refused = plan_with(tmp_path / "p", "production", lambda c: c["archon:ingress"].update(auth={"mode": "none"}))
    assert refused.exit_code != 0 and not (refused.out / "resources.json").exists()
    assert "archon:ingress.auth.mode = 'none': would serve the app" in refused.stderr
    acknowledged = plan_with(tmp_path / "a", "production", lambda c: c["archon:ingress"].update(
        auth={"mode": "none", "acknowledgeUnauthenticated": True}))
    assert acknowledged.exit_code == 0, acknowledged.stderr
    assert "exempted (mandatory)  Ingress archon-ingress-app" in acknowledged.stdout  # still reported, with the reason


def test_a_basic_auth_rotation_changes_only_that_password(tmp_path):
    def rotate(config: dict) -> None:
        config["archon:ingress"]["auth"] = {"basic": {"username": "archon", "rotation": 1}}
    before, after = plan_with(tmp_path / "a", "staging", lambda c: None), plan_with(tmp_path / "b", "staging", rotate)
    keepers = {r["name"]: r["inputs"].get("keepers") for plan_ in (before, after) for r in plan_.resources
               if r["type"] == "random:index/randomPassword:RandomPassword" and r["name"].startswith("archon-auth")}
    assert keepers == {"archon-auth-edge-password": {"rotation": "1"}, "archon-auth-mcp-password": {"rotation": "0"}}


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
                                        className="nginx", auth={"mode": "none"})
    refused = plan_with(tmp_path / "r", "staging", lambda c: c["archon:ingress"].update(
        installController=False, className="nginx"))
    assert "archon:ingress.auth.mode = 'basic': authenticates with Traefik middlewares, and ingress class 'nginx' " \
        "is not Traefik" in refused.stderr and not (refused.out / "resources.json").exists()
    result = plan_with(tmp_path / "a", "staging", existing)
    assert result.exit_code == 0, result.stderr
    assert [r for r in result.resources if r["type"] == "kubernetes:helm.sh/v3:Release"] == []
    assert {n["metadata"]["name"] for n in result.objects("Namespace")} == {"archon-staging"}
    for app in result.objects("Ingress"):
        assert app["spec"]["ingressClassName"] == "nginx"
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


@pytest.mark.parametrize("stack", STACKS)
def test_the_app_namespace_outlives_nothing_that_cert_manager_must_finalize(plans, stack):
    # A destroy deletes dependents first: the namespace (and its Challenges) goes while cert-manager still runs.
    resources = plans[stack].resources
    (namespace,) = [r for r in resources if r["type"] == "kubernetes:core/v1:Namespace" and r["name"] == "archon"]
    (cert_release,) = [r["urn"] for r in resources if r["type"] == "kubernetes:helm.sh/v3:Release"
                       and r["name"] == "cert-manager"]
    assert cert_release in namespace["dependencies"]
