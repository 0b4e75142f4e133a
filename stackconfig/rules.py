"""Cross-field and per-environment rules that a field type alone cannot express."""

from __future__ import annotations

from decimal import Decimal

from policies.archon_policies import quantities
from stackconfig.errors import ConfigIssue
from stackconfig.model import ALERTMANAGER_STORAGE, CpuMemory, Resources, StackConfig
from stackconfig.types import duration_seconds

# Services that keep state in process memory (crawl progress, MCP sessions; notes/archon.md 3.3):
# they cannot autoscale, and the production two-replica rule for stateless services skips them.
IN_MEMORY_STATE = frozenset({"server", "mcp"})
# Second-level domains and TLDs reserved for documentation and tests (RFC 2606, RFC 6761).
RESERVED_DOMAINS = ("example.com", "example.org", "example.net", "example", "test", "invalid",
                    "localhost", "local")


def check(cfg: StackConfig, present: frozenset[str] = frozenset()) -> list[ConfigIssue]:
    """Every rule violation in a type-valid config, in a stable order; `present` is the set of keys given."""
    issues: list[ConfigIssue] = []
    for name, svc in cfg.services:
        issues += _resources(f"services.{name}.resources", svc.resources)
        scaling = svc.autoscaling
        if scaling.max_replicas < scaling.min_replicas:
            issues.append(ConfigIssue(f"services.{name}.autoscaling.maxReplicas", scaling.max_replicas,
                                      f"must be at least minReplicas ({scaling.min_replicas})"))
        if scaling.enabled and name in cfg.enabled_services() and not cfg.metrics_server:
            issues.append(ConfigIssue(f"services.{name}.autoscaling.enabled", True,
                                      "an HPA scales on the resource metrics API, which the cluster serves only "
                                      "with metrics-server (or an adapter): install it and set archon:metricsServer: "
                                      "true, or size replicas by hand"))
        if scaling.enabled and name in IN_MEMORY_STATE:
            issues.append(ConfigIssue(f"services.{name}.autoscaling.enabled", True,
                                      f"archon-{name} keeps sessions and progress in process memory, so it "
                                      "cannot autoscale; set enabled: false and size replicas by hand"))
    for name, db in cfg.databases.engines().items():  # a store that does not run yet is still checked
        issues += _resources(f"databases.{name}.resources", db.resources)
    issues += _data_stores(cfg)
    issues += _external_services(cfg, present)
    issues += _images(cfg)
    issues += _limit_range(cfg)
    issues += _quota(cfg)
    issues += _monitoring(cfg)
    issues += _charts(cfg)
    issues += _acme(cfg)
    issues += _auth(cfg, present)
    if cfg.environment == "production":
        issues += _production(cfg)
    return issues


def _images(cfg: StackConfig) -> list[ConfigIssue]:
    """Each enabled service has a prebuilt image or is built from an existing archon:appSource."""
    import ipaddress
    from pathlib import Path

    from policies.archon_policies.platform import image_reference_problem

    issues = []
    for key in sorted(set(cfg.images.prebuilt) - set(type(cfg.services).model_fields)):
        issues.append(ConfigIssue(f"images.prebuilt.{key}", cfg.images.prebuilt[key],
                                  f"is not a service; services: {', '.join(type(cfg.services).model_fields)}"))
    for key, image in sorted(cfg.images.prebuilt.items()):
        problem = image_reference_problem(image)
        if problem:
            issues.append(ConfigIssue(f"images.prebuilt.{key}", image, problem))
    building = [key for key in cfg.enabled_services() if key not in cfg.images.prebuilt]
    if building and not cfg.app_source:
        issues.append(ConfigIssue("appSource", None, f"is not set, and {', '.join(building)} "
                                  f"{'has' if len(building) == 1 else 'have'} no images.prebuilt entry: set "
                                  "archon:appSource to an Archon checkout to build, or name a prebuilt image",
                                  has_value=False))
    elif building and cfg.app_source and (Path(cfg.app_source).is_absolute() or cfg.app_source.startswith("~")):
        # The path is part of each image's build inputs: one that differs between a laptop and CI would rebuild
        # and roll every service on the switch.
        issues.append(ConfigIssue("appSource", cfg.app_source, "must be relative to the project directory (e.g. "
                                  "../archon): an absolute path differs from one machine to the next, and every "
                                  "image would rebuild and roll"))
    elif building and cfg.app_source and not Path(cfg.app_source).is_dir():
        issues.append(ConfigIssue("appSource", cfg.app_source, "is not a directory (an Archon source checkout is "
                                  f"needed to build {', '.join(building)})"))
    elif "intelligence" in building and not (Path(cfg.app_source or ".") / "services" / "intelligence").is_dir():
        issues.append(ConfigIssue("images.prebuilt.intelligence", None, "is needed: the intelligence service is not "
                                  "part of Archon, so appSource has no services/intelligence; it is OmniArchon's "
                                  "(OmniNode-ai/omniintelligence, migration_sources/omniarchon/services/"
                                  "intelligence), and the delivery pipeline builds it from there", has_value=False))
    cidr_lists = {"network.externalCidrs": cfg.network.external_cidrs,
                  "network.excludedCidrs": cfg.network.excluded_cidrs, "network.dns.cidrs": cfg.network.dns.cidrs,
                  "network.apiServerCidrs": cfg.network.api_server_cidrs, "network.nodeCidrs": cfg.network.node_cidrs}
    if cfg.ingress.grafana:
        cidr_lists["ingress.grafana.allowCidrs"] = cfg.ingress.grafana.allow_cidrs
    cidr_lists["ingress.auth.mcp.allowCidrs"] = cfg.ingress.auth.mcp.allow_cidrs
    cidr_lists["ingress.controller.trustedProxyCidrs"] = cfg.ingress.controller.trusted_proxy_cidrs
    cidr_lists["ingress.controller.proxyProtocolCidrs"] = cfg.ingress.controller.proxy_protocol_cidrs
    for key, cidrs in cidr_lists.items():
        for index, cidr in enumerate(cidrs):
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                issues.append(ConfigIssue(f"{key}.{index}", cidr, "is not a CIDR such as 203.0.113.0/24"))
    return issues


