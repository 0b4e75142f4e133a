"""Ingress: the public host with TLS from cert-manager, routes to the services, and Traefik middlewares."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.component import Component, Placement
from components.edge_auth import EDGE_AUTH, MCP_AUTH, OAUTH2_PROXY, OAUTH2_PROXY_PORT, SIGN_IN_PATH, auth_middlewares
from components.labels import recommended_labels
from components.objects import Metadata
from components.service_catalog import BY_KEY
from components.traffic import TrafficGraph
from monitoring import ports
from stackconfig.model import StackConfig

TLS_SECRET = "archon-tls"
SOLVER_LABEL = "acme.cert-manager.io/http01-solver"  # on the pods cert-manager starts for HTTP-01 challenges
SOLVER_PORT = 8089
SOLVER = "acme-http01-solver"  # the solver pods, as a peer of the traffic graph
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; "
       "form-action 'self'")
# path -> service key: the deployment guide's routes; `ingress.routes` adds to them.
ROUTES = {"/": "frontend", "/api": "server", "/health": "server", "/mcp": "mcp"}
STREAM_TYPES = ["text/event-stream"]  # never compressed: a compressor holds events back until it has enough bytes
SIGN_IN_EXEMPTION = {
    "policy.archon.io/exempt": "ingress-routes-authenticated",
    "policy.archon.io/justification": "oauth2-proxy's own routes (sign-in, callback, sign-out) are how a user "
                                      "authenticates, so they cannot require it",
}

ACKNOWLEDGED_EXEMPTION = {
    "policy.archon.io/exempt": "ingress-routes-authenticated",
    "policy.archon.io/justification": "ingress.auth.acknowledgeUnauthenticated: the stack's config says something in "
                                      "front of the ingress authenticates",
}


@dataclass(frozen=True)
class RouteGroup:
    """Routes that share one middleware chain, and so one Ingress object (`resource`: its Pulumi name's suffix)."""

    resource: str
    object_name: str
    chain: tuple[str, ...]
    routes: dict[str, tuple[str, int]]  # path -> (Service, port)
    annotations: dict[str, str] = field(default_factory=dict)


def middlewares(cfg: StackConfig) -> dict[str, dict]:
    """The Traefik middleware specs every route gets, by name."""
    production = cfg.environment == "production"
    return {
        "security-headers": {"headers": {
            "stsSeconds": 31536000 if production else 86400, "stsIncludeSubdomains": production,
            "stsPreload": production, "forceSTSHeader": True, "frameDeny": True, "contentTypeNosniff": True,
            "referrerPolicy": "strict-origin-when-cross-origin", "contentSecurityPolicy": CSP,
            "permissionsPolicy": "camera=(), microphone=(), geolocation=()"}},
        "rate-limit": {"rateLimit": {"average": cfg.ingress.rate_limit.average,
                                     "burst": cfg.ingress.rate_limit.burst}},
        "compress": {"compress": {"excludedContentTypes": STREAM_TYPES}},
        # Traefik's buffering holds whole responses too (its CRD cannot turn that off, traefik/traefik#12869), so it
        # is on the routes that do not stream only.
        "body-limit": {"buffering": {"maxRequestBodyBytes": cfg.ingress.body_limit_mb * 1024 * 1024}},
        **auth_middlewares(cfg.ingress.auth, cfg.namespace),
    }


def route_groups(cfg: StackConfig) -> list[RouteGroup]:
    """The public host's routes by middleware chain: the app behind edge-auth with bodies limited, the MCP
    endpoint behind mcp-auth, other streaming routes unbuffered, and oauth2-proxy's own routes open."""
    auth = cfg.ingress.auth.mode != "none"
    edge = ("security-headers", "rate-limit", *((EDGE_AUTH,) if auth else ()))
    mcp = BY_KEY["mcp"]
    groups = {"buffered": RouteGroup("app", "archon", (*edge, "compress", "body-limit"), {}),
              "mcp": RouteGroup("mcp", "archon-mcp",
                                ("security-headers", "rate-limit", *((MCP_AUTH,) if auth else ())), {}),
              "streaming": RouteGroup("streaming", "archon-streaming", edge, {})}
    routes = [(path, BY_KEY[key].name, BY_KEY[key].service_port, BY_KEY[key].streams) for path, key in ROUTES.items()]
    routes += [(r.path, r.service, r.port, r.streaming) for r in cfg.ingress.routes]
    for path, service, port, streams in routes:
        group = "mcp" if service == mcp.name else "streaming" if streams else "buffered"
        for other in groups.values():
            other.routes.pop(path, None)  # a configured route replaces a built-in one on the same path
        groups[group].routes[path] = (service, port)
    out = [group for group in groups.values() if group.routes]
    if not auth and cfg.ingress.auth.acknowledge_unauthenticated:
        out = [dataclasses.replace(group, annotations=dict(ACKNOWLEDGED_EXEMPTION)) for group in out]
    if cfg.ingress.auth.mode == "oidc":
        out.append(RouteGroup("sign-in", "archon-sign-in", ("security-headers", "rate-limit"),
                              {SIGN_IN_PATH: (OAUTH2_PROXY, OAUTH2_PROXY_PORT)}, dict(SIGN_IN_EXEMPTION)))
    return out


class Ingress(Component):
    """Certificate, middlewares, the app Ingress and the optional Grafana Ingress, and the HTTP-01 solver's way in.

    Nothing waits for the certificate: until cert-manager issues it, Traefik serves its default certificate, and a
    certificate that cannot be issued shows on the Certificate's status instead of failing the up.
    """

    urls: dict[str, str]

    def __init__(self, name: str, *, cfg: StackConfig, site: Placement, issuer: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        # Its children wait for what the component waits for (the CRDs' releases, the services).
        super().__init__("archon:components:Ingress", name, opts)
        child = self.child
        ingress = cfg.ingress
        self._cfg = cfg
        self._metadata = Metadata(site.namespace, recommended_labels("archon-ingress", "ingress", site.instance,
                                                                     cfg.images.tag))
        traefik = self._traefik = ingress.class_name == "traefik" or ingress.install_controller
        meta = self._metadata.named

        self.middlewares = {}
        if traefik:
            specs = middlewares(cfg)
            if ingress.grafana:
                specs["grafana-allow-list"] = {"ipAllowList": {"sourceRange": list(ingress.grafana.allow_cidrs)}}
            for middleware, spec in specs.items():
                self.middlewares[middleware] = k8s.apiextensions.CustomResource(
                    f"{name}-{middleware}", api_version="traefik.io/v1alpha1", kind="Middleware",
                    metadata=meta(middleware), spec=spec, opts=child)
        hosts = [cfg.domain] + ([ingress.grafana.host] if ingress.grafana else [])
        self.certificate = k8s.apiextensions.CustomResource(
            f"{name}-certificate", api_version="cert-manager.io/v1", kind="Certificate",
            metadata=meta(TLS_SECRET),
            spec={"secretName": TLS_SECRET, "dnsNames": hosts, "issuerRef": {"kind": "ClusterIssuer", "name": issuer}},
            opts=child)
        if ingress.tls_issuer.startswith("letsencrypt"):
            self._solver_policy(f"{name}-acme-solver", site.traffic)

        self.ingresses = {group.object_name: self._ingress(f"{name}-{group.resource}", group.object_name, cfg.domain,
                                                           group.routes, list(group.chain), group.annotations)
                          for group in route_groups(cfg)}
        self.ingress = next(iter(self.ingresses.values()))  # the app's, whose status carries the address
        if ingress.grafana:  # Grafana signs users in itself, from the listed networks only
            self.grafana = self._ingress(f"{name}-grafana", "archon-grafana", ingress.grafana.host,
                                         {"/": ("archon-grafana", ports.GRAFANA)},
                                         ["grafana-allow-list", "security-headers", "rate-limit", "compress",
                                          "body-limit"])
        self.urls = {"app": f"https://{cfg.domain}/", "api": f"https://{cfg.domain}/api",
                     "health": f"https://{cfg.domain}/health", "mcp": f"https://{cfg.domain}/mcp"}
        if ingress.grafana:
            self.urls["grafana"] = f"https://{ingress.grafana.host}/"
        # Where DNS for the domain must point: the address the controller published on the Ingress (none on a
        # NodePort controller, or before an existing controller publishes one).
        self.address = self.ingress.status.apply(_published_address)
        self.register_outputs({"urls": self.urls, "address": self.address})

    def _solver_policy(self, resource: str, traffic: TrafficGraph) -> None:
        """cert-manager runs the HTTP-01 solver pod in this namespace, where default-deny would keep the
        controller (and so Let's Encrypt) from reaching it."""
        k8s.networking.v1.NetworkPolicy(
            resource, metadata=self._metadata.named("archon-acme-http01-solver"),
            spec=traffic.policy(SOLVER, types=("Ingress",)),
            opts=self.child)

    def _ingress(self, resource: str, object_name: str, host: str, routes: dict,
                 chain: list[str], extra: dict[str, str] | None = None) -> k8s.networking.v1.Ingress:
        """An Ingress for one host: TLS from the certificate, the routes, and (on Traefik) the middleware chain."""
        cfg = self._cfg
        annotations = dict(extra or {})
        if self._traefik:
            # HTTPS only: plain HTTP is redirected by the controller's web entry point (IngressController).
            annotations["traefik.ingress.kubernetes.io/router.entrypoints"] = "websecure"
            annotations["traefik.ingress.kubernetes.io/router.middlewares"] = ",".join(
                f"{cfg.namespace}-{m}@kubernetescrd" for m in chain)
        if not cfg.ingress.install_controller or cfg.ingress.controller.service_type != "LoadBalancer":
            # An existing controller may not publish Ingress status, and ours has no address without a load balancer.
            annotations["pulumi.com/skipAwait"] = "true"
        paths = [k8s.networking.v1.HTTPIngressPathArgs(
            path=path, path_type="Prefix", backend=k8s.networking.v1.IngressBackendArgs(
                service=k8s.networking.v1.IngressServiceBackendArgs(
                    name=service, port=k8s.networking.v1.ServiceBackendPortArgs(number=port))))
            for path, (service, port) in sorted(routes.items())]
        return k8s.networking.v1.Ingress(
            resource,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=self._metadata.namespace,
                                                labels=dict(self._metadata.labels), annotations=annotations),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=cfg.ingress.class_name,
                tls=[k8s.networking.v1.IngressTLSArgs(hosts=[host], secret_name=TLS_SECRET)],
                rules=[k8s.networking.v1.IngressRuleArgs(host=host, http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                    paths=paths))]),
            opts=self.options(depends_on=[self.certificate, *self.middlewares.values()]))


def _published_address(status) -> str | None:
    """The first IP or host name in an Ingress status, if any."""
    balancer = getattr(status, "load_balancer", None)
    for entry in getattr(balancer, "ingress", None) or []:
        return getattr(entry, "ip", None) or getattr(entry, "hostname", None)
    return None
