"""The bundled data API: what the plan renders, the roles and schema Job on a real PostgreSQL with pgvector, and
Archon's own client (supabase-py) through the real nginx of the readers' sidecar."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import jwt
import pytest

from components.data_api import FILES, PORT, PROXY_PORT, URL, service_role_key
from stackconfig.rules import supabase_url_ok
from tests.conftest import ROOT, plan_with
from tests.helpers import find, nginx_main_config, require_tool, secret_strings, unavailable, use_supabase
from tests.reachability import reaches


def container_env(pod: dict, name: str) -> dict:
    (container,) = [c for c in pod["containers"] if c["name"] == name]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def pod_of(plan, kind: str, name: str) -> dict:
    return find(plan, kind, name)["spec"]["template"]["spec"]


def test_server_and_mcp_read_the_database_through_the_data_api(plans):
    staging = plans["staging"]
    service = find(staging, "Service", "archon-data-api")
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(PORT, "http")]
    proxy_config = find(staging, "ConfigMap", "archon-data-api-proxy")["data"]
    assert proxy_config == {"default.conf": (FILES / "rest-proxy.conf").read_text()}
    for name, key in (("archon-server", "server"), ("archon-mcp", "mcp")):
        pod = pod_of(staging, "Deployment", name)
        env = container_env(pod, key)
        assert env["SUPABASE_SERVICE_KEY"] == {"secretKeyRef": {"key": "service-key",
                                                                "name": "archon-data-api-credentials"}}
        assert not [k for k in env if k.startswith("POSTGRES_")], f"{name} has no direct database access"
        # localhost over plain http is what upstream Archon's validate_supabase_url accepts, on any cluster.
        assert env["SUPABASE_URL"] == URL == f"http://localhost:{PROXY_PORT}" and supabase_url_ok(URL)
        (proxy,) = [c for c in pod["containers"] if c["name"] == "rest-proxy"]
        assert [p["containerPort"] for p in proxy["ports"]] == [PROXY_PORT]
        assert {m["mountPath"] for m in proxy["volumeMounts"]} == {"/etc/nginx/conf.d", "/tmp"}
        (volume,) = [v for v in pod["volumes"] if v["name"] == "rest-proxy"]
        assert volume["configMap"]["name"] == "archon-data-api-proxy"
        # The sidecar is the app's alone: the pod's policy admits nobody on its port.
        ingress = find(staging, "NetworkPolicy", name)["spec"]["ingress"]
        assert PROXY_PORT not in [p["port"] for rule in ingress for p in rule["ports"]]
        annotations = find(staging, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        assert "archon.io/config-checksum" in annotations  # a new proxy config rolls the readers


def test_the_service_key_is_a_service_role_jwt_signed_with_the_generated_secret(plans):
    values = secret_strings(find(plans["staging"], "Secret", "archon-data-api-credentials"))
    assert len(values["jwt-secret"]) == 64
    claims = jwt.decode(values["service-key"], values["jwt-secret"], algorithms=["HS256"])
    assert claims["role"] == "service_role"
    # Archon's startup check reads the role without verifying: anon is refused, service_role passes.
    assert jwt.decode(values["service-key"], options={"verify_signature": False})["role"] == "service_role"
    assert values["db-uri"] == (f"postgres://authenticator:{values['authenticator-password']}"
                                "@archon-postgres.archon-staging.svc.cluster.local:5432/archon")
    assert service_role_key(values["jwt-secret"]) == values["service-key"], "the same key on every run"


def test_postgrest_runs_with_the_generated_secrets_and_the_job_with_the_tested_files(plans):
    staging = plans["staging"]
    pod = pod_of(staging, "Deployment", "archon-data-api")
    assert [c["name"] for c in pod["containers"]] == ["postgrest"]
    env = container_env(pod, "postgrest")
    assert env["PGRST_DB_URI"] == {"secretKeyRef": {"key": "db-uri", "name": "archon-data-api-credentials"}}
    assert env["PGRST_JWT_SECRET"] == {"secretKeyRef": {"key": "jwt-secret", "name": "archon-data-api-credentials"}}
    assert env["PGRST_DB_ANON_ROLE"] == "anon" and env["PGRST_SERVER_PORT"] == str(PORT)
    files = find(staging, "ConfigMap", "archon-data-api-files")["data"]
    assert files == {name: (FILES / name).read_text() for name in ("roles.sql", "migrate.sh", "wait-for-data-api.py")}


def test_the_server_waits_in_init_for_the_data_api_and_the_others_start_at_once(plans):
    staging = plans["staging"]
    server = pod_of(staging, "Deployment", "archon-server")
    (wait,) = server["initContainers"]
    assert wait["name"] == "wait-for-data-api" and wait["image"] == server["containers"][0]["image"]
    assert wait["command"] == ["python", "/sql/wait-for-data-api.py"]
    assert container_env({"containers": [wait]}, "wait-for-data-api") == {
        "DATA_API_URL": f"http://archon-data-api:{PORT}",
        "SUPABASE_SERVICE_KEY": {"secretKeyRef": {"key": "service-key", "name": "archon-data-api-credentials"}}}
    (mount,) = wait["volumeMounts"]
    (volume,) = [v for v in server["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == "archon-data-api-files" and mount["mountPath"] == "/sql"
    assert "startupProbe" not in wait and "livenessProbe" not in wait  # it ends; no kubelet restarts it
    assert wait["securityContext"] == server["containers"][0]["securityContext"]
    # The pod may reach PostgREST itself (its sidecar does already); MCP and the agents do not wait.
    assert (("archon-data-api", PORT)) in reaches(staging.connections, "archon-server")
    for name in ("archon-mcp", "archon-agents", "archon-frontend"):
        assert "initContainers" not in pod_of(staging, "Deployment", name), name


def test_with_supabase_the_server_does_not_wait_for_a_data_api(tmp_path):
    result = plan_with(tmp_path, "staging", use_supabase)
    assert result.exit_code == 0, result.stderr
    assert "initContainers" not in pod_of(result, "Deployment", "archon-server")


class DataApiStandIn(http.server.BaseHTTPRequestHandler):
    """PostgREST as the server's init container meets it: first not there (502 through a proxy), then without
    Archon's schema (404), then serving it."""

    answers: ClassVar[list[int]] = []
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        DataApiStandIn.seen.append((self.path, self.headers.get("Authorization", "")))
        code = DataApiStandIn.answers.pop(0) if DataApiStandIn.answers else 200
        body = b"[]" if code == 200 else b'{"message":"relation does not exist"}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def run_wait(env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATA_API_URL", "SUPABASE_SERVICE_KEY")}
    return subprocess.run([sys.executable, str(FILES / "wait-for-data-api.py")], env={**clean, **env},
                          capture_output=True, text=True, timeout=timeout)


