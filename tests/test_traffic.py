"""The traffic graph: every NetworkPolicy comes from components/connections.py, both ends of each row, and nothing
else is open (read back from the rendered manifests by tests/reachability.py, which knows nothing of the graph)."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

import pytest

from components.connections import CONNECTIONS, stack_peers, stack_traffic
from components.traffic import Connection, Peer, TrafficError, TrafficGraph, addresses, app, namespace
from offline.project import read_stack
from offline.variant import copy_project, edit_stack
from stackconfig import StackConfig, load_stack_config
from tests.conftest import ROOT, Plan, plan_with, raw_config
from tests.helpers import use_supabase
from tests.reachability import PROBES, SOLVER_LABELS, Endpoint, Reachability

OPERATOR = {"mode": "operator", "operator": {"namespace": "observability", "labels": {"release": "kps"}}}


def with_everything(config: dict) -> None:
    """Every optional part on: intelligence, Grafana's host, S3 backups, Let's Encrypt's HTTP-01 solver, OIDC at the
    edge."""
    config["archon:features"]["intelligence"] = True
    config["archon:images"]["prebuilt"]["intelligence"] = "ghcr.io/acme/archon/intelligence:v0.1.0"
    config["archon:ingress"]["grafana"] = {"host": "grafana.archon.acmecorp.io", "allowCidrs": ["203.0.113.0/24"]}
    config["archon:databases"]["backup"]["s3"] = {"endpoint": "https://s3.eu-west-1.amazonaws.com",
                                                  "bucket": "acme-archon-backups", "region": "eu-west-1"}
    config["archon:backupS3AccessKeyId"] = {"secure": "v1:a2V5"}
    config["archon:backupS3SecretAccessKey"] = {"secure": "v1:c2VjcmV0"}
    config["archon:ingress"]["auth"] = {"mode": "oidc", "oidc": {"issuerUrl": "https://login.acmecorp.io/realms/archon",
                                                                 "clientId": "archon", "emailDomains": ["acmecorp.io"]}}
    config["archon:oidcClientSecret"] = {"secure": "v1:b2lkYw=="}


VARIANTS = {
    "production, everything on": ("production", with_everything),
    "staging, operator-mode monitoring": ("staging", lambda c: c["archon:monitoring"].update(OPERATOR)),
    "staging, Supabase and intelligence": ("staging", lambda c: (use_supabase(c), with_everything(c))),
    "staging, no monitoring": ("staging", lambda c: c["archon:monitoring"].update(enabled=False)),
}


def test_a_connection_writes_both_ends_and_nothing_else():
    graph = TrafficGraph({"a": app("a"), "b": app("b"), "c": app("c")})
    before = {name: graph.policy(name) for name in "abc"}
    graph.allow(Connection("a", "b", (8080,)))
    a, b, c = (graph.policy(name) for name in "abc")
    assert [[p.pod_selector.match_labels for p in r.to] for r in a.egress] == [[{"app.kubernetes.io/name": "b"}]]
    assert [[p.port for p in r.ports] for r in a.egress] == [[8080]] and a.ingress is None
    assert [[p.pod_selector.match_labels for p in r.from_] for r in b.ingress] == [[{"app.kubernetes.io/name": "a"}]]
    assert b.egress is None
    assert (c.ingress, c.egress) == (before["c"].ingress, before["c"].egress) == (None, None)


def test_connections_to_the_same_ports_share_a_rule_in_the_order_declared():
    graph = TrafficGraph({"s": app("s"), "x": app("x"), "y": namespace("other")},
                         [Connection("x", "s", (80,)), Connection("y", "s", (80,)), Connection("x", "s", (9100,))])
    rules = graph.policy("s").ingress
    assert [[p.port for p in r.ports] for r in rules] == [[80], [9100]]
    assert [len(r.from_) for r in rules] == [2, 1]


def test_a_connection_to_an_unknown_peer_or_without_a_port_is_refused_by_name():
    graph = TrafficGraph({"a": app("a")})
    with pytest.raises(TrafficError, match=r"connection a -> nobody: no peer 'nobody' \(known: a\)"):
        graph.allow(Connection("a", "nobody", (80,)))
    with pytest.raises(TrafficError, match="connection a -> a: no port"):
        graph.allow(Connection("a", "a", ()))
    with pytest.raises(TrafficError, match="no local peer 'out'"):
        TrafficGraph({"out": namespace("elsewhere")}).policy("out")
    with pytest.raises(TrafficError, match="out -> web: neither end is a pod of this namespace"):
        TrafficGraph({"out": namespace("elsewhere"), "web": addresses(["0.0.0.0/0"])}).allow(
            Connection("out", "web", (443,)))


def test_address_ranges_cut_out_only_the_excluded_ranges_inside_them():
    (block,) = addresses(["0.0.0.0/0", "fd00::/8"], ["10.0.0.0/8", "fd00::/16"]).entries()[:1]
    assert block.ip_block.except_ == ["10.0.0.0/8"]


def edited_config(tmp_path, stack: str, edit) -> StackConfig:
    """A stack's config with `edit` applied to its stack file, loaded as the program loads it."""
    project = copy_project(tmp_path / stack)
    edit_stack(project, stack, edit)
    return load_stack_config(stack, dict(read_stack(project, stack).config))


