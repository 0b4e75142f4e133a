"""The stack on a real node: every pod whose images are built here (e2e/images.py) runs for real, under its pod's
constraints, beside the simulated nodes that keep the rest (e2e/placement.py says which, and why).

In order: the up places and starts them, and they stay Ready with no restart for three minutes while the other
checks run; the migration Job ran against the real PostgreSQL; Service names resolve through cluster DNS; every edge
of the traffic graph between pods on the real node connects and the connections the graph does not allow are
refused (kube-router enforcing the rendered NetworkPolicies), across namespaces and outward too; the frontend serves
its page and MCP answers /health through their Services; a backup Job and a restore bring back a row; the server and
the agents, simulated in the stack, start on the real node against a stand-in data API; a rolling update of the
frontend drops no request; a memory limit too small fails the up naming the workload and OOMKilled, and the next up
converges. An up with the too-small limit waits out the Deployment's rollout timeout (ten minutes), so it runs in
the background from the first up on, while the checks that need no up run.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from e2e import harness, node, placement, pods
from e2e.checks import wait_gone
from tests.helpers import unavailable
from tests.reachability import Endpoint, Reachability, outside_pod

pytestmark = pytest.mark.usefixtures("cluster")
NAMESPACE = "archon-local"
CONTROLLER_NAMESPACE = "traefik"
ELSEWHERE = "archon-e2e-elsewhere"
# The claims of the workloads that run here bind on the node they are scheduled to (as on kind or k3d).
SETTINGS = tuple(f"archon:{key}.storageClass={node.STORAGE_CLASS}" for key in (
    "databases.postgres.storage", "databases.redis.storage", "databases.backup.storage", "monitoring.storage"))
TOO_LITTLE_MEMORY = ("archon:services.mcp.resources.requests.memory=24Mi",
                     "archon:services.mcp.resources.limits.memory=40Mi")
ON_THE_REAL_NODE = {"archon-frontend", "archon-mcp", "archon-postgres", "archon-redis", "prometheus", "alertmanager",
                    "kube-state-metrics"}
STAYS_SIMULATED = {"archon-server", "archon-agents", "archon-data-api", "archon-qdrant", "archon-memgraph", "grafana",
                   "loki", "alloy"}
STABLE_SECONDS = 180
PROBE_IMAGE = "curlimages/curl:8.16.0"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request):
    """The local stack up with the harness placing pods on the real node; the too-small-memory up in the background
    from then on; destroyed at the end."""
    if not node.node_ready():
        unavailable("the real node is not running: make cluster-up (or make e2e)")
    node.reset_storage()
    placement.enable(NAMESPACE)
    state: dict = {}
    try:
        state["up"] = harness.pulumi("up", sets=SETTINGS, events=True)
        state["at"] = time.monotonic()
        state["pods"] = pods.listed(NAMESPACE)
        state["outputs"] = harness.pulumi("outputs", sets=SETTINGS)
        plan = tmp_path_factory.mktemp("plan")
        state["plan"] = harness.offline_plan(plan, "local", SETTINGS)
        state["manifests"] = [r["inputs"] for r in json.loads((plan / "resources.json").read_text())
                              if r["type"].startswith("kubernetes:") and "kind" in r["inputs"]]
        state["plan_outputs"] = json.loads((plan / "outputs.json").read_text())
        too_small: dict = {}
        worker = threading.Thread(target=lambda: too_small.update(
            run=harness.pulumi("up", sets=(*SETTINGS, *TOO_LITTLE_MEMORY), timeout=1500)), daemon=True)
        wanted = any(item.name.startswith("test_a_memory_limit") for item in request.session.items)
        if state["up"].returncode == 0 and wanted:
            worker.start()
        state["too_small"], state["worker"] = too_small, worker
        yield state
    finally:
        if state.get("worker") and state["worker"].is_alive():
            state["worker"].join(timeout=1500)
        harness.kubectl("delete", "namespace", ELSEWHERE, "archon-e2e-app", "--ignore-not-found", "--wait=false",
                        check=False)
        delete_e2e_jobs()
        harness.pulumi("cancel", sets=SETTINGS)
        destroyed = harness.pulumi("destroy", sets=SETTINGS)
        placement.disable()
        wait_gone(NAMESPACE, CONTROLLER_NAMESPACE, ELSEWHERE, "archon-e2e-app")
        node.reset_storage()
        assert destroyed.returncode == 0, destroyed.output[-3000:]


def test_the_up_runs_every_pod_it_can_on_the_real_node_and_agrees_with_the_offline_plan(stack):
    assert stack["up"].returncode == 0, stack["up"].output[-4000:]
    assert stack["plan"].returncode == 0, stack["plan"].stderr
    outputs = json.loads(stack["outputs"].stdout.splitlines()[-1])
    assert outputs == stack["plan_outputs"]
    by_app: dict[str, list[pods.Pod]] = {}
    for pod in stack["pods"]:
        by_app.setdefault(pod.app, []).append(pod)
    real = {app for app, found in by_app.items() if all(p.real for p in found)}
    simulated = {app for app, found in by_app.items() if not any(p.real for p in found)}
    assert real >= ON_THE_REAL_NODE, {"expected here": ON_THE_REAL_NODE - real, "where": {
        app: [p.node for p in by_app.get(app, [])] for app in ON_THE_REAL_NODE - real}}
    assert simulated >= STAYS_SIMULATED
    for pod in stack["pods"]:
        if pod.real and pod.owner != "Job":
            assert pod.ready and pod.phase == "Running", pod
    # The migration Job's pod ran here too, against the real PostgreSQL (its own scenario reads what it did).
    assert any(p.real and p.app == "archon-data-migrate" for p in stack["pods"]) or migration_pods()


def migration_pods() -> list[pods.Pod]:
    return [p for p in pods.listed(NAMESPACE) if p.app == "archon-data-migrate"]


def test_the_migration_job_applied_archons_schema_to_the_real_postgresql(stack):
    (job,) = [j for j in harness.objects("jobs", NAMESPACE)
              if j["spec"]["template"]["metadata"]["labels"].get(pods.APP) == "archon-data-migrate"]
    assert job["status"].get("succeeded") == 1, job["status"]
    (pod,) = [p for p in migration_pods() if p.phase == "Succeeded"]
    assert pod.real
    assert "Archon's schema applied" in pods.logs(pod, "migrate")
    postgres = pods.running(NAMESPACE, "archon-postgres")
    tables = pods.exec_in(postgres, "psql -U archon -d archon -h 127.0.0.1 -tA -c "
                                    "\"SELECT count(*) FROM pg_tables WHERE tablename LIKE 'archon_%'\"",
                          "postgres")
    assert tables.returncode == 0 and int(tables.stdout.strip()) >= 5, tables.stderr
    vector = pods.exec_in(postgres, "psql -U archon -d archon -h 127.0.0.1 -tA -c "
                                    "\"SELECT extversion FROM pg_extension WHERE extname = 'vector'\"", "postgres")
    assert vector.stdout.strip().startswith("0.8"), vector.stdout + vector.stderr


def test_service_names_resolve_through_cluster_dns(stack):
    mcp = pods.running(NAMESPACE, "archon-mcp")
    services = {s["metadata"]["name"]: s["spec"]["clusterIP"] for s in harness.objects("services", NAMESPACE)}
    for name in ("archon-postgres", "archon-server", "archon-data-api"):
        short = pods.exec_in(mcp, f"getent hosts {name}", "mcp")
        full = pods.exec_in(mcp, f"getent hosts {name}.{NAMESPACE}.svc.cluster.local", "mcp")
        assert short.returncode == 0 and full.returncode == 0, short.stderr + full.stderr
        if services[name] != "None":
            assert short.stdout.split()[0] == full.stdout.split()[0] == services[name]
    assert pods.exec_in(mcp, "getent hosts kubernetes.default", "mcp").stdout.split()[0] == "10.96.0.1"


@pytest.fixture(scope="module")
def probes(stack):
    """Pods to connect from outside the stack's namespace: one where the ingress controller runs, one elsewhere."""
    harness.kubectl("create", "namespace", ELSEWHERE, check=False)
    found = {}
    for namespace in (CONTROLLER_NAMESPACE, ELSEWHERE):
        pods.create([pods.probe_pod(namespace, "archon-e2e-probe", PROBE_IMAGE)])
        pods.wait_ready(namespace, "archon-e2e-probe")
        (found[namespace],) = [p for p in pods.listed(namespace) if p.name == "archon-e2e-probe"]
        assert found[namespace].real
    return found