def test_the_wait_ends_once_the_data_api_serves_the_schema_and_never_exits_before():
    port = free_port()
    stand_in = http.server.ThreadingHTTPServer(("127.0.0.1", port), DataApiStandIn)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    try:
        DataApiStandIn.answers[:] = [502, 502, 404]
        DataApiStandIn.seen.clear()
        done = run_wait({"DATA_API_URL": f"http://127.0.0.1:{port}", "SUPABASE_SERVICE_KEY": "the-key"})
        assert done.returncode == 0, done.stderr
        assert [path for path, _ in DataApiStandIn.seen] == ["/archon_settings?select=key&limit=1"] * 4
        assert {auth for _, auth in DataApiStandIn.seen} == {"Bearer the-key"}
        assert "serves Archon's schema" in done.stdout
    finally:
        stand_in.shutdown()


def test_the_wait_keeps_waiting_while_nothing_listens_and_says_why():
    port = free_port()  # nobody listens here
    with pytest.raises(subprocess.TimeoutExpired):
        run_wait({"DATA_API_URL": f"http://127.0.0.1:{port}", "SUPABASE_SERVICE_KEY": "k"}, timeout=4)


def test_the_wait_refuses_to_run_without_its_environment():
    done = run_wait({"DATA_API_URL": "http://127.0.0.1:1"})
    assert done.returncode == 2 and "DATA_API_URL and SUPABASE_SERVICE_KEY must be set" in done.stderr


