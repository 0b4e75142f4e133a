"""The pydantic model of one stack's configuration; keys are the camelCase names users write."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from monitoring import ports
from stackconfig.types import Cpu, DnsLabel, DnsSubdomain, Duration, Email, ImageTag, Memory


class _Section(BaseModel):
    """Base for every config section: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel,
                              validate_by_alias=True, validate_by_name=False)


class CpuMemory(_Section):
    """A CPU and memory pair, as used for requests and limits."""

    cpu: Cpu
    memory: Memory


class Resources(_Section):
    """Container requests and limits; both are mandatory on every workload."""

    requests: CpuMemory
    limits: CpuMemory


class Autoscaling(_Section):
    """HorizontalPodAutoscaler bounds and targets."""

    enabled: bool = False
    min_replicas: int = Field(default=1, ge=1, le=100)
    max_replicas: int = Field(default=3, ge=1, le=100)
    target_cpu_utilization: int = Field(default=70, ge=1, le=100)
    target_memory_utilization: int = Field(default=80, ge=1, le=100)


class ServiceSettings(_Section):
    """One application service: replica count, rollout surge, autoscaling and resources."""

    replicas: int = Field(ge=0, le=100)
    max_surge: int = Field(default=1, ge=1, le=100)
    autoscaling: Autoscaling = Autoscaling()
    resources: Resources


class Services(_Section):
    """The Archon application services (agents and intelligence only run when their `features` switch is on)."""

    frontend: ServiceSettings
    server: ServiceSettings
    mcp: ServiceSettings
    intelligence: ServiceSettings
    agents: ServiceSettings


class Storage(_Section):
    """A persistent volume request; no storage class means the cluster default."""

    size: Memory
    storage_class: DnsSubdomain | None = None


class DatabaseSettings(_Section):
    """One bundled data store: whether it runs (by default only while a service that uses it runs), replicas, volume
    and resources."""

    enabled: bool | None = None
    replicas: int = Field(default=1, ge=1, le=9)
    storage: Storage
    resources: Resources


class BackupS3(_Section):
    """An S3-compatible bucket for backups; credentials come from secret config."""

    endpoint: str = Field(pattern=r"^https://[^\s/]+(/.*)?$")
    bucket: DnsSubdomain
    region: str = Field(default="us-east-1", min_length=1)
    prefix: str = Field(default="archon", pattern=r"^[A-Za-z0-9._/-]*$")


class BackupSettings(_Section):
    """The nightly backup: when, how long to keep it, and where it goes (a PVC unless s3 is set)."""

    schedule: str = Field(default="0 3 * * *", pattern=r"^(@(hourly|daily|weekly|monthly)|(\S+\s+){4}\S+)$")
    retention_days: int = Field(default=7, ge=1, le=3650)
    storage: Storage
    s3: BackupS3 | None = None


class DataApiSettings(_Section):
    """The Supabase API (PostgREST) the program runs in front of the bundled PostgreSQL: replicas, resources (also
    its migration Job's), and those of the /rest/v1 sidecar in each pod that reads the database."""

    replicas: int = Field(default=1, ge=1, le=10)
    resources: Resources = Resources.model_validate({"requests": {"cpu": "50m", "memory": "64Mi"},
                                                     "limits": {"cpu": "500m", "memory": "256Mi"}})
    proxy_resources: Resources = Resources.model_validate({"requests": {"cpu": "10m", "memory": "16Mi"},
                                                           "limits": {"cpu": "200m", "memory": "64Mi"}})


# The services that use each store beside PostgreSQL (OmniArchon's intelligence service; Archon itself uses none).
STORE_CLIENTS = {"redis": ("intelligence",), "qdrant": ("intelligence",), "memgraph": ("intelligence",)}


class Databases(_Section):
    """The data stores: bundled in the cluster (PostgreSQL served through the Supabase API the app talks to), or
    PostgreSQL managed by Supabase."""

    provider: Literal["bundled", "supabase"] = "bundled"
    credentials_rotation: int = Field(default=0, ge=0)
    data_api: DataApiSettings = DataApiSettings()
    postgres: DatabaseSettings
    redis: DatabaseSettings
    qdrant: DatabaseSettings
    memgraph: DatabaseSettings
    backup: BackupSettings

    def engines(self) -> dict[str, DatabaseSettings]:
        """The data stores the stack can run in the cluster, by config key (no PostgreSQL with Supabase)."""
        keys = ("redis", "qdrant", "memgraph") if self.provider == "supabase" else ("postgres", "redis", "qdrant",
                                                                                     "memgraph")
        return {key: getattr(self, key) for key in keys}


