"""Stack config validation: every bad value gives one message naming the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from stackconfig import ConfigError, StackConfig, load_stack_config
from tests.conftest import STACKS, raw_config
from tests.helpers import DELETE, changed


def refusals(stack: str, raw: dict) -> list[str]:
    """The issues the loader refuses this raw config with (it must refuse it)."""
    with pytest.raises(ConfigError) as caught:
        load_stack_config(stack, raw)
    return [str(issue) for issue in caught.value.issues]

MEMORY_HINT = "expected a memory quantity with a binary suffix such as 512Mi or 2Gi (Ki, Mi, Gi, Ti; or k, M, G, T)"
CPU_HINT = "expected a CPU quantity such as 250m, 0.5 or 2"
DNS_LABEL = ("is not a DNS label; use at most 63 lowercase letters, digits and '-', starting and ending "
             "with a letter or digit")
DNS_NAME = ("is not a DNS name; use lowercase labels of letters, digits and '-' separated by dots, "
            "at most 253 characters")
STATELESS = "production needs at least 2 replicas of a stateless service"

BAD_CONFIGS = [
    # (stack, key as `pulumi config set --path` spells it, new value, the exact message)
    ("staging", "archon:services.server.replcas", 1,
     "archon:services.server.replcas = 1: unknown key; did you mean 'replicas'? "
     "allowed keys here: autoscaling, maxSurge, replicas, resources"),
    ("staging", "archon:databases.postgres.storage.sise", "1Gi",
     "archon:databases.postgres.storage.sise = '1Gi': unknown key; did you mean 'size'? "
     "allowed keys here: size, storageClass"),
    ("staging", "archon:services.server.replicas", -1, "archon:services.server.replicas = -1: must be at least 0"),
    ("staging", "archon:services.server.replicas", "three",
     "archon:services.server.replicas = 'three': must be a whole number"),
    ("staging", "archon:services.server.resources.limits.memory", "2GB",
     f"archon:services.server.resources.limits.memory = '2GB': is not a Kubernetes quantity; {MEMORY_HINT}"),
    ("staging", "archon:services.server.resources.limits.memory", "1500m",
     "archon:services.server.resources.limits.memory = '1500m': is a fraction of a byte (use Mi or Gi, not m); "
     + MEMORY_HINT),
    ("staging", "archon:services.server.resources.requests.cpu", "250mc",
     f"archon:services.server.resources.requests.cpu = '250mc': is not a Kubernetes quantity; {CPU_HINT}"),
    ("staging", "archon:services.server.resources.requests.cpu", "0",
     f"archon:services.server.resources.requests.cpu = '0': must be greater than zero; {CPU_HINT}"),
    ("staging", "archon:services.mcp.resources.limits.cpu", "10m",
     "archon:services.mcp.resources.limits.cpu = '10m': the limit must be at least the request (50m)"),
    ("staging", "archon:databases.redis.resources.limits.memory", "64Mi",
     "archon:databases.redis.resources.limits.memory = '64Mi': the limit must be at least the request (128Mi)"),
    ("staging", "archon:namespace", "Archon_Staging", f"archon:namespace = 'Archon_Staging': {DNS_LABEL}"),
    ("staging", "archon:domain", "archon..example.com", f"archon:domain = 'archon..example.com': {DNS_NAME}"),
    ("staging", "archon:databases.postgres.storage.storageClass", "Fast_SSD",
     f"archon:databases.postgres.storage.storageClass = 'Fast_SSD': {DNS_NAME}"),
    ("staging", "archon:acmeEmail", "platform-team", "archon:acmeEmail = 'platform-team': is not an email address"),
    ("staging", "archon:environment", "prod",
     "archon:environment = 'prod': must be one of 'staging' or 'production'"),
    ("staging", "archon:images.tag", "latest",
     "archon:images.tag = 'latest': is a moving tag; pin a version such as v1.2.3"),
    ("staging", "archon:images.registry", "GHCR.io/Acme",
     "archon:images.registry = 'GHCR.io/Acme': is not an image repository such as ghcr.io/acme/archon"),
    ("staging", "archon:monitoring.retention", "2 weeks",
     "archon:monitoring.retention = '2 weeks': is not a duration; use a number with ms, s, m, h, d, w or y, "
     "such as 15d"),
    ("staging", "archon:ingress.tlsIssuer", "letsencrypt",
     "archon:ingress.tlsIssuer = 'letsencrypt': must be one of 'letsencrypt-staging', 'letsencrypt-production' "
     "or 'selfsigned'"),
    ("staging", "archon:features.agents", "yes please",
     "archon:features.agents = 'yes please': must be true or false"),
    ("staging", "archon:services.intelligence.autoscaling.maxReplicas", 0,
     "archon:services.intelligence.autoscaling.maxReplicas = 0: must be at least 1"),
    ("staging", "archon:services.frontend.autoscaling", {"enabled": True, "minReplicas": 3, "maxReplicas": 2},
     "archon:services.frontend.autoscaling.maxReplicas = 2: must be at least minReplicas (3)"),
    ("staging", "archon:services.server.autoscaling", {"enabled": True},
     "archon:services.server.autoscaling.enabled = true: archon-server keeps sessions and progress in process "
     "memory, so it cannot autoscale; set enabled: false and size replicas by hand"),
    ("staging", "archon:quota.limits.memory", "4Gi",
     "archon:quota.limits.memory = '4Gi': below the 8064Mi of memory limits that the configured services "
     "(at maxReplicas), databases, data API and monitoring need"),
    ("staging", "archon:quota.requests.storage", "20Gi",
     "archon:quota.requests.storage = '20Gi': below the 61Gi the database, backup and monitoring volumes "
     "request"),
    # A pod or claim quota the stack outgrows is refused here: on the cluster, the controllers' pods are refused and
    # the up only waits out its rollout timeouts, failing without naming the quota (seen on the real engine).
    ("staging", "archon:quota.pods", 6,
     "archon:quota.pods = 6: below the 21 pods the configured services (at maxReplicas, with a rollout surge), "
     "databases, data API, migration and backup Jobs and monitoring run"),
    ("staging", "archon:quota.persistentVolumeClaims", 2,
     "archon:quota.persistentVolumeClaims = 2: below the 5 volume claims of the databases, the backup and "
     "monitoring"),
    ("staging", "archon:databases.provider", "postgres",
     "archon:databases.provider = 'postgres': must be one of 'bundled' or 'supabase'"),
    ("staging", "archon:databases.backup.retentionDays", 0,
     "archon:databases.backup.retentionDays = 0: must be at least 1"),
    ("staging", "archon:databases.backup.s3", {"endpoint": "http://minio:9000", "bucket": "b"},
     "archon:databases.backup.s3.endpoint = 'http://minio:9000': is not an https URL such as "
     "https://s3.eu-west-1.amazonaws.com"),
    ("staging", "archon:databases.backup.schedule", "nightly",
     "archon:databases.backup.schedule = 'nightly': is not a cron schedule such as '0 3 * * *' or @daily"),
    ("staging", "archon:limitRange.default.cpu", "10m",
     "archon:limitRange.default.cpu = '10m': must be at least limitRange.defaultRequest (50m)"),
    ("staging", "archon:services", '{"frontend": ',
     "archon:services = '{\"frontend\": ': is not valid structured config (Expecting value)"),
    ("staging", "archon:domain", DELETE, "archon:domain: is required but not set"),
    ("staging", "archon:services.server.resources", DELETE,
     "archon:services.server.resources: is required but not set"),
    ("production", "archon:domain", DELETE, "archon:domain: is required but not set"),
    ("production", "archon:domain", "archon.example.com",
     "archon:domain = 'archon.example.com': production needs a real, publicly resolvable domain "
     "(not a reserved name such as example.com, .local or .test)"),
    ("production", "archon:domain", "archon.local",
     "archon:domain = 'archon.local': production needs a real, publicly resolvable domain "
     "(not a reserved name such as example.com, .local or .test)"),
    ("production", "archon:acmeEmail", "ops@example.org",
     "archon:acmeEmail = 'ops@example.org': Let's Encrypt (letsencrypt-production) refuses an account whose "
     "contact address is at a reserved domain; use a real address, or ingress.tlsIssuer: selfsigned"),
    ("production", "archon:services.frontend.replicas", 1, f"archon:services.frontend.replicas = 1: {STATELESS}"),
    ("production", "archon:services.frontend.autoscaling.minReplicas", 1,
     f"archon:services.frontend.autoscaling.minReplicas = 1: {STATELESS}"),
    ("production", "archon:ingress.tlsIssuer", "letsencrypt-staging",
     "archon:ingress.tlsIssuer = 'letsencrypt-staging': production needs trusted certificates: use "
     "letsencrypt-production (or selfsigned for a private cluster)"),
    ("production", "archon:protectStatefulResources", "false",
     "archon:protectStatefulResources = false: production must protect stateful resources from deletion; "
     "set it to true"),
    ("staging", "archon:ingress.auth.mcp.mode", "allowList",
     "archon:ingress.auth.mcp.allowCidrs = []: must list the networks MCP clients connect from with "
     "ingress.auth.mcp.mode: allowList"),
    ("staging", "archon:ingress.auth.mcp.allowCidrs", ["10.0.0.0/33"],
     "archon:ingress.auth.mcp.allowCidrs.0 = '10.0.0.0/33': is not a CIDR such as 203.0.113.0/24"),
    ("staging", "archon:ingress.auth.mode", "kerberos",
     "archon:ingress.auth.mode = 'kerberos': must be one of 'basic', 'oidc' or 'none'"),
]


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_are_valid(stack):
    cfg = load_stack_config(stack, raw_config(stack))
    assert isinstance(cfg, StackConfig)
    assert cfg.environment == stack


@pytest.mark.parametrize("stack, key, value, message", BAD_CONFIGS, ids=[f"{c[0]}:{c[1]}={c[2]!r}"[:70]
                                                                          for c in BAD_CONFIGS])
def test_bad_config_gives_one_exact_message(stack, key, value, message):
    with pytest.raises(ConfigError) as caught:
        load_stack_config(stack, changed(raw_config(stack), key, value))
    assert [str(issue) for issue in caught.value.issues] == [message]
    assert str(caught.value) == f"invalid config for stack '{stack}' (1 problem):\n  {message}"


def test_lets_encrypt_is_refused_for_reserved_names_in_every_environment():
    raw = changed(raw_config("staging"), "archon:ingress.tlsIssuer", "letsencrypt-staging")
    assert refusals("staging", raw) == [
        "archon:domain = 'staging.archon.example.com': Let's Encrypt (letsencrypt-staging) cannot issue for a "
        "reserved name such as example.com, .local or .test; use a domain you own, or ingress.tlsIssuer: selfsigned",
        "archon:acmeEmail = 'platform-team@example.com': Let's Encrypt (letsencrypt-staging) refuses an account "
        "whose contact address is at a reserved domain; use a real address, or ingress.tlsIssuer: selfsigned",
    ]
    raw = changed(changed(raw, "archon:domain", "staging.archon.acmecorp.io"), "archon:acmeEmail", "ops@acmecorp.io")
    assert load_stack_config("staging", raw).ingress.tls_issuer == "letsencrypt-staging"


def test_every_problem_is_reported_at_once():
    raw = changed(raw_config("staging"), "archon:services.server.replicas", -1)
    raw = changed(raw, "archon:namespce", "x")
    with pytest.raises(ConfigError) as caught:
        load_stack_config("staging", raw)
    assert sorted(issue.path for issue in caught.value.issues) == ["namespce", "services.server.replicas"]
    assert str(caught.value).startswith("invalid config for stack 'staging' (2 problems):")


def test_workload_limit_above_limit_range_max_names_each_workload():
    with pytest.raises(ConfigError) as caught:
        load_stack_config("staging", changed(raw_config("staging"), "archon:limitRange.max.memory", "1Gi"))
    assert [str(i) for i in caught.value.issues] == [
        "archon:services.server.resources.limits.memory = '2Gi': exceeds limitRange.max.memory (1Gi); "
        "the namespace would reject the pod",
    ]  # Memgraph's 2Gi limit too, once it runs (with the intelligence service, or enabled)


def test_unknown_top_level_key_suggests_the_closest():
    with pytest.raises(ConfigError) as caught:
        load_stack_config("staging", changed(raw_config("staging"), "archon:namespce", "archon"))
    (issue,) = caught.value.issues
    assert str(issue).startswith(
        "archon:namespce = 'archon': unknown key; did you mean 'namespace'? allowed keys here: ")


def test_keys_of_other_namespaces_and_external_secrets_are_not_the_programs_business():
    raw = raw_config("staging") | {"kubernetes:context": "kind-archon", "archon:slackWebhookUrl": "https://hooks.slack.com/x"}
    assert load_stack_config("staging", raw).namespace == "archon-staging"


def test_a_disabled_agents_service_needs_no_production_replicas():
    raw = changed(raw_config("production"), "archon:services.agents.replicas", 1)
    assert load_stack_config("production", raw).features.agents is False
    raw = changed(raw, "archon:features.agents", True)
    with pytest.raises(ConfigError, match=r"archon:services\.agents\.replicas = 1: production needs at least 2"):
        load_stack_config("production", raw)


def test_quantities_accept_numbers_as_yaml_writes_them():
    raw = changed(raw_config("staging"), "archon:services.server.resources.limits.cpu", 2)
    assert load_stack_config("staging", raw).services.server.resources.limits.cpu == "2"


def test_a_registry_password_needs_its_user_name():
    raw = raw_config("staging") | {"archon:registryPassword": "x"}
    assert refusals("staging", raw) == [
        "archon:images.registryUsername: is required with the registryPassword secret (the registry login is "
        "user name and password together)"]
    raw = changed(raw, "archon:images.registryUsername", "ci-bot")
    assert load_stack_config("staging", raw).images.registry_username == "ci-bot"


def test_supabase_needs_its_url_and_service_key():
    raw = changed(raw_config("staging"), "archon:databases.provider", "supabase")
    assert refusals("staging", raw) == [
        "archon:supabaseUrl: is required with databases.provider: supabase (the project URL, e.g. "
        "https://xyz.supabase.co)",
        "archon:supabaseServiceKey: is required with databases.provider: supabase; set it with "
        "`pulumi config set --secret supabaseServiceKey <service_role key>`"]
    raw = raw | {"archon:supabaseUrl": "http://supabase.example.com", "archon:supabaseServiceKey": "x"}
    with pytest.raises(ConfigError, match="Archon refuses plain http except for localhost and private IP"):
        load_stack_config("staging", raw)
    for url in ("https://xyz.supabase.co", "http://10.0.0.5:8000", "http://localhost:54321"):
        cfg = load_stack_config("staging", raw | {"archon:supabaseUrl": url})
        assert list(cfg.databases.engines()) == ["redis", "qdrant", "memgraph"]


def test_an_s3_backup_target_needs_its_credentials():
    raw = changed(raw_config("staging"), "archon:databases.backup.s3",
                  {"endpoint": "https://s3.eu-west-1.amazonaws.com", "bucket": "acme-archon-backups"})
    with pytest.raises(ConfigError) as caught:
        load_stack_config("staging", raw)
    assert [i.path for i in caught.value.issues] == ["backupS3AccessKeyId", "backupS3SecretAccessKey"]
    raw |= {"archon:backupS3AccessKeyId": "AKIA", "archon:backupS3SecretAccessKey": "s"}
    assert load_stack_config("staging", raw).databases.backup.s3.bucket == "acme-archon-backups"


def test_images_need_a_prebuilt_reference_or_a_source_checkout(tmp_path, monkeypatch):
    raw = changed(raw_config("staging"), "archon:images.prebuilt", {"frontend": "ghcr.io/acme/archon/frontend:v1"})
    assert refusals("staging", raw) == [
        "archon:appSource: is not set, and server, mcp, agents have no images.prebuilt entry: set "
        "archon:appSource to an Archon checkout to build, or name a prebuilt image"]
    with pytest.raises(ConfigError, match=r"archon:appSource = 'no/such/archon': is not a directory"):
        load_stack_config("staging", raw | {"archon:appSource": "no/such/archon"})
    with pytest.raises(ConfigError, match=r"archon:appSource = '/srv/archon': must be relative to the project "
                                          r"directory \(e\.g\. \.\./archon\): an absolute path differs"):
        load_stack_config("staging", raw | {"archon:appSource": "/srv/archon"})
    with pytest.raises(ConfigError, match=r"appSource = '~/archon': must be relative"):
        load_stack_config("staging", raw | {"archon:appSource": "~/archon"})
    monkeypatch.chdir(tmp_path)  # the program's working directory is the project's
    (tmp_path / "archon").mkdir()
    assert load_stack_config("staging", raw | {"archon:appSource": "archon"}).app_source == "archon"


@pytest.mark.parametrize("image, message", [
    ("ghcr.io/acme/archon/server", "has no tag; pin a version tag or a digest"),
    ("ghcr.io/acme/archon/server:latest", "has the tag latest; pin a version tag or a digest"),
    ("ghcr.io/acme/archon/server@sha256:abc", "has a malformed digest"),
])
def test_prebuilt_images_must_be_pinned(image, message):
    raw = changed(raw_config("staging"), "archon:images.prebuilt.server", image)
    assert refusals("staging", raw) == [f"archon:images.prebuilt.server = {image!r}: {message}"]


def test_cidrs_are_checked_wherever_they_are_configured():
    raw = changed(raw_config("staging"), "archon:ingress.grafana",
                  {"host": "grafana.example.com", "allowCidrs": ["10.0.0.0/8", "office"]})
    raw = changed(raw, "archon:network", {"externalCidrs": ["0.0.0.0/0", "256.0.0.0/8"]})
    assert refusals("staging", raw) == [
        "archon:network.externalCidrs.1 = '256.0.0.0/8': is not a CIDR such as 203.0.113.0/24",
        "archon:ingress.grafana.allowCidrs.1 = 'office': is not a CIDR such as 203.0.113.0/24"]


def test_intelligence_cannot_be_built_from_an_archon_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "archon" / "python").mkdir(parents=True)
    raw = changed(raw_config("staging"), "archon:features.intelligence", True)
    raw["archon:appSource"] = "archon"
    assert refusals("staging", raw) == [
        "archon:images.prebuilt.intelligence: is needed: the intelligence service is not part of Archon, so appSource "
        "has no services/intelligence; it is OmniArchon's (OmniNode-ai/omniintelligence, migration_sources/"
        "omniarchon/services/intelligence), and the delivery pipeline builds it from there"]
    raw = changed(raw, "archon:images.prebuilt.intelligence", "ghcr.io/acme/archon/intelligence:v0.1.0")
    assert "intelligence" in load_stack_config("staging", raw).enabled_services()


def test_oidc_needs_its_client_secret():
    raw = changed(raw_config("staging"), "archon:ingress.auth", {
        "mode": "oidc", "oidc": {"issuerUrl": "https://login.example.org", "clientId": "archon",
                                 "emailDomains": ["example.org"]}})
    assert refusals("staging", raw) == [
        "archon:oidcClientSecret: is required with ingress.auth.mode: oidc; set it with `pulumi config set --secret "
        "oidcClientSecret ...`"]
    raw["archon:oidcClientSecret"] = "[secret]"
    assert refusals("staging", changed(raw, "archon:ingress.auth", {"mode": "oidc"})) == [
        "archon:ingress.auth.oidc: is required with ingress.auth.mode: oidc (issuerUrl, clientId, emailDomains)"]
    assert load_stack_config("staging", raw).ingress.auth.oidc.client_id == "archon"
