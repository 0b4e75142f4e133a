"""The stack's allowed connections, declared once: who may connect to whom, on the port the server defines.

Every NetworkPolicy of the stack is generated from this table (components/traffic.py writes both ends of each
row). A row whose client or server the stack does not run (a feature off, Supabase instead of PostgreSQL,
operator-mode monitoring) opens nothing.
"""

from __future__ import annotations

from components import backups, data_api
from components.database_engines import ENGINES, MEMGRAPH, POSTGRES, QDRANT, REDIS
from components.edge_auth import OAUTH2_PROXY, OAUTH2_PROXY_PORT
from components.ingress import SOLVER, SOLVER_LABEL, SOLVER_PORT
from components.service_catalog import BY_KEY
from components.traffic import EVERY_POD, Connection, Peer, TrafficGraph, addresses, app, namespace
from monitoring import ports
from stackconfig.model import StackConfig

DNS_PORT = 53
INGRESS_CONTROLLER, DNS, API_SERVER, INTERNET = "ingress controller", "cluster DNS", "API server", "internet"
KUBELETS = "kubelets"  # every node's kubelet, at the nodes' addresses
SUPABASE, BACKUP_BUCKET = "Supabase project", "backup bucket"  # outside the cluster, as the internet is
GRAFANA_ROUTE = "ingress controller (Grafana's host)"  # the controller, where ingress.grafana publishes Grafana
TRAEFIK, CERT_MANAGER = "traefik", "cert-manager"  # their pods, where the stack installs them
FRONTEND, SERVER, MCP, AGENTS, INTELLIGENCE = (BY_KEY[key] for key in ("frontend", "server", "mcp", "agents",
                                                                     "intelligence"))
PROMETHEUS, ALERTMANAGER, KSM = "prometheus", "alertmanager", "kube-state-metrics"
GRAFANA, LOKI, ALLOY = "grafana", "loki", "alloy"
METRICS = {engine.name: engine.exporter.port for engine in ENGINES.values() if engine.exporter}

# client, server, ports (TCP unless said); the server's own definition gives each port.
CONNECTIONS: tuple[Connection, ...] = (
    Connection(EVERY_POD, DNS, (DNS_PORT,), ("UDP", "TCP")),
    # The app: the controller reaches the public services; nginx proxies /api to the server; the services call
    # each other; the server and MCP read the database through the data API (or the managed Supabase project).
    *(Connection(c, SERVER.name, (SERVER.container_port,)) for c in (FRONTEND.name, MCP.name, AGENTS.name,
                                                                      INTELLIGENCE.name, INGRESS_CONTROLLER)),
    *(Connection(c, MCP.name, (MCP.container_port,)) for c in (SERVER.name, AGENTS.name, INGRESS_CONTROLLER)),
    # The server's agent chat runs the agents (POST /agents/run); the MCP server checks their health.
    *(Connection(c, AGENTS.name, (AGENTS.container_port,)) for c in (SERVER.name, MCP.name)),
    Connection(INGRESS_CONTROLLER, FRONTEND.name, (FRONTEND.container_port,)),
    # OIDC at the edge: the controller asks oauth2-proxy about each request; oauth2-proxy asks the provider.
    Connection(INGRESS_CONTROLLER, OAUTH2_PROXY, (OAUTH2_PROXY_PORT,)),
    Connection(OAUTH2_PROXY, INTERNET, (443,)),
    *(Connection(c, data_api.NAME, (data_api.PORT,)) for c in (SERVER.name, MCP.name)),
    Connection(SERVER.name, INTERNET, (80, 443)),  # crawling
    *(Connection(c, INTERNET, (443,)) for c in (INTELLIGENCE.name, AGENTS.name)),  # model providers
    *(Connection(c, SUPABASE, (443,)) for c in (SERVER.name, MCP.name, INTELLIGENCE.name)),
    # The data stores and who reads them.
    *(Connection(c, POSTGRES.name, (POSTGRES.port,)) for c in (data_api.NAME, data_api.MIGRATE, INTELLIGENCE.name,
                                                               backups.NAME)),
    Connection(INTELLIGENCE.name, REDIS.name, (REDIS.port,)),
    *(Connection(c, QDRANT.name, (QDRANT.port,)) for c in (INTELLIGENCE.name, backups.NAME)),
    Connection(INTELLIGENCE.name, MEMGRAPH.name, (MEMGRAPH.port,)),
    Connection(backups.NAME, BACKUP_BUCKET, (443,)),
    # Monitoring: Prometheus scrapes (here, or the operator's from its namespace) and alerts; Grafana queries;
    # Alloy ships logs; the readers of the Kubernetes API reach it.
    *(Connection(PROMETHEUS, engine, (port,)) for engine, port in METRICS.items()),
    Connection(PROMETHEUS, GRAFANA, (ports.GRAFANA,)),
    Connection(PROMETHEUS, LOKI, (ports.LOKI,)),
    Connection(PROMETHEUS, ALLOY, (ports.ALLOY,)),
    Connection(PROMETHEUS, KSM, (ports.KUBE_STATE_METRICS,)),
    Connection(PROMETHEUS, ALERTMANAGER, (ports.ALERTMANAGER,)),
    Connection(PROMETHEUS, TRAEFIK, (ports.TRAEFIK_METRICS,)),
    Connection(PROMETHEUS, CERT_MANAGER, (ports.CERT_MANAGER_METRICS,)),
    Connection(GRAFANA, PROMETHEUS, (ports.PROMETHEUS,)),
    *(Connection(c, LOKI, (ports.LOKI,)) for c in (ALLOY, GRAFANA)),
    Connection(GRAFANA_ROUTE, GRAFANA, (ports.GRAFANA,)),
    *(Connection(c, API_SERVER, ports.KUBERNETES_API) for c in (PROMETHEUS, KSM, ALLOY)),
    Connection(PROMETHEUS, KUBELETS, (ports.KUBELET,)),
    Connection(ALERTMANAGER, INTERNET, ports.SMTP_AND_WEBHOOKS),
    Connection(INGRESS_CONTROLLER, SOLVER, (SOLVER_PORT,)),
)