def _external_services(cfg: StackConfig, present: frozenset[str]) -> list[ConfigIssue]:
    """Supabase and the backup bucket need their URL and their secret config."""
    issues = []
    if cfg.databases.provider == "supabase":
        if not cfg.supabase_url:
            issues.append(ConfigIssue("supabaseUrl", None, "is required with databases.provider: supabase (the "
                                      "project URL, e.g. https://xyz.supabase.co)", has_value=False))
        elif not supabase_url_ok(cfg.supabase_url):
            issues.append(ConfigIssue("supabaseUrl", cfg.supabase_url, "Archon refuses plain http except for "
                                      "localhost and private IP addresses; use https"))
        if "supabaseServiceKey" not in present:
            issues.append(ConfigIssue("supabaseServiceKey", None, "is required with databases.provider: supabase; "
                                      "set it with `pulumi config set --secret supabaseServiceKey <service_role key>`",
                                      has_value=False))
    receivers = cfg.monitoring.receivers
    for wanted, key, what in ((receivers.slack_channel, "slackWebhookUrl", "monitoring.receivers.slackChannel"),
                              (receivers.pagerduty, "pagerdutyRoutingKey", "monitoring.receivers.pagerduty"),
                              (receivers.email and receivers.email.username, "alertSmtpPassword",
                               "monitoring.receivers.email.username")):
        if wanted and key not in present and cfg.monitoring.mode == "bundled":
            issues.append(ConfigIssue(key, None, f"is required with {what}; set it with "
                                      f"`pulumi config set --secret {key} ...`", has_value=False))
    if "registryPassword" in present and not cfg.images.registry_username:
        # pulumi-docker ignores a password without a user name (with only a warning) and pushes with whatever
        # credentials the host has.
        issues.append(ConfigIssue("images.registryUsername", None, "is required with the registryPassword secret "
                                  "(the registry login is user name and password together)", has_value=False))
    if cfg.databases.backup.s3:
        for key in ("backupS3AccessKeyId", "backupS3SecretAccessKey"):
            if key not in present:
                issues.append(ConfigIssue(key, None, "is required with databases.backup.s3; set it with "
                                          f"`pulumi config set --secret {key} ...`", has_value=False))
    return issues


def _data_stores(cfg: StackConfig) -> list[ConfigIssue]:
    """A store that is switched off must have no client in the stack."""
    issues = []
    for key, settings in cfg.databases.engines().items():
        clients = cfg.store_clients(key) or (["the data API"] if key == "postgres" else [])
        if settings.enabled is False and clients:
            issues.append(ConfigIssue(f"databases.{key}.enabled", False, f"{', '.join(clients)} uses it; turn that "
                                      "off first, or leave enabled unset"))
    return issues


