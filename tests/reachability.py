"""Which connections a plan's NetworkPolicies allow, read from the rendered manifests as Kubernetes reads them.

Independent of how the program builds its policies: a connection from one endpoint to another on a port is
allowed when the source's egress allows it (or no policy isolates the source for egress) and the destination's
ingress allows it (or no policy isolates it for ingress). Endpoints are the plan's pod templates plus probes
outside it: pods of other namespaces (the ingress controller's, DNS, an operator's Prometheus) and addresses
(one inside each CIDR a policy names, one public, one private).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

PUBLIC, PRIVATE = "a public address", "a private address"  # probes: 93.184.216.34, 10.96.0.10
POD_KINDS = {"Deployment": ("spec", "template"), "StatefulSet": ("spec", "template"),
             "Job": ("spec", "template"), "CronJob": ("spec", "jobTemplate", "spec", "template")}


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace and labels) or an address."""

    name: str
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    address: str | None = None
    in_plan: bool = False


def _template(manifest: dict) -> dict | None:
    node = manifest
    for key in POD_KINDS.get(manifest["kind"], ()):
        node = node.get(key) or {}
    return node if manifest["kind"] in POD_KINDS else None


def _matches(selector: dict | None, labels: dict) -> bool:
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        value, op, values = labels.get(expression["key"]), expression["operator"], expression.get("values") or []
        if (op == "In" and value not in values) or (op == "NotIn" and value in values) or \
                (op == "Exists" and value is None) or (op == "DoesNotExist" and value is not None):
            return False
    return True


def _peer_matches(peer: dict, endpoint: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if endpoint.address is None:
            return False
        address = ipaddress.ip_address(endpoint.address)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(c) for c in block.get("except") or [])
    if endpoint.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not _matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": endpoint.namespace}):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or _matches(peer["podSelector"], dict(endpoint.labels))


def _port_matches(rule_ports: list | None, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        if isinstance(p["port"], int) and p["port"] <= port <= p.get("endPort", p["port"]):
            return True
    return False


class Reachability:
    """The allowed connections of one plan (its manifests), over its pods and the probes outside it."""

    def __init__(self, manifests: list[dict], outside: list[Endpoint] = (), extra_pods: list[Endpoint] = ()) -> None:
        self.policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
        self.pods: list[Endpoint] = []
        for m in manifests:
            template = _template(m)
            if template is not None:
                labels = (template.get("metadata") or {}).get("labels") or {}
                name = labels.get("app.kubernetes.io/name", f"{m['kind']}/{m['metadata']['name']}")
                self.pods.append(Endpoint(name, m["metadata"]["namespace"], tuple(sorted(labels.items())),
                                          in_plan=True))
        self.pods += extra_pods
        self.endpoints = [*self.pods, *outside, *self._addresses()]
        self.ports = sorted({(p.get("port"), p.get("protocol", "TCP")) for pol in self.policies
                             for rules in (pol["spec"].get("ingress") or [], pol["spec"].get("egress") or [])
                             for rule in rules for p in rule.get("ports") or [] if isinstance(p.get("port"), int)}
                            | {(1, "TCP")})  # a port no rule names

    def _addresses(self) -> list[Endpoint]:
        cidrs = {peer["ipBlock"]["cidr"] for pol in self.policies for rule in pol["spec"].get("egress") or []
                 for peer in rule.get("to") or [] if "ipBlock" in peer}
        cidrs |= {c for pol in self.policies for rule in pol["spec"].get("egress") or []
                  for peer in rule.get("to") or [] if "ipBlock" in peer for c in peer["ipBlock"].get("except") or []}
        found = [Endpoint(f"address {c}", address=str(next(iter(ipaddress.ip_network(c).hosts()),
                                                           ipaddress.ip_network(c).network_address)))
                 for c in sorted(cidrs)]
        return [*found, Endpoint(PUBLIC, address="93.184.216.34"), Endpoint(PRIVATE, address="10.96.0.10")]

    def _side(self, endpoint: Endpoint, other: Endpoint, port: int, protocol: str, direction: str) -> bool:
        if not endpoint.in_plan:
            return True  # outside the plan: not ours to restrict
        isolating = [p for p in self.policies if p["metadata"]["namespace"] == endpoint.namespace
                     and _matches(p["spec"].get("podSelector"), dict(endpoint.labels))
                     and direction in p["spec"].get("policyTypes", ["Ingress"])]
        if not isolating:
            return True
        key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        return any(_port_matches(rule.get("ports"), port, protocol) and
                   (not rule.get(peers) or any(_peer_matches(peer, other, p["metadata"]["namespace"])
                                               for peer in rule[peers]))
                   for p in isolating for rule in p["spec"].get(key) or [])

    def allowed(self) -> set[tuple[str, str, int, str]]:
        """Every (source, destination, port, protocol) allowed, with at least one end in the plan."""
        found = set()
        for src in self.endpoints:
            for dst in self.endpoints:
                if src is dst or not (src.in_plan or dst.in_plan) or (dst.address and not src.in_plan):
                    continue
                for port, protocol in self.ports:
                    if self._side(src, dst, port, protocol, "Egress") and \
                            self._side(dst, src, port, protocol, "Ingress"):
                        found.add((src.name, dst.name, port, protocol))
        return found


def outside_pod(namespace: str, labels: dict[str, str] | None = None) -> Endpoint:
    """A probe pod in another namespace, named `namespace/app` (`namespace/*` without an app label)."""
    labels = labels or {}
    app = labels.get("app.kubernetes.io/name") or labels.get("k8s-app") or "*"
    return Endpoint(f"{namespace}/{app}", namespace, tuple(sorted(labels.items())))


# Pods outside the plan that policies may name: the ingress controller's, cert-manager's, cluster DNS, an
# operator's Prometheus, a pod labelled prometheus elsewhere, and a pod of an unrelated namespace.
PROBES = [outside_pod("traefik", {"app.kubernetes.io/name": "traefik"}),
          outside_pod("cert-manager", {"app.kubernetes.io/name": "cert-manager"}),
          outside_pod("kube-system", {"k8s-app": "kube-dns"}),
          outside_pod("observability", {"app.kubernetes.io/name": "prometheus"}),
          outside_pod("default", {"app.kubernetes.io/name": "prometheus"}), outside_pod("elsewhere")]
SOLVER_LABELS = (("acme.cert-manager.io/http01-solver", "true"),)


def connections(manifests: list[dict]) -> set[tuple[str, str, int, str]]:
    """The allowed connections of a plan's manifests, over its pods, cert-manager's HTTP-01 solver pod (which
    cert-manager starts in the namespace) and PROBES."""
    namespace = next(m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace")
    solver = Endpoint("acme-http01-solver", namespace, SOLVER_LABELS, in_plan=True)
    return Reachability(manifests, PROBES, [solver]).allowed()


def clients(found: set, server: str, port: int, protocol: str = "TCP") -> set[str]:
    """Who may connect to `server` on `port`."""
    return {c for c, s, p, proto in found if s == server and p == port and proto == protocol}


def reaches(found: set, client: str) -> set[tuple[str, int]]:
    """Where `client` may connect (server, port), TCP, DNS aside."""
    return {(s, p) for c, s, p, proto in found if c == client and proto == "TCP" and p != 53}