class EmailReceiver(_Section):
    """Where email alerts go; the SMTP password is the secret config alertSmtpPassword."""

    to: Email
    sender: Email = Field(alias="from")
    smarthost: str = Field(pattern=r"^[A-Za-z0-9.-]+:\d+$")
    username: str | None = None


class Receivers(_Section):
    """Alert receivers; the Slack webhook and PagerDuty key are secret config."""

    slack_channel: str | None = None  # with the secret slackWebhookUrl
    pagerduty: bool = False  # with the secret pagerdutyRoutingKey
    email: EmailReceiver | None = None


_SMALL = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}


class GrafanaSettings(_Section):
    """Grafana: dashboards and datasources are provisioned, so its own database is disposable."""

    resources: Resources = Resources.model_validate({"requests": {"cpu": "100m", "memory": "256Mi"},
                                                     "limits": {"cpu": "500m", "memory": "512Mi"}})


class Loki(_Section):
    """Loki single-binary on a filesystem volume; the compactor deletes logs older than retention."""

    retention: Duration = "7d"
    storage_size: Memory = "10Gi"  # on monitoring.storage.storageClass
    resources: Resources = Resources.model_validate({"requests": {"cpu": "250m", "memory": "512Mi"},
                                                     "limits": {"cpu": "1", "memory": "1Gi"}})


class LogShipper(_Section):
    """Grafana Alloy tailing the namespace's pod logs through the Kubernetes API (no node access)."""

    resources: Resources = Resources.model_validate({"requests": {"cpu": "100m", "memory": "128Mi"},
                                                     "limits": {"cpu": "500m", "memory": "512Mi"}})


class OperatorSettings(_Section):
    """An existing Prometheus Operator (mode: operator) that scrapes and alerts for the stack."""

    namespace: DnsLabel = "monitoring"  # where its Prometheus pods run (admitted by our NetworkPolicies)
    prometheus_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    labels: dict[str, str] = {}  # added to every monitor and rule, to match the operator's selectors


ALERTMANAGER_STORAGE = "1Gi"  # silences and the notification log


class MonitoringSettings(_Section):
    """Prometheus, Alertmanager, Grafana and Loki settings."""

    enabled: bool = True
    mode: Literal["bundled", "operator"] = "bundled"
    retention: Duration = "15d"
    retention_size: str | None = Field(default=None, pattern=r"^\d+(B|KB|MB|GB|TB)$")
    storage: Storage
    resources: Resources = Resources.model_validate({"requests": {"cpu": "250m", "memory": "512Mi"},
                                                     "limits": {"cpu": "1", "memory": "1Gi"}})
    alertmanager_resources: Resources = Resources.model_validate(_SMALL)
    kube_state_metrics_resources: Resources = Resources.model_validate({"requests": {"cpu": "10m", "memory": "64Mi"},
                                                                        "limits": {"cpu": "200m",
                                                                                   "memory": "256Mi"}})
    receivers: Receivers = Receivers()
    grafana: GrafanaSettings = GrafanaSettings()
    loki: Loki = Loki()
    log_shipper: LogShipper = LogShipper()
    operator: OperatorSettings = OperatorSettings()

    def prometheus_url(self, namespace: str) -> str:
        """Where Grafana queries Prometheus: ours, or the operator's `prometheus-operated` Service."""
        if self.mode == "bundled":
            return f"http://archon-prometheus.{namespace}.svc:{ports.PROMETHEUS}"
        return self.operator.prometheus_url or f"http://prometheus-operated.{self.operator.namespace}.svc:{ports.PROMETHEUS}"


