"""scripts/smoke-tests.sh against a local HTTP server that answers healthy, slow and failing; wait-for-services.sh
against a stand-in kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import require_tool

SMOKE = ROOT / "scripts" / "smoke-tests.sh"
WAIT = ROOT / "scripts" / "wait-for-services.sh"


class Handler(BaseHTTPRequestHandler):
    """/ok/... answers 200, /slow/... after 3 s, /fail/... 503, /flaky/... 503 twice then 200, /mcp 406."""

    flaky_calls = 0

    def do_GET(self):
        status = 200
        if self.path.startswith("/slow"):
            time.sleep(3)
        elif self.path.startswith("/fail"):
            status = 503
        elif self.path.startswith("/flaky"):
            Handler.flaky_calls += 1
            status = 503 if Handler.flaky_calls <= 2 else 200
        elif self.path.endswith("/mcp"):
            status = 406
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    require_tool("curl")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def smoke(tmp_path: Path, base: str, health: str, **env: str) -> subprocess.CompletedProcess:
    urls = {"app": f"{base}/ok/", "api": f"{base}/ok/api", "health": f"{base}/{health}/health",
            "mcp": f"{base}/ok/mcp"}
    (tmp_path / "outputs.json").write_text(json.dumps({"namespace": "archon-test", "urls": urls}))
    settings = {"SMOKE_OUTPUTS": str(tmp_path / "outputs.json"), "SMOKE_TIMEOUT": "1", "SMOKE_ATTEMPTS": "3",
                "SMOKE_INTERVAL": "0", **env}
    return subprocess.run(["bash", str(SMOKE), "test"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **settings})


def test_a_healthy_stack_passes_every_check(server, tmp_path):
    result = smoke(tmp_path, server, "ok")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [["ok", "health"], ["ok", "api"], ["ok", "app"], ["ok", "mcp"]]
    assert f"{server}/ok/api/health" in result.stdout and "all healthy" in result.stdout


def test_a_failing_endpoint_fails_after_its_retries(server, tmp_path):
    result = smoke(tmp_path, server, "fail")
    assert result.returncode == 1
    assert "FAIL  health" in result.stdout and "HTTP 503, expected 200, after 3 attempts" in result.stdout
    assert "ok    app" in result.stdout  # the others are still checked and reported
    assert "FAILED" in result.stderr


def test_a_slow_endpoint_times_out(server, tmp_path):
    started = time.monotonic()
    result = smoke(tmp_path, server, "slow", SMOKE_ATTEMPTS="2")
    assert result.returncode == 1
    assert "no answer within 1s" in result.stdout
    assert time.monotonic() - started < 10  # two 1 s timeouts, not two 3 s answers


def test_a_service_that_becomes_healthy_passes_on_a_retry(server, tmp_path):
    Handler.flaky_calls = 0
    result = smoke(tmp_path, server, "flaky")
    assert result.returncode == 0, result.stdout
    assert "(attempt 3)" in result.stdout


@pytest.mark.parametrize(("outputs", "message"), [
    ("{}", "no usable urls"), ("not json", "no usable urls")])
def test_bad_outputs_are_refused(tmp_path, outputs, message):
    (tmp_path / "outputs.json").write_text(outputs)
    result = subprocess.run(["bash", str(SMOKE), "test"], capture_output=True, text=True,
                            env={**os.environ, "SMOKE_OUTPUTS": str(tmp_path / "outputs.json")})
    assert result.returncode == 2 and message in result.stderr


def test_bad_settings_and_usage_are_refused(tmp_path):
    result = subprocess.run(["bash", str(SMOKE)], capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr
    result = subprocess.run(["bash", str(SMOKE), "test"], capture_output=True, text=True,
                            env={**os.environ, "SMOKE_TIMEOUT": "ten"})
    assert result.returncode == 2 and "SMOKE_TIMEOUT=ten is not a number" in result.stderr


def fake_kubectl(tmp_path: Path, failing: str = "") -> dict[str, str]:
    """A kubectl stand-in on PATH: lists two workloads, logs calls, fails `rollout status` for `failing`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {tmp_path}/calls
case "$*" in
  *" get deployments,statefulsets -o name")
    echo deployment.apps/archon-server; echo statefulset.apps/archon-postgres;;
  *"rollout status {failing}"*) [ -n "{failing}" ] && exit 1;;
esac
exit 0
""")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "WAIT_NAMESPACE": "archon-test"}


def test_wait_for_services_waits_for_every_workload(tmp_path):
    result = subprocess.run(["bash", str(WAIT), "staging", "120s"], capture_output=True, text=True,
                            env=fake_kubectl(tmp_path))
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[1:] == ["-n archon-test rollout status deployment.apps/archon-server --timeout=120s",
                         "-n archon-test rollout status statefulset.apps/archon-postgres --timeout=120s"]


def test_wait_for_services_fails_when_one_does_not_roll_out(tmp_path):
    result = subprocess.run(["bash", str(WAIT), "staging"], capture_output=True, text=True,
                            env=fake_kubectl(tmp_path, failing="statefulset.apps/archon-postgres"))
    assert result.returncode == 1
    assert "FAIL  statefulset.apps/archon-postgres did not roll out within 300s" in result.stderr


def test_wait_for_services_refuses_a_bad_timeout(tmp_path):
    result = subprocess.run(["bash", str(WAIT), "staging", "soon"], capture_output=True, text=True,
                            env=fake_kubectl(tmp_path))
    assert result.returncode == 2 and "must look like 300s" in result.stderr