def stack_peers(cfg: StackConfig) -> dict[str, Peer]:
    """The peers this stack's config runs or reaches, by name."""
    network, ingress, monitoring = cfg.network, cfg.ingress, cfg.monitoring
    outside = addresses(network.external_cidrs, network.excluded_cidrs)
    dns = network.dns
    peers = {EVERY_POD: Peer(),
             DNS: Peer(namespace=dns.namespace, labels=dict(dns.pod_labels), cidrs=tuple(dns.cidrs)),
             INGRESS_CONTROLLER: namespace(ingress.controller_namespace), INTERNET: outside,
             backups.NAME: app(backups.NAME)}
    peers |= {BY_KEY[key].name: app(BY_KEY[key].name) for key in cfg.enabled_services()}
    peers |= {ENGINES[key].name: app(ENGINES[key].name) for key in cfg.data_stores()}
    if ingress.auth.mode == "oidc":
        peers[OAUTH2_PROXY] = app(OAUTH2_PROXY)
    if cfg.databases.provider == "supabase":
        peers[SUPABASE] = outside
    else:
        peers |= {data_api.NAME: app(data_api.NAME), data_api.MIGRATE: app(data_api.MIGRATE)}
    if cfg.databases.backup.s3:
        peers[BACKUP_BUCKET] = outside
    if ingress.tls_issuer.startswith("letsencrypt"):
        peers[SOLVER] = Peer(labels={SOLVER_LABEL: "true"})
    if monitoring.enabled:
        peers |= {name: app(name) for name in (GRAFANA, LOKI, ALLOY)}
        peers[API_SERVER] = addresses(network.api_server_cidrs)
        if ingress.grafana:
            peers[GRAFANA_ROUTE] = namespace(ingress.controller_namespace)
        if monitoring.mode == "operator":
            peers[PROMETHEUS] = app(PROMETHEUS, monitoring.operator.namespace)
        else:
            peers |= {name: app(name) for name in (PROMETHEUS, ALERTMANAGER, KSM)}
            peers[KUBELETS] = addresses(network.node_cidrs)
            if ingress.install_controller:
                peers[TRAEFIK] = namespace(ingress.controller_namespace)
            if ingress.install_cert_manager:
                peers[CERT_MANAGER] = namespace("cert-manager")
    return peers


def stack_traffic(cfg: StackConfig) -> TrafficGraph:
    """The stack's traffic graph: the rows of CONNECTIONS whose two ends this config has, one end of them here
    (an operator's Prometheus reaching the API server is the operator's business)."""
    peers = stack_peers(cfg)
    return TrafficGraph(peers, (c for c in CONNECTIONS if c.client in peers and c.server in peers
                                and (peers[c.client].local or peers[c.server].local)))