def traffic_graph(manifests: list[dict]) -> set[tuple[str, str, int]]:
    """The TCP connections the rendered NetworkPolicies allow, by app name (tests/reachability.py, which reads the
    manifests as Kubernetes does), with the probes and CoreDNS as the pods outside the namespace."""
    outside = [outside_pod(CONTROLLER_NAMESPACE, {"app.kubernetes.io/name": "archon-e2e-probe"}),
               outside_pod(ELSEWHERE, {"app.kubernetes.io/name": "archon-e2e-probe"}),
               outside_pod("kube-system", {"k8s-app": "kube-dns"}),
               Endpoint("api server", address=node.HOST_IP)]
    return {(c, s, p) for c, s, p, proto in Reachability(manifests, outside).allowed() if proto == "TCP"}


def container_ports(manifests: list[dict]) -> dict[str, set[int]]:
    """The ports each app's pods listen on, as the plan declares them."""
    found: dict[str, set[int]] = {}
    for m in manifests:
        spec = m.get("spec") or {}
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        if m["kind"] in ("Deployment", "StatefulSet") and "app.kubernetes.io/name" in labels:
            found[labels["app.kubernetes.io/name"]] = {p["containerPort"] for c in template["spec"]["containers"]
                                                       for p in c.get("ports") or []}
    return found