def _auth(cfg: StackConfig, present: frozenset[str]) -> list[ConfigIssue]:
    """Authentication at the edge: what each mode needs, and no anonymous production without saying so."""
    auth, issues = cfg.ingress.auth, []
    if auth.mode == "none":
        if cfg.environment == "production" and not auth.acknowledge_unauthenticated:
            issues.append(ConfigIssue("ingress.auth.mode", "none", "would serve the app, its knowledge base and "
                                      "the OpenAI key's spending to anyone who finds the host; use basic or oidc, "
                                      "or set ingress.auth.acknowledgeUnauthenticated: true if something in front "
                                      "of the ingress authenticates"))
        return issues
    if cfg.ingress.class_name != "traefik" and not cfg.ingress.install_controller:
        issues.append(ConfigIssue("ingress.auth.mode", auth.mode, f"authenticates with Traefik middlewares, and "
                                  f"ingress class {cfg.ingress.class_name!r} is not Traefik; authenticate in front "
                                  "of that controller and set ingress.auth.mode: none (with "
                                  "acknowledgeUnauthenticated in production)"))
    if auth.mode == "oidc":
        if auth.oidc is None:
            issues.append(ConfigIssue("ingress.auth.oidc", None, "is required with ingress.auth.mode: oidc (issuerUrl, "
                                      "clientId, emailDomains)", has_value=False))
        if "oidcClientSecret" not in present:
            issues.append(ConfigIssue("oidcClientSecret", None, "is required with ingress.auth.mode: oidc; set it "
                                      "with `pulumi config set --secret oidcClientSecret ...`", has_value=False))
    if auth.mcp.mode == "allowList" and not auth.mcp.allow_cidrs:
        issues.append(ConfigIssue("ingress.auth.mcp.allowCidrs", [], "must list the networks MCP clients connect "
                                  "from with ingress.auth.mcp.mode: allowList"))
    return issues


def supabase_url_ok(url: str) -> bool:
    """Archon's own check: https, or http to localhost or a private/loopback/link-local IP (notes/archon.md 4.1)."""
    import ipaddress
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.scheme == "https":
        return True
    host = parsed.hostname or ""
    if host in ("localhost", "host.docker.internal") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


def _resources(path: str, res: Resources) -> list[ConfigIssue]:
    issues = []
    for kind, parse in (("cpu", quantities.cpu), ("memory", quantities.memory)):
        request, limit = getattr(res.requests, kind), getattr(res.limits, kind)
        if parse(limit) < parse(request):
            issues.append(ConfigIssue(f"{path}.limits.{kind}", limit,
                                      f"the limit must be at least the request ({request})"))
    return issues


def _at_least(path: str, big: CpuMemory, small: CpuMemory, what: str) -> list[ConfigIssue]:
    issues = []
    for kind, parse in (("cpu", quantities.cpu), ("memory", quantities.memory)):
        if parse(getattr(big, kind)) < parse(getattr(small, kind)):
            issues.append(ConfigIssue(f"{path}.{kind}", getattr(big, kind),
                                      f"must be at least {what} ({getattr(small, kind)})"))
    return issues


def _limit_range(cfg: StackConfig) -> list[ConfigIssue]:
    lr = cfg.limit_range
    issues = _at_least("limitRange.default", lr.default, lr.default_request, "limitRange.defaultRequest")
    issues += _at_least("limitRange.max", lr.max, lr.default, "limitRange.default")
    workloads = [(f"services.{n}", s.resources) for n, s in cfg.enabled_services().items()]
    workloads += [(f"databases.{n}", d.resources) for n, d in cfg.data_stores().items()]
    for path, res in workloads:
        for kind, parse in (("cpu", quantities.cpu), ("memory", quantities.memory)):
            limit = getattr(res.limits, kind)
            if parse(limit) > parse(getattr(lr.max, kind)):
                issues.append(ConfigIssue(f"{path}.resources.limits.{kind}", limit,
                                          f"exceeds limitRange.max.{kind} ({getattr(lr.max, kind)}); "
                                          "the namespace would reject the pod"))
    return issues


