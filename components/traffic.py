"""A traffic graph: named peers and client -> server:port connections, from which every NetworkPolicy is written.

As cdk8s-plus's `allowTo`, one connection writes both of its ends: the client's egress rule and the server's
ingress rule, so neither side can be forgotten. A peer outside the graph's own namespace (another namespace's
pods, address ranges) has only the end the stack can write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi_kubernetes as k8s

net = k8s.networking.v1
APP = "app.kubernetes.io/name"
EVERY_POD = "every pod"  # the peer that is every pod of the graph's namespace (Peer())


class TrafficError(ValueError):
    """A connection names a peer the graph does not know."""


@dataclass(frozen=True)
class Peer:
    """Who is at one end: pods (by app name and labels) here or in another namespace, and/or address ranges."""

    app: str | None = None  # app.kubernetes.io/name; None with no labels: every pod
    namespace: str | None = None  # None: the graph's own namespace
    labels: Mapping[str, str] = field(default_factory=dict)
    pods: bool = True  # False: address ranges only
    cidrs: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()  # cut out of each range that holds them

    @property
    def local(self) -> bool:
        """Pods in the graph's own namespace: the stack writes this end's policy."""
        return self.pods and self.namespace is None

    def selector(self) -> dict[str, str]:
        """The pod labels this peer matches."""
        return {**({APP: self.app} if self.app else {}), **self.labels}

    def entries(self) -> list[net.NetworkPolicyPeerArgs]:
        """This peer as NetworkPolicy peers (`from`/`to` entries)."""
        found = []
        if self.pods:
            labels = self.selector()
            found.append(net.NetworkPolicyPeerArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels) if labels or not self.namespace
                else None,
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"kubernetes.io/metadata.name": self.namespace}) if self.namespace else None))
        found += [net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(
            cidr=cidr, except_=[c for c in self.excluded if _strictly_inside(c, cidr)] or None)) for cidr in self.cidrs]
        return found


def app(name: str, namespace: str | None = None) -> Peer:
    """The pods of one app (by app.kubernetes.io/name), here or in another namespace."""
    return Peer(app=name, namespace=namespace)


def namespace(name: str) -> Peer:
    """Every pod of another namespace."""
    return Peer(namespace=name)


def addresses(cidrs: Sequence[str], excluded: Sequence[str] = ()) -> Peer:
    """Address ranges, less the excluded ranges inside them."""
    return Peer(pods=False, cidrs=tuple(cidrs), excluded=tuple(excluded))


@dataclass(frozen=True)
class Connection:
    """`client` may open a connection to `server` on these ports."""

    client: str
    server: str
    ports: tuple[int, ...]
    protocols: tuple[str, ...] = ("TCP",)

    def port_args(self) -> list[net.NetworkPolicyPortArgs]:
        return [net.NetworkPolicyPortArgs(port=port, protocol=protocol)
                for protocol in self.protocols for port in self.ports]


class TrafficGraph:
    """The allowed connections between named peers; the NetworkPolicy of any local peer, both sides."""

    def __init__(self, peers: Mapping[str, Peer], connections: Iterable[Connection] = ()) -> None:
        self.peers = dict(peers)
        self.connections: list[Connection] = []
        for connection in connections:
            self.allow(connection)

    def allow(self, connection: Connection) -> TrafficGraph:
        """Add one connection (both of its ends are written from it)."""
        for end in (connection.client, connection.server):
            if end not in self.peers:
                raise TrafficError(f"connection {connection.client} -> {connection.server}: no peer {end!r} "
                                   f"(known: {', '.join(sorted(self.peers))})")
        if not connection.ports:
            raise TrafficError(f"connection {connection.client} -> {connection.server}: no port")
        if not (self.peers[connection.client].local or self.peers[connection.server].local):
            raise TrafficError(f"connection {connection.client} -> {connection.server}: neither end is a pod of "
                               "this namespace, so no policy of the stack can allow it")
        self.connections.append(connection)
        return self

    def ingress(self, server: str) -> list[net.NetworkPolicyIngressRuleArgs]:
        """Who may connect to `server`: one rule per set of ports, its clients in the order declared."""
        return [net.NetworkPolicyIngressRuleArgs(from_=peers, ports=ports)
                for ports, peers in self._rules(server, "server")]

    def egress(self, client: str) -> list[net.NetworkPolicyEgressRuleArgs]:
        """Where `client` may connect: one rule per set of ports, its servers in the order declared."""
        return [net.NetworkPolicyEgressRuleArgs(to=peers, ports=ports)
                for ports, peers in self._rules(client, "client")]

    def policy(self, name: str, selector: Mapping[str, str] | None = None,
               types: Sequence[str] = ("Ingress", "Egress")) -> net.NetworkPolicySpecArgs:
        """The NetworkPolicy spec of local peer `name` (selecting `selector`, by default the peer's labels)."""
        peer = self.peers.get(name)
        if peer is None or not peer.local:
            raise TrafficError(f"no local peer {name!r} to write a NetworkPolicy for")
        labels = dict(selector) if selector is not None else peer.selector()
        return net.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels or None), policy_types=list(types),
            ingress=(self.ingress(name) or None) if "Ingress" in types else None,
            egress=(self.egress(name) or None) if "Egress" in types else None)

    def _rules(self, name: str, end: str) -> list[tuple[list, list]]:
        other = "client" if end == "server" else "server"
        groups: dict[tuple, list] = {}
        for connection in self.connections:
            if getattr(connection, end) == name:
                key = (connection.protocols, connection.ports)
                groups.setdefault(key, [])
                peer = getattr(connection, other)
                if peer not in groups[key]:
                    groups[key].append(peer)
        return [(Connection("", "", ports, protocols).port_args(),
                 [entry for peer in peers for entry in self.peers[peer].entries()])
                for (protocols, ports), peers in groups.items()]


def _strictly_inside(inner: str, outer: str) -> bool:
    import ipaddress

    a, b = ipaddress.ip_network(inner), ipaddress.ip_network(outer)
    return a.version == b.version and a != b and a.subnet_of(b)  # type: ignore[arg-type]
