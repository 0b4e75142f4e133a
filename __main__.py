"""Archon on Kubernetes: load and validate the stack config, build the components, export outputs."""

import dataclasses
from pathlib import Path

import pulumi

from components.application import Application
from components.backups import Backups
from components.cert_manager import CertManager, issuer_name
from components.component import Placement
from components.connections import stack_traffic
from components.database import Database
from components.database_engines import ENGINES
from components.edge_auth import EdgeAuth
from components.ingress import Ingress
from components.ingress_controller import IngressController
from components.monitoring import Monitoring
from components.namespace_baseline import NamespaceBaseline
from components.supabase import SupabaseConnection
from stackconfig import ConfigError, load_stack_config

try:
    cfg = load_stack_config(pulumi.get_stack())
except ConfigError as error:
    # RunError stops the program with the message alone, before any resource is registered.
    raise pulumi.RunError(str(error)) from None

traffic = stack_traffic(cfg)  # every NetworkPolicy of the stack comes from this one graph
controller = IngressController("traefik", settings=cfg.ingress, charts=cfg.charts)
cert_manager = CertManager(
    "cert-manager", settings=cfg.ingress, issuer_object=issuer_name(cfg.namespace, cfg.ingress.tls_issuer),
    acme_email=cfg.acme_email, replicas=2 if cfg.environment == "production" else 1, charts=cfg.charts)
# The app namespace waits for cert-manager, so a destroy deletes it (and the Challenges whose finalizers
# cert-manager removes) while cert-manager still runs.
baseline = NamespaceBaseline(
    "archon",
    namespace=cfg.namespace,
    environment=cfg.environment,
    quota=cfg.quota,
    limit_range=cfg.limit_range,
    protect=cfg.protect_stateful_resources,
    traffic=traffic,
    opts=pulumi.ResourceOptions(depends_on=[cert_manager]),
)
# Where every app-namespace component puts its objects (the monitoring components take the name as text).
site = Placement(baseline.namespace_name, pulumi.get_stack(), traffic, cfg.protect_stateful_resources)
databases = {
    key: Database(
        f"archon-{key}", engine=ENGINES[key], settings=settings, site=site, rotation=cfg.databases.credentials_rotation,
        opts=pulumi.ResourceOptions(depends_on=[baseline]))
    for key, settings in cfg.data_stores().items()
}
config = pulumi.Config()
s3_keys = ((config.require_secret("backupS3AccessKeyId"), config.require_secret("backupS3SecretAccessKey"))
           if cfg.databases.backup.s3 else None)
backups = Backups(
    "archon-backups", backup=cfg.databases.backup, site=site,
    script=(Path(__file__).parent / "scripts" / "archon-backup.sh").read_text(),
    postgres=databases.get("postgres"), qdrant=databases.get("qdrant"), s3_credentials=s3_keys,
    opts=pulumi.ResourceOptions(depends_on=[baseline]))

supabase = None
if cfg.databases.provider == "supabase" and cfg.supabase_url:  # the config rules require the URL here
    supabase = SupabaseConnection(
        "archon-supabase", url=cfg.supabase_url, service_key=config.require_secret("supabaseServiceKey"),
        namespace=baseline.namespace_name, instance=pulumi.get_stack(), protect=cfg.protect_stateful_resources,
        opts=pulumi.ResourceOptions(depends_on=[baseline]))
    pulumi.export("supabaseSecretName", supabase.secret_name)

application = Application(
    "archon", cfg=cfg, site=site, databases=databases, supabase=supabase,
    openai_api_key=config.require_secret("openaiApiKey"), registry_password=config.get_secret("registryPassword"),
    opts=pulumi.ResourceOptions(depends_on=[baseline]))

auth = cfg.ingress.auth
if auth.mode == "none":
    pulumi.log.warn("ingress.auth.mode is none: the app, its knowledge base and the OpenAI key's spending are open to "
                    "anyone who can reach the host")
edge_auth = EdgeAuth(
    "archon-auth", auth=auth, domain=cfg.domain, site=site, version=cfg.images.tag,
    oidc_client_secret=config.require_secret("oidcClientSecret") if auth.mode == "oidc" else None,
    opts=pulumi.ResourceOptions(depends_on=[baseline]))
ingress = Ingress("archon-ingress", cfg=cfg, site=site, issuer=issuer_name(cfg.namespace, cfg.ingress.tls_issuer),
                  opts=pulumi.ResourceOptions(depends_on=[baseline, controller, cert_manager, application, edge_auth]))
if cfg.monitoring.enabled:
    monitoring = Monitoring(
        "archon-monitoring", settings=cfg.monitoring, site=dataclasses.replace(site, namespace=cfg.namespace),
        traefik_namespace=cfg.ingress.controller_namespace if cfg.ingress.install_controller else None,
        cert_manager_namespace="cert-manager" if cfg.ingress.install_cert_manager else None,
        database_apps=[ENGINES[key].name for key in databases if ENGINES[key].exporter],
        secrets={key: config.get_secret(key) for key in ("slackWebhookUrl", "pagerdutyRoutingKey",
                                                          "alertSmtpPassword")},
        opts=pulumi.ResourceOptions(depends_on=[baseline, controller]))  # Alloy reads the controller's logs too
    pulumi.export("monitoring", {"mode": cfg.monitoring.mode, "grafana": monitoring.grafana.url,
                                 "grafanaAdminSecret": monitoring.grafana.admin_secret.metadata.name,
                                 "prometheus": cfg.monitoring.prometheus_url(cfg.namespace)})

pulumi.export("environment", cfg.environment)
pulumi.export("urls", ingress.urls)
pulumi.export("auth", {"mode": auth.mode, "mcp": auth.mcp.mode if auth.mode != "none" else "none",
                       "credentials": edge_auth.secrets})  # Secrets holding the generated user names and passwords
pulumi.export("ingressAddress", ingress.address)  # point the domain's DNS here
pulumi.export("namespace", baseline.namespace_name)
pulumi.export("domain", cfg.domain)
pulumi.export("databases", {key: {"host": db.host, "port": db.port, "secretName": db.secret_name,
                                    "secretKeys": db.secret_keys} for key, db in databases.items()})
for key, db in databases.items():
    pulumi.export(f"{key}Dsn", db.dsn)
pulumi.export("images", application.images.refs)
