"""EdgeAuth: who may pass the ingress. A generated basic-auth credential, or OIDC sign-in through oauth2-proxy, in
front of every route; MCP clients with their own credential (an Authorization header) or from listed networks."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.component import Component, Placement
from components.labels import recommended_labels, selector_labels
from components.objects import Metadata, cluster_service, service_ports
from components.passwords import generated_password
from stackconfig.model import AuthSettings, Credential

OAUTH2_PROXY, OAUTH2_PROXY_PORT = "archon-oauth2-proxy", 4180
OAUTH2_PROXY_IMAGE, OAUTH2_PROXY_VERSION = "quay.io/oauth2-proxy/oauth2-proxy:v7.15.6", "7.15.6"
OAUTH2_PROXY_USER = w.RunAs(65532, 65532)  # the distroless image's nonroot user
SIGN_IN_PATH = "/oauth2"  # oauth2-proxy's own routes (callback, sign-in, sign-out): public, they are the way in
EDGE_CREDENTIALS, MCP_CREDENTIALS = "archon-edge-credentials", "archon-mcp-credentials"
EDGE_AUTH, MCP_AUTH = "edge-auth", "mcp-auth"  # the Middlewares' names


def auth_middlewares(auth: AuthSettings, namespace: str) -> dict[str, dict]:
    """The Traefik middleware specs that authenticate, by name: edge-auth for the app, mcp-auth for /mcp."""
    if auth.mode == "none":
        return {}
    if auth.mode == "basic":
        edge = {"basicAuth": {"secret": EDGE_CREDENTIALS, "realm": "Archon", "removeHeader": True}}
    else:
        # oauth2-proxy answers 202 for a signed-in user and sends anyone else to sign in; Traefik passes that on.
        edge = {"forwardAuth": {
            "address": f"http://{OAUTH2_PROXY}.{namespace}.svc:{OAUTH2_PROXY_PORT}/",
            "trustForwardHeader": True,
            "authResponseHeaders": ["X-Auth-Request-User", "X-Auth-Request-Email"]}}
    mcp = auth.mcp
    return {EDGE_AUTH: edge,
            MCP_AUTH: ({"ipAllowList": {"sourceRange": list(mcp.allow_cidrs)}} if mcp.mode == "allowList" else
                       {"basicAuth": {"secret": MCP_CREDENTIALS, "realm": "Archon MCP", "removeHeader": True}})}


def oauth2_proxy_args(auth: AuthSettings, domain: str) -> list[str]:
    """oauth2-proxy as a forward-auth endpoint for one host: OIDC, secure cookies, no upstream of its own."""
    oidc = auth.oidc
    assert oidc is not None
    return ["--provider=oidc", f"--oidc-issuer-url={oidc.issuer_url}", f"--client-id={oidc.client_id}",
            f"--http-address=0.0.0.0:{OAUTH2_PROXY_PORT}", "--reverse-proxy=true", "--upstream=static://202",
            f"--redirect-url=https://{domain}{SIGN_IN_PATH}/callback", f"--whitelist-domain={domain}",
            "--cookie-secure=true", "--cookie-samesite=lax", "--cookie-httponly=true", "--set-xauthrequest=true",
            "--skip-provider-button=true", "--skip-jwt-bearer-tokens=true", "--silence-ping-logging=true",
            *(f"--email-domain={d}" for d in oidc.email_domains),
            *(f"--allowed-group={g}" for g in oidc.allowed_groups)]


class EdgeAuth(Component):
    """The credentials the edge checks (generated, rotated by config) and, for OIDC, oauth2-proxy."""

    def __init__(self, name: str, *, auth: AuthSettings, domain: str, site: Placement, version: str,
                 oidc_client_secret: pulumi.Input[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:EdgeAuth", name, opts)
        self._metadata = Metadata(site.namespace, recommended_labels("archon-edge-auth", "auth", site.instance,
                                                                     version))
        self.secrets: dict[str, str] = {}
        if auth.mode == "basic":
            self._credential(f"{name}-edge", EDGE_CREDENTIALS, auth.basic)
        if auth.mode != "none" and auth.mcp.mode == "basic":
            self._credential(f"{name}-mcp", MCP_CREDENTIALS, auth.mcp.credential)
        if auth.mode == "oidc":
            if oidc_client_secret is None:
                raise ValueError(f"{name}: OIDC needs the client secret (secret config oidcClientSecret)")
            self._oauth2_proxy(name, auth, domain, site, oidc_client_secret)
        self.register_outputs({"mode": auth.mode, "secrets": self.secrets})

    def _credential(self, resource: str, secret_name: str, credential: Credential) -> None:
        """A kubernetes.io/basic-auth Secret with a generated password; a new rotation number, a new password."""
        password = generated_password(f"{resource}-password", self.child,
                                      keepers={"rotation": str(credential.rotation)})
        k8s.core.v1.Secret(resource, metadata=self._metadata.named(secret_name), type="kubernetes.io/basic-auth",
                           string_data={"username": credential.username, "password": password.result},
                           opts=self.fixed_name())
        self.secrets[credential.username] = secret_name

    def _oauth2_proxy(self, name: str, auth: AuthSettings, domain: str, site: Placement,
                      client_secret: pulumi.Input[str]) -> None:
        """oauth2-proxy: its Secret (client secret, generated cookie secret), Deployment, Service and policy."""
        oidc = auth.oidc
        assert oidc is not None
        labels = recommended_labels(OAUTH2_PROXY, "auth", site.instance, OAUTH2_PROXY_VERSION)
        named = Metadata(site.namespace, labels).named
        cookie = generated_password(f"{name}-cookie-secret", self.child)  # 32 characters: an AES-256 key
        secret = k8s.core.v1.Secret(
            f"{name}-oauth2-proxy", metadata=named(OAUTH2_PROXY), type="Opaque",
            string_data={"client-secret": client_secret, "cookie-secret": cookie.result}, opts=self.fixed_name())
        container = w.Container(
            name="oauth2-proxy", image=OAUTH2_PROXY_IMAGE, resources=oidc.resources,
            ports={"http": OAUTH2_PROXY_PORT}, args=oauth2_proxy_args(auth, domain),
            secret_env={"OAUTH2_PROXY_CLIENT_SECRET": w.SecretRef(secret.metadata.name, "client-secret"),
                        "OAUTH2_PROXY_COOKIE_SECRET": w.SecretRef(secret.metadata.name, "cookie-secret")},
            probes=w.Probes(readiness=w.Probe(http_path="/ready", port="http", period_seconds=10),
                            liveness=w.Probe(http_path="/ping", port="http", period_seconds=20)),)
        selector = selector_labels(labels)
        k8s.apps.v1.Deployment(
            f"{name}-oauth2-proxy", metadata=named(OAUTH2_PROXY, w.controller_annotations()),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=oidc.replicas, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="RollingUpdate", rolling_update=(
                    k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1))),
                template=w.pod_template(labels=labels, containers=[container], run_as=OAUTH2_PROXY_USER,
                                        termination_grace_period_seconds=30)),
            opts=self.child)
        cluster_service(f"{name}-oauth2-proxy-service", named(OAUTH2_PROXY), selector,
                        service_ports([container], only=("http",)), self.child)
        k8s.networking.v1.NetworkPolicy(f"{name}-oauth2-proxy-traffic", metadata=named(OAUTH2_PROXY),
                                        spec=site.traffic.policy(OAUTH2_PROXY, selector), opts=self.child)
        if oidc.replicas >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-oauth2-proxy-pdb", metadata=named(OAUTH2_PROXY),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)),
                opts=self.child)