def test_network_policies_are_enforced_on_the_real_node(stack, probes):
    graph = traffic_graph(stack["manifests"])
    listening = container_ports(stack["manifests"])
    here = {p.app: p for p in pods.listed(NAMESPACE) if p.real and p.ready and p.app in ON_THE_REAL_NODE}
    dns = next(p for p in pods.listed("kube-system") if p.app == "" and p.name.startswith("coredns") and p.ready)
    clients = {app: pod for app, pod in here.items() if app != "kube-state-metrics"}  # no shell in its image
    clients |= {f"{ns}/archon-e2e-probe": pod for ns, pod in probes.items()}
    targets = {**here, "kube-system/kube-dns": dns}
    ports = {**listening, "kube-system/kube-dns": {53, 8080, 8181}}
    outside = {"kube-system/kube-dns", "api server", *(f"{ns}/archon-e2e-probe" for ns in probes)}
    tried: list[tuple[str, str, int, bool, bool]] = []
    for client, pod in clients.items():
        for server, target in targets.items():
            if server == client or {client, server} <= outside:  # no policy of the stack's on either end
                continue
            for port in sorted(ports.get(server, set())):
                allowed = (client, server, port) in graph
                assert pods.from_node(target.ip, port), f"nothing listens on {server} {target.ip}:{port}"
                tried.append((client, server, port, allowed, pods.connects(pod, target.ip, port)))
        if client not in outside:  # egress to the API server (its advertised address, the Service's endpoint)
            allowed = (client, "api server", 6443) in graph
            tried.append((client, "api server", 6443, allowed, pods.connects(pod, node.HOST_IP, 6443)))
    wrong = [t for t in tried if t[3] != t[4]]
    edges = [t for t in tried if t[3]]
    refused = [t for t in tried if not t[3]]
    report = harness.paths.BUILD / "real-node-connections.json"
    report.write_text(json.dumps([dict(zip(("client", "server", "port", "allowed", "connected"), t, strict=True))
                                  for t in tried], indent=1))
    assert not wrong, f"connections that disagree with the traffic graph (client, server, port, allowed, got): {wrong}"
    assert len(edges) >= 10 and len(refused) >= 20, (len(edges), len(refused))
    assert any(t[0].endswith("archon-e2e-probe") for t in refused), "cross-namespace refusals were tried"
    assert any(t[1] == "kube-system/kube-dns" and not t[3] for t in tried), "egress to another namespace refused"


def http_get(pod: pods.Pod, url: str) -> tuple[int, str]:
    """GET from inside a pod (the probe's curl): status and body."""
    done = pods.exec_in(pod, f"curl -s -m 5 -w '\\n%{{http_code}}' {url}")
    body, _, code = done.stdout.rpartition("\n")
    return int(code or 0), body


