"""The backup script for real: a PostgreSQL server on loopback, dump, restore, corrupt, prune, Qdrant, S3."""

from __future__ import annotations

import contextlib
import glob
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from components.database_engines import POSTGRES_EXTENSIONS
from tests.conftest import ROOT
from tests.helpers import require_tool

SCRIPT = ROOT / "scripts" / "archon-backup.sh"
PASSWORD = "Round-trip-pw-1234"


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    if os.environ.get("CI") == "true":
        pytest.fail("PostgreSQL server binaries not found (.ci/run installs the Debian postgresql package)")
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root; run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def server():
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed")
    base = Path(tempfile.mkdtemp(prefix="archon-pg-"))
    data, port = base / "data", free_port()
    (base / "pw").write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(base / "pw", "postgres")
    subprocess.run(as_postgres([str(binaries / "initdb"), "-D", str(data), "-U", "archon", "--auth=scram-sha-256",
                                f"--pwfile={base / 'pw'}"]), check=True, capture_output=True)
    subprocess.run(as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                                f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "archon", "PGPASSWORD": PASSWORD}
    try:
        yield env
    finally:
        subprocess.run(as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def psql(env: dict, database: str, sql: str) -> str:
    return subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql], env=env,
                          check=True, capture_output=True, text=True).stdout


def backup(env: dict, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(SCRIPT), *args], env={**env, **extra}, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def loaded(server):
    """The archon database with the init script's extensions (but vector, not packaged here) and real data."""
    psql(server, "postgres", "CREATE DATABASE archon")
    for extension in POSTGRES_EXTENSIONS:
        if extension != "vector":
            psql(server, "archon", f"CREATE EXTENSION IF NOT EXISTS {extension}")
    psql(server, "archon", """
        CREATE TABLE archon_sources (id serial PRIMARY KEY, url text NOT NULL, meta jsonb,
                                     digest text DEFAULT encode(digest('x', 'sha256'), 'hex'));
        CREATE INDEX ON archon_sources USING gin (url gin_trgm_ops);
        INSERT INTO archon_sources (url, meta)
            SELECT 'https://docs.example.org/page/' || i, jsonb_build_object('n', i, 'tag', 'crawl')
            FROM generate_series(1, 500) AS i;""")
    return server


SNAPSHOT_QUERY = "SELECT count(*), md5(string_agg(url || meta::text || digest, ',' ORDER BY id)) FROM archon_sources"


def test_backup_then_restore_into_an_empty_database_gives_the_same_data(loaded, tmp_path):
    dumped = backup(loaded, "dump-postgres", BACKUP_DIR=str(tmp_path), PGDATABASE="archon", STAMP="20261127T030000Z")
    assert dumped.returncode == 0, dumped.stderr
    dump = tmp_path / "postgres-20261127T030000Z.dump"
    assert dump.is_file() and (tmp_path / "postgres-20261127T030000Z.dump.sha256").is_file()
    assert not list(tmp_path.glob("*.partial"))
    psql(loaded, "postgres", "CREATE DATABASE restored")
    restored = backup(loaded, "restore-postgres", dump.name, BACKUP_DIR=str(tmp_path), PGDATABASE="restored")
    assert restored.returncode == 0, restored.stderr
    assert psql(loaded, "restored", SNAPSHOT_QUERY) == psql(loaded, "archon", SNAPSHOT_QUERY)
    assert psql(loaded, "restored", "SELECT count(*) FROM pg_extension WHERE extname IN ('pgcrypto', 'pg_trgm')") \
        .strip() == "2"
    latest = backup(loaded, "latest", BACKUP_DIR=str(tmp_path))
    assert latest.stdout.strip() == dump.name


def test_a_corrupted_backup_fails_loudly_and_changes_nothing(loaded, tmp_path):
    assert backup(loaded, "dump-postgres", BACKUP_DIR=str(tmp_path), PGDATABASE="archon", STAMP="a").returncode == 0
    dump = tmp_path / "postgres-a.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    psql(loaded, "postgres", "CREATE DATABASE untouched")
    psql(loaded, "untouched", "CREATE TABLE keep (v int); INSERT INTO keep VALUES (42)")
    result = backup(loaded, "restore-postgres", dump.name, BACKUP_DIR=str(tmp_path), PGDATABASE="untouched")
    assert result.returncode != 0
    assert "does not match its checksum: it is corrupted" in result.stderr
    assert psql(loaded, "untouched", "SELECT v FROM keep").strip() == "42"