class Dns(_Section):
    """Where pods may send DNS queries: the cluster DNS pods, and addresses (NodeLocal DNSCache's, or the kube-dns
    Service IP where a node-local cache answers on it) that no pod selector matches."""

    namespace: str = Field(default="kube-system", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    pod_labels: dict[str, str] = Field(default_factory=lambda: {"k8s-app": "kube-dns"}, min_length=1)
    cidrs: list[str] = Field(default_factory=lambda: ["169.254.20.10/32"])  # NodeLocal DNSCache's usual address


class Network(_Section):
    """Where the services may connect outside the cluster (NetworkPolicy ipBlocks), and where DNS is."""

    external_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])
    excluded_cidrs: list[str] = Field(default_factory=lambda: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                                "169.254.0.0/16"])
    dns: Dns = Dns()
    # Where the Kubernetes API is, for the pods that read it (Prometheus, kube-state-metrics, Alloy). Anywhere by
    # default; on Cilium, CIDR rules match an API server on the nodes only with policy-cidr-match-mode: nodes, so
    # set this to the control plane's addresses there (README, "API-server egress on Cilium").
    api_server_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"], min_length=1)
    # Where the nodes' kubelets are, for Prometheus' kubelet and cAdvisor scrapes (TCP 10250).
    node_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"], min_length=1)


class RateLimit(_Section):
    """Traefik rate limit per client IP: sustained requests per second and burst."""

    average: int = Field(default=50, ge=1, le=100000)
    burst: int = Field(default=100, ge=1, le=100000)


class Route(_Section):
    """A further path on the public host, to a Service in the stack's namespace (streaming: its responses are
    server-sent events or streamed bodies, which the request-body buffer would hold back)."""

    path: str = Field(pattern=r"^/[A-Za-z0-9._~/-]*$")
    service: DnsLabel
    port: int = Field(ge=1, le=65535)
    streaming: bool = False


class Credential(_Section):
    """A generated HTTP basic-auth credential: the user name, and a number to change to rotate the password."""

    username: DnsLabel
    rotation: int = Field(default=0, ge=0)


class OidcSettings(_Section):
    """The OpenID Connect provider oauth2-proxy signs users in with (the client secret is the secret config key
    oidcClientSecret)."""

    issuer_url: str = Field(pattern=r"^https://[^\s/]+(/\S*)?$")
    client_id: str = Field(min_length=1, pattern=r"^\S+$")
    email_domains: list[str] = Field(min_length=1)  # "*" lets any account of the provider in
    allowed_groups: list[str] = Field(default_factory=list)
    replicas: int = Field(default=1, ge=1, le=20)
    resources: Resources = Resources.model_validate({"requests": {"cpu": "20m", "memory": "32Mi"},
                                                     "limits": {"cpu": "200m", "memory": "128Mi"}})


class McpAuth(_Section):
    """How MCP clients authenticate at /mcp: a generated credential they send as an Authorization header (basic),
    or only from the listed networks (allowList, for agents on a private network)."""

    mode: Literal["basic", "allowList"] = "basic"
    credential: Credential = Credential(username="mcp")
    allow_cidrs: list[str] = Field(default_factory=list)


class AuthSettings(_Section):
    """Authentication at the edge, in front of every route: HTTP basic auth with a generated credential, or OIDC
    sign-in through oauth2-proxy; none only when said so (and acknowledged in production)."""

    mode: Literal["basic", "oidc", "none"] = "basic"
    basic: Credential = Credential(username="archon")
    oidc: OidcSettings | None = None
    mcp: McpAuth = McpAuth()
    acknowledge_unauthenticated: bool = False


class GrafanaHost(_Section):
    """An optional public host for Grafana, reachable only from the listed networks."""

    host: DnsSubdomain
    allow_cidrs: list[str] = Field(min_length=1)


class ControllerSettings(_Section):
    """The Traefik controller's size, and how its Service is exposed (LoadBalancer needs a load-balancer controller)."""

    replicas: int = Field(default=1, ge=1, le=20)
    service_type: Literal["LoadBalancer", "NodePort"] = "LoadBalancer"
    # Local keeps the client's address (the load balancer sends only to nodes that run Traefik); Cluster hides it.
    external_traffic_policy: Literal["Local", "Cluster"] = "Local"
    trusted_proxy_cidrs: list[str] = Field(default_factory=list)  # whose X-Forwarded-For Traefik believes
    proxy_protocol_cidrs: list[str] = Field(default_factory=list)  # load balancers that send the PROXY protocol
    resources: Resources = Resources.model_validate({"requests": {"cpu": "100m", "memory": "64Mi"},
                                                     "limits": {"cpu": "500m", "memory": "256Mi"}})


