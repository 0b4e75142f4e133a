"""Ingress: the public host with TLS from cert-manager, routes to the services, and Traefik middlewares."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.component import Component, Placement
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
        "compress": {"compress": {}},
        "body-limit": {"buffering": {"maxRequestBodyBytes": cfg.ingress.body_limit_mb * 1024 * 1024}},
    }


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

        chain = ["security-headers", "rate-limit", "compress", "body-limit"]
        routes = {path: (BY_KEY[key].name, BY_KEY[key].service_port) for path, key in ROUTES.items()}
        routes |= {route.path: (route.service, route.port) for route in ingress.routes}
        self.ingress = self._ingress(f"{name}-app", "archon", cfg.domain, routes, chain)
        if ingress.grafana:
            self.grafana = self._ingress(f"{name}-grafana", "archon-grafana", ingress.grafana.host,
                                         {"/": ("archon-grafana", ports.GRAFANA)}, ["grafana-allow-list", *chain])
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
                 chain: list[str]) -> k8s.networking.v1.Ingress:
        """An Ingress for one host: TLS from the certificate, the routes, and (on Traefik) the middleware chain."""
        cfg = self._cfg
        annotations = {}
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