def test_a_truncated_backup_with_a_matching_checksum_is_refused(loaded, tmp_path):
    assert backup(loaded, "dump-postgres", BACKUP_DIR=str(tmp_path), PGDATABASE="archon", STAMP="b").returncode == 0
    dump = tmp_path / "postgres-b.dump"
    dump.write_bytes(dump.read_bytes()[:200])
    (tmp_path / "postgres-b.dump.sha256").write_text(
        subprocess.run(["sha256sum", str(dump)], capture_output=True, text=True).stdout.split()[0] + "\n")
    result = backup(loaded, "restore-postgres", dump.name, BACKUP_DIR=str(tmp_path), PGDATABASE="archon")
    assert result.returncode != 0 and "is not a readable pg_dump archive" in result.stderr


@pytest.mark.parametrize("args, message", [
    (("restore-postgres", "postgres-missing.dump"), "no backup file"),
    (("restore-postgres",), "which backup?"),
    (("latest",), "no PostgreSQL backup in"),
])
def test_missing_backups_fail_with_a_message(loaded, tmp_path, args, message):
    result = backup(loaded, *args, BACKUP_DIR=str(tmp_path), PGDATABASE="archon")
    assert result.returncode != 0 and message in result.stderr


def test_a_failed_dump_leaves_no_partial_file_and_exits_non_zero(loaded, tmp_path):
    result = backup(loaded, "dump-postgres", BACKUP_DIR=str(tmp_path), PGDATABASE="no_such_database")
    assert result.returncode != 0 and "pg_dump of no_such_database failed" in result.stderr
    assert list(tmp_path.iterdir()) == []


def forward_later(port: int, target: int, after: float) -> threading.Thread:
    """Start forwarding 127.0.0.1:port to `target` only `after` seconds from now (a policy not yet programmed)."""
    def serve() -> None:
        time.sleep(after)
        listener = socket.create_server(("127.0.0.1", port))
        listener.settimeout(30)
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_dump_waits_for_a_server_that_is_not_reachable_yet(loaded, tmp_path):
    port = free_port()
    forward_later(port, int(loaded["PGPORT"]), after=4)
    started = time.monotonic()
    result = backup(loaded, "dump-postgres", BACKUP_DIR=str(tmp_path), PGDATABASE="archon", PGPORT=str(port),
                    STAMP="late")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 4 and (tmp_path / "postgres-late.dump").is_file()


def test_a_dump_gives_up_on_a_server_that_never_answers(loaded, tmp_path):
    result = backup(loaded, "dump-postgres", BACKUP_DIR=str(tmp_path), PGPORT=str(free_port()), PG_WAIT_TRIES="2")
    assert result.returncode != 0 and "does not answer (tried 2 times)" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_prune_deletes_only_backups_older_than_the_retention(tmp_path):
    old, new, other = tmp_path / "postgres-old.dump", tmp_path / "postgres-new.dump", tmp_path / "notes.txt"
    for path in (old, new, other):
        path.write_text("x")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old, (ten_days_ago, ten_days_ago))
    os.utime(other, (ten_days_ago, ten_days_ago))
    result = backup(dict(os.environ), "prune", BACKUP_DIR=str(tmp_path), RETENTION_DAYS="7")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "postgres-new.dump"]