def test_the_frontend_serves_its_page_and_mcp_answers_health_through_their_services(stack, probes):
    ingress = probes[CONTROLLER_NAMESPACE]
    code, body = http_get(ingress, f"http://archon-frontend.{NAMESPACE}:3737/")
    assert code == 200 and '<div id="root">' in body, body[:500]
    code, body = http_get(ingress, f"http://archon-frontend.{NAMESPACE}:3737/healthz")
    assert code == 200
    code, body = http_get(ingress, f"http://archon-mcp.{NAMESPACE}:8051/health")
    assert code == 200 and json.loads(body)["success"] is True, body[:500]


def test_a_backup_job_and_a_restore_bring_back_a_row_written_before(stack):
    postgres = pods.running(NAMESPACE, "archon-postgres")
    sql = "psql -U archon -d archon -h 127.0.0.1 -v ON_ERROR_STOP=1 -tA -c"
    write = pods.exec_in(postgres, f"{sql} \"INSERT INTO archon_settings (key, value) VALUES "
                                   f"('E2E_MARKER', 'before-the-backup')\"", "postgres")
    assert write.returncode == 0, write.stderr
    job = backup_job()
    harness.kubectl("apply", "-f", "-", stdin=json.dumps(job))
    assert finished(job["metadata"]["name"]) == "Complete", job_logs(job["metadata"]["name"])
    backup_pod = next(p for p in pods.listed(NAMESPACE) if p.app == "archon-db-backup" and p.phase == "Succeeded")
    assert backup_pod.real
    dump = f"postgres-{job['metadata']['name']}.dump"  # the script names it after the Job (STAMP)
    assert f"wrote /backups/{dump}" in pods.logs(backup_pod, "dump-postgres")
    lose = pods.exec_in(postgres, f"{sql} \"DELETE FROM archon_settings WHERE key = 'E2E_MARKER'\"", "postgres")
    assert lose.returncode == 0
    restore = restore_job(dump)
    harness.kubectl("apply", "-f", "-", stdin=json.dumps(restore))
    assert finished(restore["metadata"]["name"]) == "Complete", job_logs(restore["metadata"]["name"])
    back = pods.exec_in(postgres, f"{sql} \"SELECT value FROM archon_settings WHERE key = 'E2E_MARKER'\"", "postgres")
    assert back.stdout.strip() == "before-the-backup", back.stdout + back.stderr


E2E_JOBS = ("archon-e2e-backup", "archon-e2e-restore")


def finished(job: str, timeout: float = 300) -> str:
    """Wait for a Job to end: its final condition (Complete or Failed), or "" when it does not end in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = json.loads(harness.kubectl("get", "job", job, "-n", NAMESPACE, "-o", "json").stdout)
        for condition in found.get("status", {}).get("conditions") or []:
            if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
                return condition["type"]
        time.sleep(2)
    return ""


def job_logs(prefix: str) -> dict[str, str]:
    return {f"{p.name}/{c}": pods.logs(p, c)[-1500:] for p in pods.listed(NAMESPACE) if p.name.startswith(prefix)
            for c in p.containers}


def delete_e2e_jobs() -> None:
    """The Jobs this module made: their pods hold the backup claim, which the destroy then waits on."""
    harness.kubectl("delete", "job", *E2E_JOBS, "-n", NAMESPACE, "--ignore-not-found", "--wait=true",
                    check=False, timeout=180)
    harness.kubectl("delete", "configmap", "archon-db-restore-request", "-n", NAMESPACE, "--ignore-not-found",
                    check=False)


def job_from_cronjob(name: str, job_name: str) -> dict:
    cronjob = json.loads(harness.kubectl("get", "cronjob", name, "-n", NAMESPACE, "-o", "json").stdout)
    template = cronjob["spec"]["jobTemplate"]
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job_name, "namespace": NAMESPACE,
                         "labels": (template.get("metadata") or {}).get("labels") or {}},
            "spec": template["spec"]}


def backup_job() -> dict:
    """A Job of the backup CronJob, without the Qdrant snapshot step: Qdrant cannot run here."""
    job = job_from_cronjob("archon-db-backup", "archon-e2e-backup")
    spec = job["spec"]["template"]["spec"]
    spec["initContainers"] = [c for c in spec.get("initContainers", []) if c["name"] != "snapshot-qdrant"]
    return job


def restore_job(dump: str) -> dict:
    harness.kubectl("create", "configmap", "archon-db-restore-request", "-n", NAMESPACE, f"--from-literal=file={dump}",
                    check=False)
    return job_from_cronjob("archon-db-restore", "archon-e2e-restore")


# --- the server and the agents, against a stand-in data API -------------------------------------------------------

APP_NAMESPACE = "archon-e2e-app"
STAND_IN = Path(__file__).resolve().parents[2] / "e2e" / "data_api_stand_in.py"


def copy_of(kind: str, name: str) -> dict:
    """An object of the stack's namespace, as a new object for the app namespace."""
    found = json.loads(harness.kubectl("get", kind, name, "-n", NAMESPACE, "-o", "json").stdout)
    keep = {k: v for k, v in found.items() if k in ("apiVersion", "kind", "data", "type", "spec")}
    return {**keep, "metadata": {"name": name, "namespace": APP_NAMESPACE,
                                 "labels": found["metadata"].get("labels") or {}}}