def _monitoring(cfg: StackConfig) -> list[ConfigIssue]:
    """Loki retention in whole days; receivers only where our Alertmanager runs; Grafana exposed only if deployed."""
    issues = []
    retention = cfg.monitoring.loki.retention
    # Loki's compactor deletes whole 24h index tables, so retention is counted in days.
    if duration_seconds(retention) < 86400 or duration_seconds(retention) % 86400:
        issues.append(ConfigIssue("monitoring.loki.retention", retention, "must be a whole number of days (Loki "
                                  "applies retention per 24h index table), such as 7d"))
    receivers = cfg.monitoring.receivers
    if cfg.monitoring.mode == "operator" and (receivers.slack_channel or receivers.pagerduty or receivers.email):
        issues.append(ConfigIssue("monitoring.receivers", receivers.model_dump(by_alias=True, exclude_defaults=True),
                                  "routes alerts through our Alertmanager, which mode: operator does not run; "
                                  "configure receivers in the operator's Alertmanager instead"))
    if cfg.ingress.grafana and not cfg.monitoring.enabled:
        issues.append(ConfigIssue("ingress.grafana", cfg.ingress.grafana.host,
                                  "exposes Grafana, but monitoring.enabled is false; enable monitoring or drop it"))
    return issues


def _charts(cfg: StackConfig) -> list[ConfigIssue]:
    """A chart source is a mirror or a local folder, not both; a local folder holds every chart installed."""
    from components.charts import CERT_MANAGER, TRAEFIK, local_chart_problem

    charts = cfg.charts
    if charts.repository and charts.directory:
        return [ConfigIssue("charts.directory", charts.directory,
                            "set either charts.repository (a mirror) or charts.directory (a local folder), not both")]
    if not charts.directory:
        return []
    wanted = [chart for chart, installed in ((TRAEFIK, cfg.ingress.install_controller),
                                             (CERT_MANAGER, cfg.ingress.install_cert_manager)) if installed]
    return [ConfigIssue("charts.directory", charts.directory, problem)
            for problem in (local_chart_problem(charts.directory, chart) for chart in wanted) if problem]


DATA_API_READERS = ("server", "mcp")  # the services that read the database (service_catalog reads_data_api)


def _quota(cfg: StackConfig) -> list[ConfigIssue]:
    """The quota must admit every configured workload at its largest scale."""
    need = {("requests", "cpu"): Decimal(0), ("requests", "memory"): Decimal(0),
            ("limits", "cpu"): Decimal(0), ("limits", "memory"): Decimal(0)}
    bundled = cfg.databases.provider == "bundled"
    api = cfg.databases.data_api
    # Pods at the largest scale, with one rollout surge each where a Deployment surges, and one backup Job's pod;
    # claims: one per database replica, the backup's, monitoring's. (The cluster refuses a pod over the quota only
    # inside a controller, so the up would just wait out its rollout timeouts and fail without naming the quota.)
    pods, claims = 1, 0
    for key, svc in cfg.enabled_services().items():
        replicas = svc.autoscaling.max_replicas if svc.autoscaling.enabled else svc.replicas
        _add(need, svc.resources, replicas)
        pods += replicas + svc.max_surge
        if bundled and key in DATA_API_READERS:  # each reader pod's /rest/v1 sidecar
            _add(need, api.proxy_resources, replicas)
    if bundled:  # PostgREST, and its migration Job (one container at a time: the init container, then psql)
        _add(need, api.resources, api.replicas + 1)
        pods += api.replicas + 1 + 1
    oidc = cfg.ingress.auth.oidc if cfg.ingress.auth.mode == "oidc" else None
    if oidc:  # oauth2-proxy, and its rollout surge
        _add(need, oidc.resources, oidc.replicas + 1)
        pods += oidc.replicas + 1
    storage = Decimal(0) if cfg.databases.backup.s3 else quantities.memory(cfg.databases.backup.storage.size)
    claims += 0 if cfg.databases.backup.s3 else 1
    for _, db in cfg.data_stores().items():
        _add(need, db.resources, db.replicas)
        storage += quantities.memory(db.storage.size) * db.replicas
        pods += db.replicas
        claims += db.replicas
    mon = cfg.monitoring
    if mon.enabled:
        ours = [mon.grafana.resources, mon.loki.resources, mon.log_shipper.resources]
        volumes = [mon.loki.storage_size]
        if mon.mode == "bundled":  # with an operator, Prometheus and Alertmanager run elsewhere
            ours += [mon.resources, mon.alertmanager_resources, mon.kube_state_metrics_resources]
            volumes += [mon.storage.size, ALERTMANAGER_STORAGE]
        for res in ours:
            _add(need, res, 1)
        storage += sum(quantities.memory(size) for size in volumes)
        pods += len(ours) + 2  # Grafana's and kube-state-metrics' surge, at most (the log shipper recreates)
        claims += len(volumes)
    issues = []
    if cfg.quota.pods < pods:
        issues.append(ConfigIssue("quota.pods", cfg.quota.pods,
                                  f"below the {pods} pods the configured services (at maxReplicas, with a rollout "
                                  "surge), databases, data API, migration and backup Jobs and monitoring run"))
    if cfg.quota.persistent_volume_claims < claims:
        issues.append(ConfigIssue("quota.persistentVolumeClaims", cfg.quota.persistent_volume_claims,
                                  f"below the {claims} volume claims of the databases, the backup and monitoring"))
    for (section, kind), total in need.items():
        allowed = getattr(getattr(cfg.quota, section), kind)
        parse = quantities.cpu if kind == "cpu" else quantities.memory
        if parse(allowed) < total:
            issues.append(ConfigIssue(f"quota.{section}.{kind}", allowed,
                                      f"below the {_fmt(total, kind)} of {kind} {section} that the configured "
                                      "services (at maxReplicas), databases, data API and monitoring need"))
    if quantities.memory(cfg.quota.requests.storage) < storage:
        issues.append(ConfigIssue("quota.requests.storage", cfg.quota.requests.storage,
                                  f"below the {_fmt(storage, 'memory')} the database, backup and monitoring "
                                  "volumes request"))
    return issues