class IngressSettings(_Section):
    """The ingress controller (Traefik, or an existing class), cert-manager, TLS issuer and route settings."""

    controller_namespace: DnsLabel = "traefik"
    class_name: DnsSubdomain = "traefik"
    install_controller: bool = True
    install_cert_manager: bool = True
    controller: ControllerSettings = ControllerSettings()
    tls_issuer: Literal["letsencrypt-staging", "letsencrypt-production", "selfsigned"] = "letsencrypt-staging"
    rate_limit: RateLimit = RateLimit()
    body_limit_mb: int = Field(default=50, ge=1, le=10240)
    routes: list[Route] = Field(default_factory=list)
    grafana: GrafanaHost | None = None
    auth: AuthSettings = AuthSettings()


class Charts(_Section):
    """Where the Helm charts come from: their upstream repositories, one mirror repository, or a local folder."""

    repository: str | None = Field(default=None, pattern=r"^(https?|oci)://[^\s/]+(/\S*)?$")
    directory: str | None = Field(default=None, min_length=1)  # holds CHART-VERSION/ folders (helm pull --untar)


class Images(_Section):
    """Where the application images come from: built from archon:appSource and pushed, or prebuilt per service."""

    registry: str = Field(min_length=1, pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(/[a-z0-9._-]+)*$")
    tag: ImageTag
    pull_policy: Literal["IfNotPresent", "Always"] = "IfNotPresent"
    platform: Literal["linux/amd64", "linux/arm64"] = "linux/amd64"
    cache_from: bool = True
    skip_push: bool = False
    registry_username: str | None = None
    prebuilt: dict[str, str] = Field(default_factory=dict)


class Features(_Section):
    """Optional parts of the stack."""

    agents: bool = False
    # OmniArchon's intelligence service is not part of upstream Archon, and its code expects Kafka, Ollama and
    # sibling services this stack does not run (README, Application): off unless you bring those.
    intelligence: bool = False


class QuotaRequests(_Section):
    """Namespace totals for requested CPU, memory and storage."""

    cpu: Cpu
    memory: Memory
    storage: Memory


class QuotaSettings(_Section):
    """The namespace ResourceQuota."""

    requests: QuotaRequests
    limits: CpuMemory
    pods: int = Field(ge=1, le=10000)
    persistent_volume_claims: int = Field(ge=0, le=1000)


class LimitRangeSettings(_Section):
    """Per-container defaults and ceiling applied by the namespace LimitRange."""

    default_request: CpuMemory
    default: CpuMemory
    max: CpuMemory


class StackConfig(_Section):
    """Everything one stack (staging, production) is configured with."""

    environment: Literal["staging", "production"]
    namespace: DnsLabel
    domain: DnsSubdomain
    acme_email: Email
    supabase_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/.*)?$")
    app_source: str | None = None
    protect_stateful_resources: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"  # LOG_LEVEL of the Python services
    metrics_server: bool = False  # the cluster serves the resource metrics API (metrics-server), which HPAs read
    images: Images
    features: Features = Features()
    services: Services
    databases: Databases
    monitoring: MonitoringSettings
    ingress: IngressSettings = IngressSettings()
    charts: Charts = Charts()
    network: Network = Network()
    quota: QuotaSettings
    limit_range: LimitRangeSettings

    def data_stores(self) -> dict[str, DatabaseSettings]:
        """The data stores this stack runs, by config key: PostgreSQL when bundled (the data API serves it to the
        app), and each other store while a service that uses it runs, unless its `enabled` says otherwise."""
        return {key: settings for key, settings in self.databases.engines().items()
                if (bool(self.store_clients(key)) or key == "postgres" if settings.enabled is None
                    else settings.enabled)}

    def store_clients(self, key: str) -> list[str]:
        """The services of this stack that use the data store `key`."""
        return [client for client in STORE_CLIENTS.get(key, ()) if client in self.enabled_services()]

    def enabled_services(self) -> dict[str, ServiceSettings]:
        """The services this stack runs, by config key."""
        optional = set(type(self.features).model_fields)  # a service named after a feature runs only with it on
        return {name: settings for name, settings in self.services
                if name not in optional or getattr(self.features, name)}