def deployment_copy(name: str) -> dict:
    """The stack's Deployment, its pod template unchanged, in the app namespace."""
    deployment = copy_of("deployment", name)
    deployment["spec"] = {k: v for k, v in deployment["spec"].items() if k in ("replicas", "selector", "template")}
    for field in ("serviceAccountName", "serviceAccount", "imagePullSecrets"):  # the namespace's default account
        deployment["spec"]["template"]["spec"].pop(field, None)
    return deployment


def stand_in_objects() -> list[dict]:
    """PostgREST's stand-in (e2e/data_api_stand_in.py on the python image) as archon-data-api, and the Services
    the copies find each other by."""
    labels = {"app.kubernetes.io/name": "archon-data-api"}
    pod = pods.probe_pod(APP_NAMESPACE, "archon-data-api", "localhost/archon-e2e/python:3.12.12-bookworm", labels)
    container = pod["spec"]["containers"][0]
    container["command"] = ["python", "/stand-in/data_api_stand_in.py", "3000"]
    container["ports"] = [{"name": "http", "containerPort": 3000}]
    container["readinessProbe"] = {"tcpSocket": {"port": 3000}, "periodSeconds": 2}
    container["volumeMounts"] = [{"name": "stand-in", "mountPath": "/stand-in"}]
    pod["spec"]["volumes"] = [{"name": "stand-in", "configMap": {"name": "archon-e2e-data-api-stand-in"}}]
    service = {"apiVersion": "v1", "kind": "Service"}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "archon-e2e-data-api-stand-in", "namespace": APP_NAMESPACE},
         "data": {"data_api_stand_in.py": STAND_IN.read_text()}},
        pod,
        {**service, "metadata": {"name": "archon-data-api", "namespace": APP_NAMESPACE},
         "spec": {"selector": labels, "ports": [{"port": 3000, "targetPort": 3000}]}},
        {**service, "metadata": {"name": "archon-server", "namespace": APP_NAMESPACE},
         "spec": {"selector": {"app.kubernetes.io/name": "archon-server"}, "ports": [{"port": 8181,
                                                                                      "targetPort": 8181}]}},
    ]