def _add(need: dict, res: Resources, replicas: int) -> None:
    for section in ("requests", "limits"):
        block = getattr(res, section)
        need[(section, "cpu")] += quantities.cpu(block.cpu) * replicas
        need[(section, "memory")] += quantities.memory(block.memory) * replicas


def _fmt(value: Decimal, kind: str) -> str:
    if kind == "cpu":
        return f"{value.normalize():f}"
    return quantities.format_bytes(value)


def _reserved(domain: str) -> bool:
    return any(domain == r or domain.endswith("." + r) for r in RESERVED_DOMAINS)


def _acme(cfg: StackConfig) -> list[ConfigIssue]:
    """Let's Encrypt refuses reserved names and contact addresses, in every environment, so such a stack
    would wait for a certificate that can never be issued."""
    if not cfg.ingress.tls_issuer.startswith("letsencrypt"):
        return []
    issues = []
    hosts = [("domain", cfg.domain)] if cfg.environment != "production" else []  # production says it already
    if cfg.ingress.grafana:
        hosts.append(("ingress.grafana.host", cfg.ingress.grafana.host))
    for key, host in hosts:
        if _reserved(host) or "." not in host:
            issues.append(ConfigIssue(key, host, f"Let's Encrypt ({cfg.ingress.tls_issuer}) cannot issue for a "
                                      "reserved name such as example.com, .local or .test; use a domain you own, "
                                      "or ingress.tlsIssuer: selfsigned"))
    if _reserved(cfg.acme_email.rsplit("@", 1)[-1]):
        issues.append(ConfigIssue("acmeEmail", cfg.acme_email,
                                  f"Let's Encrypt ({cfg.ingress.tls_issuer}) refuses an account whose contact "
                                  "address is at a reserved domain; use a real address, or ingress.tlsIssuer: "
                                  "selfsigned"))
    return issues


def _production(cfg: StackConfig) -> list[ConfigIssue]:
    issues = []
    if _reserved(cfg.domain) or "." not in cfg.domain:
        issues.append(ConfigIssue("domain", cfg.domain, "production needs a real, publicly resolvable domain "
                                  "(not a reserved name such as example.com, .local or .test)"))
    if cfg.ingress.tls_issuer == "letsencrypt-staging":
        issues.append(ConfigIssue("ingress.tlsIssuer", cfg.ingress.tls_issuer,
                                  "production needs trusted certificates: use letsencrypt-production "
                                  "(or selfsigned for a private cluster)"))
    if not cfg.protect_stateful_resources:
        issues.append(ConfigIssue("protectStatefulResources", False,
                                  "production must protect stateful resources from deletion; set it to true"))
    for name, svc in cfg.enabled_services().items():
        if name in IN_MEMORY_STATE:
            continue
        if svc.replicas < 2:
            issues.append(ConfigIssue(f"services.{name}.replicas", svc.replicas,
                                      "production needs at least 2 replicas of a stateless service"))
        if svc.autoscaling.enabled and svc.autoscaling.min_replicas < 2:
            issues.append(ConfigIssue(f"services.{name}.autoscaling.minReplicas", svc.autoscaling.min_replicas,
                                      "production needs at least 2 replicas of a stateless service"))
    return issues