def test_every_row_of_the_table_names_peers_some_stack_has(tmp_path):
    names = set(stack_peers(load_stack_config("staging", raw_config("staging"))))
    for number, (stack, edit) in enumerate(VARIANTS.values()):
        names |= set(stack_peers(edited_config(tmp_path / str(number), stack, edit)))
    assert {end for c in CONNECTIONS for end in (c.client, c.server)} <= names


def expected(graph: TrafficGraph, reach: Reachability, stack_namespace: str) -> set[tuple[str, str, int, str]]:
    """The connections the graph declares, over the same endpoints the reachability reads."""
    def matches(peer: Peer, endpoint: Endpoint) -> bool:
        if endpoint.address is not None:
            address = ipaddress.ip_address(endpoint.address)
            return any(address in ipaddress.ip_network(c) for c in peer.cidrs) and not any(
                address in ipaddress.ip_network(c) for c in peer.excluded)
        return peer.pods and endpoint.namespace == (peer.namespace or stack_namespace) and \
            peer.selector().items() <= dict(endpoint.labels).items()
    return {(src.name, dst.name, port, protocol) for c in graph.connections
            for src in reach.endpoints if matches(graph.peers[c.client], src)
            for dst in reach.endpoints if matches(graph.peers[c.server], dst) and src is not dst
            for protocol in c.protocols for port in c.ports}


def check_plan_allows_exactly_the_graph(result: Plan, cfg: StackConfig) -> None:
    assert result.exit_code == 0, result.stderr
    solver = Endpoint("acme-http01-solver", cfg.namespace, SOLVER_LABELS, in_plan=True)
    reach = Reachability(result.manifests, PROBES, [solver])
    assert reach.allowed() == expected(stack_traffic(cfg), reach, cfg.namespace)


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_committed_stacks_allow_exactly_their_graph(plans, stack):
    check_plan_allows_exactly_the_graph(plans[stack], load_stack_config(stack, raw_config(stack)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_allows_exactly_its_graph(tmp_path, variant):
    stack, edit = VARIANTS[variant]
    check_plan_allows_exactly_the_graph(plan_with(tmp_path, stack, edit), edited_config(tmp_path, stack, edit))


def test_adding_one_row_opens_exactly_that_connection_on_both_sides(tmp_path, plans):
    project = copy_project(tmp_path / "project")
    edit_stack(project, "staging", lambda config: None)
    table = project / "components" / "connections.py"
    table.write_text(table.read_text() + "\nCONNECTIONS = (*CONNECTIONS, Connection(FRONTEND.name, MCP.name, "
                                         "(MCP.container_port,)))\n")
    # A process of its own, so the program's modules are the copy's (this one has imported the originals).
    run = subprocess.run([sys.executable, "-m", "offline", "plan", "--stack", "staging", "--out", str(tmp_path / "out"),
                          "--project-dir", str(project)], cwd=project, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    changed = Plan(tmp_path / "out", run.returncode, run.stdout, run.stderr)
    assert changed.connections - plans["staging"].connections == {("archon-frontend", "archon-mcp", 8051, "TCP")}
    assert plans["staging"].connections - changed.connections == set()
    policies = {name: {m["metadata"]["name"]: m["spec"] for m in p.objects("NetworkPolicy")}
                for name, p in (("before", plans["staging"]), ("after", changed))}
    differ = {n for n in policies["after"] if policies["after"][n] != policies["before"].get(n)}
    assert differ == {"archon-frontend", "archon-mcp"}
    # The client's egress side and the server's ingress side, nothing else of either.
    assert policies["after"]["archon-frontend"]["ingress"] == policies["before"]["archon-frontend"]["ingress"]
    assert policies["after"]["archon-mcp"]["egress"] == policies["before"]["archon-mcp"]["egress"]