def test_the_migration_job_takes_the_schema_from_the_server_image(plans):
    staging = plans["staging"]
    (job,) = staging.objects("Job")
    pod = job["spec"]["template"]["spec"]
    server_image = pod_of(staging, "Deployment", "archon-server")["containers"][0]["image"]
    (copy,) = pod["initContainers"]
    assert copy["image"] == server_image and "/app/migration/." in copy["command"][-1]
    (migrate,) = pod["containers"]
    assert migrate["image"].startswith("pgvector/pgvector:") and migrate["command"] == ["sh", "/sql/migrate.sh"]
    env = container_env(pod, "migrate")
    assert env["AUTHENTICATOR_PASSWORD"] == {"secretKeyRef": {"key": "authenticator-password",
                                                              "name": "archon-data-api-credentials"}}
    assert env["PGPASSWORD"] == {"secretKeyRef": {"key": "password", "name": "archon-postgres-credentials"}}
    # New credentials or a new server image make a new template, so a new Job runs.
    assert "archon.io/secrets-checksum" in job["spec"]["template"]["metadata"]["annotations"]


def test_only_the_data_api_and_its_job_reach_postgres(plans):
    found = plans["staging"].connections
    # The readers' sidecars reach PostgREST; PostgREST, its migration Job and the backups reach PostgreSQL.
    assert {c for c, s, p, _ in found if s == "archon-data-api"} == {"archon-server", "archon-mcp"}
    assert {p for c, s, p, _ in found if s == "archon-data-api"} == {PORT}
    assert reaches(found, "archon-data-api") == {("archon-postgres", 5432)}
    assert reaches(found, "archon-data-migrate") == {("archon-postgres", 5432)}
    assert {c for c, s, p, _ in found if s == "archon-postgres" and p == 5432} == {
        "archon-data-api", "archon-data-migrate", "archon-db-backup"}
    assert {c for c, s, _, _ in found if s == "archon-data-migrate"} == set()  # nothing connects to the Job


def test_supabase_mode_has_no_data_api_and_gives_mcp_the_project(tmp_path):
    result = plan_with(tmp_path, "staging", use_supabase)
    assert result.exit_code == 0, result.stderr
    assert not [o for o in result.objects("Deployment") if o["metadata"]["name"] == "archon-data-api"]
    assert not result.objects("Job")
    for name, key in (("archon-server", "server"), ("archon-mcp", "mcp")):
        env = container_env(pod_of(result, "Deployment", name), key)
        assert env["SUPABASE_URL"] == {"secretKeyRef": {"key": "SUPABASE_URL", "name": "archon-supabase"}}
        assert "rest-proxy" not in [c["name"] for c in pod_of(result, "Deployment", name)["containers"]]
        egress = find(result, "NetworkPolicy", name)["spec"]["egress"]
        assert any(443 in [p["port"] for p in rule["ports"]] and "ipBlock" in rule["to"][0] for rule in egress)


# --- the roles, auth functions and migration script on a real PostgreSQL with pgvector ---------------------------

# The constructs of Archon's migration/complete_setup.sql that need Supabase (written here, not copied): pgvector
# columns, row-level security on auth.role() and for `authenticated`, an RPC function. pgcrypto and pg_trgm are
# left out: pgserver's PostgreSQL build does not ship them (the pgvector image does).
ARCHON_LIKE_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE archon_settings (key TEXT PRIMARY KEY, value TEXT, encrypted_value TEXT);
CREATE TABLE archon_crawled_pages (id BIGSERIAL PRIMARY KEY, url TEXT NOT NULL, content TEXT,
                                   embedding_1536 VECTOR(1536));
ALTER TABLE archon_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE archon_crawled_pages ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Allow service role full access" ON archon_settings FOR ALL USING (auth.role() = 'service_role');
CREATE POLICY "Allow authenticated users to read" ON archon_settings FOR SELECT TO authenticated USING (true);
CREATE POLICY "Allow service role full access" ON archon_crawled_pages FOR ALL
    USING (auth.role() = 'service_role');
CREATE FUNCTION match_archon_crawled_pages(query_embedding VECTOR(1536), match_count INT DEFAULT 10)
RETURNS TABLE (id BIGINT, url TEXT, similarity FLOAT) LANGUAGE sql STABLE AS $$
  SELECT id, url, 1 - (embedding_1536 <=> query_embedding) AS similarity FROM archon_crawled_pages
  ORDER BY embedding_1536 <=> query_embedding LIMIT match_count