class FakeService(http.server.BaseHTTPRequestHandler):
    """Just enough of Qdrant's snapshot API and of S3's PUT/GET to check what the script sends."""

    store: ClassVar[dict] = {}  # shared by the handler threads of one fake server
    seen: ClassVar[list] = []

    def log_message(self, *args):
        pass

    def _reply(self, code: int, body: bytes = b"", kind: str = "application/json"):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.seen.append(("POST", self.path, dict(self.headers)))
        if self.headers.get("api-key") != "qdrant-key":
            return self._reply(401, b'{"status":"unauthorized"}')
        self._reply(200, json.dumps({"result": {"name": "full-1.snapshot", "size": 9}, "status": "ok"}).encode())

    def do_GET(self):
        self.seen.append(("GET", self.path, dict(self.headers)))
        if self.path == "/snapshots/full-1.snapshot":
            return self._reply(200, b"SNAPSHOT!", "application/octet-stream")
        if self.path in self.store:
            return self._reply(200, self.store[self.path], "application/octet-stream")
        self._reply(404)

    def do_DELETE(self):
        self.seen.append(("DELETE", self.path, dict(self.headers)))
        self._reply(200, b'{"result":true}')

    def do_PUT(self):
        length = int(self.headers.get("Content-Length", 0))
        self.store[self.path] = self.rfile.read(length)
        self.seen.append(("PUT", self.path, dict(self.headers)))
        self._reply(200)


@pytest.fixture
def fake():
    FakeService.store, FakeService.seen = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_qdrant_snapshot_is_downloaded_checksummed_and_removed_from_the_server(fake, tmp_path):
    env = {**os.environ, "QDRANT_URL": fake, "QDRANT_API_KEY": "qdrant-key"}
    result = backup(env, "snapshot-qdrant", BACKUP_DIR=str(tmp_path), STAMP="s1")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "qdrant-s1.snapshot").read_bytes() == b"SNAPSHOT!"
    assert (tmp_path / "qdrant-s1.snapshot.sha256").is_file()
    assert [(m, p) for m, p, _ in FakeService.seen] == [
        ("POST", "/snapshots?wait=true"), ("GET", "/snapshots/full-1.snapshot"),
        ("DELETE", "/snapshots/full-1.snapshot")]
    wrong = backup({**env, "QDRANT_API_KEY": "wrong"}, "snapshot-qdrant", BACKUP_DIR=str(tmp_path), STAMP="s2")
    assert wrong.returncode != 0 and "Qdrant did not take a snapshot" in wrong.stderr


def test_s3_upload_signs_every_file_of_the_run_and_fetch_brings_them_back(fake, tmp_path):
    (tmp_path / "postgres-r1.dump").write_bytes(b"DUMP")
    (tmp_path / "postgres-r1.dump.sha256").write_text("abc\n")
    (tmp_path / "postgres-r0.dump").write_bytes(b"OLDER RUN")
    env = {**os.environ, "S3_ENDPOINT": fake, "S3_BUCKET": "acme-backups", "S3_PREFIX": "archon/staging",
           "S3_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    result = backup(env, "finish", BACKUP_DIR=str(tmp_path), STAMP="r1")
    assert result.returncode == 0, result.stderr
    puts = {p: h for m, p, h in FakeService.seen if m == "PUT"}
    assert sorted(puts) == ["/acme-backups/archon/staging/postgres-r1.dump",
                            "/acme-backups/archon/staging/postgres-r1.dump.sha256"]
    for headers in puts.values():
        assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/")
        assert "/eu-west-1/s3/aws4_request" in headers["Authorization"]
    assert "s3cr3t" not in result.stderr
    restore_dir = tmp_path / "restore"
    fetched = backup(env, "fetch", "postgres-r1.dump", BACKUP_DIR=str(restore_dir))
    assert fetched.returncode == 0, fetched.stderr
    assert (restore_dir / "postgres-r1.dump").read_bytes() == b"DUMP"


def test_without_a_bucket_finish_keeps_backups_on_the_volume(tmp_path):
    result = backup(dict(os.environ), "finish", BACKUP_DIR=str(tmp_path), STAMP="x")
    assert result.returncode == 0 and "backups stay on the backup volume" in result.stderr


def test_unknown_command_prints_usage():
    result = backup(dict(os.environ), "explode")
    assert result.returncode == 2 and "usage: archon-backup.sh" in result.stderr


SHELL_SCRIPTS = [*sorted((ROOT / "scripts").glob("*.sh")), ROOT / ".ci" / "run"]


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_are_shellcheck_clean(script):
    result = subprocess.run([require_tool("shellcheck"), str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
