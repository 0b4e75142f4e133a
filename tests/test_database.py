"""The data layer as both stacks render it: every engine's StatefulSet, Secret, Services, NetworkPolicy."""

from __future__ import annotations

import json

import pytest
import yaml

from components.database_engines import ENGINES, POSTGRES_EXTENSIONS
from offline.fakes import computed_outputs
from stackconfig import load_stack_config
from tests.conftest import STACKS, plan_with, raw_config
from tests.helpers import secret_strings, use_supabase

CASES = [(stack, key) for stack in STACKS for key in ENGINES]
DATABASE_PASSWORDS = {f"archon-{key}-{generated}" for key, engine in ENGINES.items() for generated in engine.generated}


def every_store(config: dict) -> None:
    """The committed stacks with every store running (without the intelligence service only PostgreSQL runs)."""
    for key in ("redis", "qdrant", "memgraph"):
        config["archon:databases"][key]["enabled"] = True


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """This module's plans: each committed stack with every data store on."""
    result = {stack: plan_with(tmp_path_factory.mktemp(f"stores-{stack}"), stack, every_store) for stack in STACKS}
    for stack, plan_ in result.items():
        assert plan_.exit_code == 0, (stack, plan_.stderr)
    return result


def named(plan_, kind: str, name: str) -> dict:
    (obj,) = [o for o in plan_.objects(kind) if o["metadata"]["name"] == name]
    return obj


def pod_of(sts: dict) -> dict:
    return sts["spec"]["template"]["spec"]


@pytest.mark.parametrize("stack, key", CASES)
def test_statefulset_shape_volume_and_retention(plans, stack, key):
    engine, settings = ENGINES[key], load_stack_config(stack, raw_config(stack)).databases.engines()[key]
    sts = named(plans[stack], "StatefulSet", engine.name)
    spec = sts["spec"]
    assert (spec["podManagementPolicy"], spec["updateStrategy"]["type"]) == ("OrderedReady", "RollingUpdate")
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["serviceName"] == f"{engine.name}-headless"
    assert spec["replicas"] == settings.replicas
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == settings.storage.size
    # No committed stack names a storage class: each volume gets the cluster's default, whatever the cloud.
    assert settings.storage.storage_class is None and "storageClassName" not in claim["spec"]
    main = pod_of(sts)["containers"][0]
    assert main["resources"] == {"requests": settings.resources.requests.model_dump(),
                                 "limits": settings.resources.limits.model_dump()}


@pytest.mark.parametrize("stack, key", CASES)
def test_pod_runs_as_the_images_numeric_user_with_every_writable_path_mounted(plans, stack, key):
    engine, settings = ENGINES[key], load_stack_config(stack, raw_config(stack)).databases.engines()[key]
    pod = pod_of(named(plans[stack], "StatefulSet", engine.name))
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == \
        (engine.run_as.user, engine.run_as.group)
    main = pod["containers"][0]
    mounted = {m["mountPath"] for m in main["volumeMounts"]}
    assert engine.data_path in mounted
    assert {p.path for p in engine.writable_paths(settings)} <= mounted
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in main["volumeMounts"]:
        assert mount["name"] == "data" or mount["name"] in volumes
    for name in ("readinessProbe", "livenessProbe"):
        assert name in main
    assert ("startupProbe" in main) == (engine.probes.startup is not None)


def test_postgres_keeps_pgdata_below_the_mount_and_runs_the_extension_script(plans):
    prod = plans["production"]
    pod = pod_of(named(prod, "StatefulSet", "archon-postgres"))
    main = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    assert env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/archon/password"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["postgres-dev-shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "1024Mi"}
    mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    assert {"/var/run/postgresql", "/tmp", "/dev/shm", "/docker-entrypoint-initdb.d"} <= set(mounts)
    init = named(prod, "ConfigMap", "archon-postgres-init")
    assert init["data"]["01-extensions.sql"] == "".join(f"CREATE EXTENSION IF NOT EXISTS {e};\n"
                                                        for e in POSTGRES_EXTENSIONS)
    exporter = pod["containers"][1]
    assert exporter["name"] == "postgres-exporter" and exporter["securityContext"]["runAsUser"] == 65534
    assert exporter["ports"] == [{"containerPort": 9187, "name": "http-metrics", "protocol": "TCP"}]


def test_memgraph_memory_limit_stays_below_the_pod_limit(plans):
    for stack in STACKS:
        settings = load_stack_config(stack, raw_config(stack)).databases.memgraph
        args = pod_of(named(plans[stack], "StatefulSet", "archon-memgraph"))["containers"][0]["args"]
        limit_mib = int(settings.resources.limits.memory.removesuffix("Gi")) * 1024
        (memory_limit,) = [int(a.split("=")[1]) for a in args if a.startswith("--memory-limit=")]
        assert 0 < memory_limit < limit_mib
        assert "--data-directory=/var/lib/memgraph/mg_data" in args


def test_engines_get_credentials_by_reference_never_by_value(plans):
    for key in ENGINES:
        pod = pod_of(named(plans["staging"], "StatefulSet", ENGINES[key].name))
        for container in pod["containers"]:
            for var in container.get("env", []):
                if "valueFrom" in var:
                    assert var["valueFrom"]["secretKeyRef"]["name"] == f"{ENGINES[key].name}-credentials"


def test_services_headless_and_client_with_named_ports(plans):
    for engine in ENGINES.values():
        headless = named(plans["staging"], "Service", f"{engine.name}-headless")
        client = named(plans["staging"], "Service", engine.name)
        assert headless["spec"]["clusterIP"] == "None"
        assert client["spec"]["type"] == "ClusterIP"
        names = {p["name"] for p in client["spec"]["ports"]}
        assert engine.port_name in names
        assert ("http-metrics" in names) == (engine.exporter is not None)