$$;
INSERT INTO archon_settings VALUES ('MODEL_CHOICE', 'gpt-4.1-nano', NULL);
"""


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A real PostgreSQL 16 with pgvector (pgserver), its socket directory and bin directory."""
    try:
        import pgserver
    except ImportError:
        unavailable("pgserver is not installed (requirements.txt)")
    data = tmp_path_factory.mktemp("pg")
    server = pgserver.get_server(data, cleanup_mode="stop")
    bin_dir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    yield server, str(data), bin_dir
    server.cleanup()


def run_migrate(postgres, schema_dir: Path, password: str) -> subprocess.CompletedProcess:
    _, socket_dir, bin_dir = postgres
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PGHOST": socket_dir, "PGPORT": "5432",
           "PGUSER": "postgres", "PGDATABASE": "postgres", "PGPASSWORD": "", "AUTHENTICATOR_PASSWORD": password,
           "SQL_DIR": str(FILES), "SCHEMA_DIR": str(schema_dir)}
    return subprocess.run(["sh", str(FILES / "migrate.sh")], env=env, capture_output=True, text=True, timeout=120)


def as_postgrest(postgres, role: str, sql: str) -> subprocess.CompletedProcess:
    """One request as PostgREST runs it: logged in as authenticator, the JWT's role and claims set locally."""
    _, socket_dir, bin_dir = postgres
    claims = json.dumps({"role": role, "iss": "archon"})
    script = (f"BEGIN;\nSELECT set_config('role', '{role}', true), "
              f"set_config('request.jwt.claims', '{claims}', true);\n{sql};\nCOMMIT;\n")
    return subprocess.run([str(bin_dir / "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", socket_dir,
                           "-U", "authenticator", "-d", "postgres"], input=script, capture_output=True, text=True,
                          timeout=60)


def test_migrate_creates_the_supabase_roles_then_applies_the_schema_once(postgres, tmp_path):
    schema = tmp_path / "migration"
    schema.mkdir()
    missing = run_migrate(postgres, schema, "pw-one")
    assert missing.returncode == 1 and "complete_setup.sql is missing" in missing.stderr
    (schema / "complete_setup.sql").write_text(ARCHON_LIKE_SCHEMA)
    first = run_migrate(postgres, schema, "pw-one")
    assert first.returncode == 0, first.stderr
    assert "Archon's schema applied" in first.stdout
    again = run_migrate(postgres, schema, "pw-two")  # a rotation: roles again, the schema left alone
    assert again.returncode == 0, again.stderr
    assert "already there; nothing to apply" in again.stdout
    server, *_ = postgres
    roles = server.psql("SELECT rolname, rolcanlogin, rolinherit, rolbypassrls FROM pg_roles WHERE rolname IN "
                        "('anon','authenticated','service_role','authenticator') ORDER BY 1;")
    rows = [[cell.strip() for cell in line.split("|")] for line in roles.splitlines() if "|" in line][1:]
    assert rows == [["anon", "f", "f", "f"], ["authenticated", "f", "f", "f"], ["authenticator", "t", "f", "f"],
                    ["service_role", "f", "f", "t"]]
    assert "SCRAM-SHA-256$" in server.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'authenticator';")


def test_the_service_role_reads_writes_and_searches_and_nobody_else_does(postgres, tmp_path):
    schema = tmp_path / "migration"
    schema.mkdir()
    (schema / "complete_setup.sql").write_text(ARCHON_LIKE_SCHEMA)
    assert run_migrate(postgres, schema, "pw").returncode == 0
    vector = "[" + ",".join(["0.1"] * 1536) + "]"
    write = as_postgrest(postgres, "service_role",
                         f"INSERT INTO archon_crawled_pages (url, content, embedding_1536) VALUES "
                         f"('https://docs.example/', 'hello', '{vector}') RETURNING url")
    assert write.returncode == 0, write.stderr
    search = as_postgrest(postgres, "service_role",
                          f"SELECT url, round(similarity::numeric, 3) FROM match_archon_crawled_pages('{vector}', 5)")
    assert search.returncode == 0 and "https://docs.example/|1.000" in search.stdout, search.stderr
    assert "service_role" in as_postgrest(postgres, "service_role", "SELECT auth.role()").stdout
    read = as_postgrest(postgres, "authenticated", "SELECT key FROM archon_settings")
    assert read.returncode != 0 and "permission denied" in read.stderr  # no table grant beyond the service role
    anon = as_postgrest(postgres, "anon", "SELECT count(*) FROM archon_crawled_pages")
    assert anon.returncode != 0 and "permission denied" in anon.stderr
    _, socket_dir, bin_dir = postgres
    bare = subprocess.run([str(bin_dir / "psql"), "-X", "-tA", "-h", socket_dir, "-U", "authenticator", "-d",
                           "postgres", "-c", "SELECT count(*) FROM archon_settings"], capture_output=True, text=True)
    assert bare.returncode != 0 and "permission denied" in bare.stderr, "the authenticator alone reads nothing"


# --- Archon's client library through the real nginx proxy ----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandIn(http.server.BaseHTTPRequestHandler):
    """Stands where PostgREST listens (archon-data-api:3000 in the cluster) and records what reaches it."""

    seen: ClassVar[list[tuple[str, str, str]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        StandIn.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def test_supabase_py_reaches_postgrest_through_the_rest_proxy(tmp_path):
    nginx = require_tool("nginx", ".ci/run installs nginx-light", path="/usr/sbin/nginx")
    from supabase import create_client

    upstream, listen = free_port(), free_port()
    stand_in = http.server.ThreadingHTTPServer(("127.0.0.1", upstream), StandIn)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    conf = (FILES / "rest-proxy.conf").read_text()
    assert "server archon-data-api:3000;" in conf and "listen 8000;" in conf
    main = nginx_main_config(tmp_path, conf.replace("archon-data-api:3000", f"127.0.0.1:{upstream}")
                             .replace("listen 8000;", f"listen 127.0.0.1:{listen};"), "access_log off;")
    proc = subprocess.Popen([nginx, "-g", "daemon off;", "-c", str(main), "-p", str(tmp_path)],
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", listen)) == 0:
                    break
            threading.Event().wait(0.05)
        key = service_role_key("x" * 64)
        client = create_client(f"http://127.0.0.1:{listen}", key)
        StandIn.seen.clear()
        assert client.table("archon_settings").select("*").eq("key", "MODEL_CHOICE").execute().data == []
        client.rpc("match_archon_crawled_pages", {"match_count": 5}).execute()
        assert [(m, p.split("?")[0]) for m, p, _ in StandIn.seen] == [
            ("GET", "/archon_settings"), ("POST", "/rpc/match_archon_crawled_pages")]
        assert "key=eq.MODEL_CHOICE" in StandIn.seen[0][1]
        assert all(auth == f"Bearer {key}" for *_, auth in StandIn.seen)
        import httpx

        other = httpx.get(f"http://127.0.0.1:{listen}/auth/v1/user")
        assert other.status_code == 404 and "only /rest/v1/" in other.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        stand_in.shutdown()


def test_nginx_accepts_the_rest_proxy_config(tmp_path):
    nginx = require_tool("nginx", ".ci/run installs nginx-light", path="/usr/sbin/nginx")
    conf = (ROOT / "docker" / "data-api" / "rest-proxy.conf").read_text()
    assert [line.split()[1] for line in conf.splitlines() if line.split()[:1] == ["listen"]] == ["8000;"]
    # nginx resolves upstream names when it loads a config; in the pod archon-data-api resolves, here it cannot.
    main = nginx_main_config(tmp_path, conf.replace("server archon-data-api:3000;", "server 127.0.0.1:3000;"))
    result = subprocess.run([nginx, "-t", "-c", str(main), "-p", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "test is successful" in result.stderr, result.stderr


def test_the_quota_counts_the_data_api_and_its_readers_sidecars():
    from components.service_catalog import SERVICES
    from stackconfig.rules import DATA_API_READERS

    assert {s.key for s in SERVICES if s.reads_data_api} == set(DATA_API_READERS)