def test_the_server_and_the_agents_start_on_the_real_node_against_a_stand_in_data_api(stack):
    harness.kubectl("create", "namespace", APP_NAMESPACE, check=False)
    harness.kubectl("label", "namespace", APP_NAMESPACE, "--overwrite", "pod-security.kubernetes.io/enforce=restricted")
    pods.create([copy_of("secret", name) for name in ("archon-app-secrets", "archon-data-api-credentials")]
                + [copy_of("configmap", name) for name in ("archon-data-api-proxy", "archon-data-api-files")]
                + stand_in_objects())
    pods.wait_ready(APP_NAMESPACE, "archon-data-api")
    # The server's pod as the stack renders it (its init container, sidecar, limits, read-only root, probes), then
    # the agents', which fetch their credentials from it.
    pods.create([deployment_copy("archon-server"), deployment_copy("archon-agents")])
    started = time.monotonic()
    for name in ("archon-server", "archon-agents"):
        done = harness.kubectl("rollout", "status", f"deployment/{name}", "-n", APP_NAMESPACE, "--timeout=600s",
                               check=False, timeout=630)
        here = [p for p in pods.listed(APP_NAMESPACE) if p.app == name]
        assert done.returncode == 0, [(p, pods.logs(p)[-2000:]) for p in here]
        assert all(p.real and p.ready for p in here), here
    server = next(p for p in pods.listed(APP_NAMESPACE) if p.app == "archon-server")
    waited = pods.logs(server, "wait-for-data-api")
    assert "serves Archon's schema" in waited, waited
    health = pods.exec_in(server, "python -c \"import urllib.request; print(urllib.request.urlopen("
                                  "'http://127.0.0.1:8181/health', timeout=5).read().decode())\"", "server")
    assert json.loads(health.stdout)["ready"] is True, health.stdout + health.stderr
    agents = next(p for p in pods.listed(APP_NAMESPACE) if p.app == "archon-agents")
    # Archon serves /internal/credentials only to 172.16.0.0/12 and localhost (Docker's networks), so on a pod
    # network elsewhere the agents are refused, retry thirty times and start with their environment's settings.
    said = pods.logs(agents)
    assert "/internal/credentials/agents \"HTTP/1.1 403 Forbidden\"" in said, said[-2000:]
    assert "Failed to fetch credentials after 30 attempts" in said, said[-2000:]
    time.sleep(max(0.0, 60 - (time.monotonic() - started)))  # their liveness probes run a few times
    for pod in pods.listed(APP_NAMESPACE):
        assert pod.ready and pod.restarts == 0, pod


# --- stability, rolling update, memory ---------------------------------------------------------------------------

def test_every_pod_on_the_real_node_stays_ready_with_no_restart(stack):
    time.sleep(max(0.0, STABLE_SECONDS - (time.monotonic() - stack["at"])))
    first = {(p.name, p.app) for p in stack["pods"] if p.real and p.owner != "Job"}
    now = {p.name: p for p in pods.listed(NAMESPACE)}
    for name, app in sorted(first):
        pod = now.get(name)
        assert pod is not None, f"{name} ({app}) is gone"
        assert pod.ready and pod.restarts == 0, pod
    assert len(first) >= len(ON_THE_REAL_NODE)


def test_a_memory_limit_too_small_fails_the_up_naming_the_workload_and_oomkilled(stack):
    stack["worker"].join(timeout=1500)
    run = stack["too_small"].get("run")
    assert run is not None, "the up with too little memory did not finish"
    assert run.returncode != 0
    assert "archon-mcp" in run.output and "OOMKilled" in run.output, run.output[-4000:]
    fixed = harness.pulumi("up", sets=SETTINGS)
    assert fixed.returncode == 0, fixed.output[-3000:]
    assert harness.pulumi("preview", "--expect-no-changes", sets=SETTINGS).returncode == 0
    mcp = [p for p in pods.listed(NAMESPACE) if p.app == "archon-mcp"]
    assert all(p.ready and p.restarts == 0 and p.real for p in mcp), mcp


def test_a_rolling_update_of_the_frontend_drops_no_request(stack, probes):
    client = probes[CONTROLLER_NAMESPACE]
    before = {p.name for p in pods.listed(NAMESPACE) if p.app == "archon-frontend"}
    loop = (f"while true; do curl -s -o /dev/null -m 2 -w '%{{http_code}}\\n' "
            f"http://archon-frontend.{NAMESPACE}:3737/; sleep 0.1; done")
    requests = subprocess.Popen([str(node.tools() / "kubectl"), "--kubeconfig", str(harness.paths.KUBECONFIG),
                                 "exec", "-n", client.namespace, client.name, "--", "sh", "-c", loop],
                                stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(5)
        change = "archon:services.frontend.resources.limits.memory=160Mi"
        run = harness.pulumi("up", sets=(*SETTINGS, change))
        assert run.returncode == 0, run.output[-3000:]
        time.sleep(10)
    finally:
        requests.terminate()
        out, _ = requests.communicate(timeout=30)
    codes = [line for line in out.splitlines() if line.strip()]
    after = {p.name for p in pods.listed(NAMESPACE) if p.app == "archon-frontend" and p.ready}
    assert after and not after & before, "the frontend's pods were replaced"
    failed = [c for c in codes if c != "200"]
    assert len(codes) > 50 and not failed, f"{len(failed)} of {len(codes)} requests failed: {sorted(set(failed))}"