# Who connects to each data store in staging (intelligence off): the data API, its migration Job and the backups
# read PostgreSQL; the backups snapshot Qdrant; only the stack's Prometheus scrapes the exporters.
DATABASE_CLIENTS = {
    "postgres": {("archon-data-api", 5432), ("archon-data-migrate", 5432), ("archon-db-backup", 5432),
                 ("prometheus", 9187)},
    "redis": {("prometheus", 9121)},
    "qdrant": {("archon-db-backup", 6333)},
    "memgraph": set(),
}


@pytest.mark.parametrize("key", list(ENGINES))
def test_each_data_store_admits_exactly_its_clients_and_connects_nowhere(plans, key):
    engine, found = ENGINES[key], plans["staging"].connections
    assert {(c, p) for c, s, p, _ in found if s == engine.name} == DATABASE_CLIENTS[key]
    assert {c for c, s, p, _ in found if c == engine.name and p != 53} == set()  # DNS only


def test_production_protects_data_and_staging_does_not(plans):
    for stack, expected in (("production", True), ("staging", False)):
        for r in plans[stack].resources:
            if r["type"] == "kubernetes:apps/v1:StatefulSet":
                assert (r["options"]["protect"], r["options"]["retainOnDelete"]) == (expected, expected), r["name"]
                assert r["options"]["deleteBeforeReplace"] is True
            if r["name"].endswith("-credentials") or r["name"] in DATABASE_PASSWORDS:
                assert r["options"]["protect"] is expected, r["name"]


def test_no_generated_secret_appears_outside_a_secret(plans):
    for stack in STACKS:
        p = plans[stack]
        passwords = [computed_outputs(r["type"], r["name"], r["inputs"])["result"] for r in p.resources
                     if r["type"] == "random:index/randomPassword:RandomPassword"]
        # and Grafana's admin password, the data API's JWT secret and authenticator password (bundled mode), and
        # the edge's and MCP's basic-auth passwords
        assert len(passwords) == len(DATABASE_PASSWORDS) + 1 + 2 + 2
        secrets_text = yaml.safe_dump([secret_strings(o) for o in p.manifests if o["kind"] == "Secret"])
        assert all(pw in secrets_text for pw in passwords)  # the scan below can find them
        elsewhere = [yaml.safe_dump(o) for o in p.manifests if o["kind"] != "Secret"]
        elsewhere += [json.dumps(p.outputs), p.stdout, (p.out / "policy-report.json").read_text(),
                      (p.out / "policy-report.sarif").read_text()]
        leaks = [pw for pw in passwords for text in elsewhere if pw in text]
        assert leaks == []


def test_a_replicated_database_gets_a_disruption_budget(tmp_path):
    result = plan_with(tmp_path, "staging",
                       lambda config: config["archon:databases"]["redis"].update(enabled=True, replicas=2))
    assert result.exit_code == 0, result.stderr
    budgets = {b["metadata"]["name"]: b["spec"] for b in result.objects("PodDisruptionBudget")}
    assert list(budgets) == ["archon-redis"]
    assert budgets["archon-redis"]["maxUnavailable"] == 1


def test_supabase_replaces_the_bundled_postgres(tmp_path):
    result = plan_with(tmp_path, "staging", use_supabase)
    assert result.exit_code == 0, result.stderr
    assert "archon-postgres" not in {o["metadata"]["name"] for o in result.objects("StatefulSet")}
    secret = named(result, "Secret", "archon-supabase")
    assert secret_strings(secret) == {"SUPABASE_URL": "https://xyz.supabase.co",
                                    "SUPABASE_SERVICE_KEY": "offline-placeholder:archon:supabaseServiceKey"}
    assert result.outputs["supabaseSecretName"] == "archon-supabase"


def test_supabase_without_its_key_is_a_config_error(tmp_path):
    def without_key(config: dict) -> None:
        config["archon:databases"]["provider"] = "supabase"
        config["archon:supabaseUrl"] = "https://xyz.supabase.co"
    result = plan_with(tmp_path, "staging", without_key)
    assert result.exit_code == 2
    assert "archon:supabaseServiceKey: is required with databases.provider: supabase" in result.stderr


def test_outputs_name_the_connection_and_keep_the_dsn_secret(plans):
    outputs = plans["production"].outputs
    assert outputs["databases"]["postgres"] == {
        "host": "archon-postgres.archon.svc.cluster.local", "port": 5432,
        "secretName": "archon-postgres-credentials", "secretKeys": ["database", "password", "username"]}
    for key in ENGINES:
        assert outputs[f"{key}Dsn"] == "[secret]"


def test_rotation_counter_is_a_keeper_and_restarts_the_pods(tmp_path):
    result = plan_with(tmp_path, "staging", lambda config: (every_store(config),
                                                             config["archon:databases"].update(credentialsRotation=3)))
    assert result.exit_code == 0, result.stderr
    passwords = [r for r in result.resources if r["name"] in DATABASE_PASSWORDS]
    assert len(passwords) == len(DATABASE_PASSWORDS)
    assert {json.dumps(r["inputs"]["keepers"]) for r in passwords} == {'{"rotation": "3"}'}
    assert all(r["inputs"]["special"] is False and r["inputs"]["length"] == 32 for r in passwords)
    sts = named(result, "StatefulSet", "archon-redis")
    assert sts["spec"]["template"]["metadata"]["annotations"]["archon.io/credentials-rotation"] == "3"
