"""What the scenarios and the benchmark use: the real CLI per operation, kubectl, and the offline plan alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from e2e import paths
from e2e.project import PROJECT, prepare

TOOLS = ("kubectl", "kwokctl", "kube-apiserver", "etcd", "pulumi-resource-kubernetes")


def missing_tools() -> list[str]:
    """The toolchain pieces that are not built yet (make e2e-tools builds them)."""
    found = [paths.bin_dir() / "pulumi", *(paths.cache_dir() / "tools" / name for name in TOOLS)]
    return [str(path) for path in found if not path.exists()]


def cluster_running() -> bool:
    """Whether the local control plane answers (make cluster-up)."""
    if not paths.KUBECONFIG.is_file():
        return False
    return kubectl("get", "--raw", "/readyz", check=False).returncode == 0


@dataclass
class Run:
    """One finished CLI operation: exit code, output, wall time, and the engine's events if asked for."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    events: list[dict]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def changes(self) -> dict:
        """The change summary the operation printed last ({"create": 3, "same": 120, ...})."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith('{"changeSummary"'):
                return json.loads(line)["changeSummary"] or {}
        return {}


def pulumi(operation: str, *flags: str, sets: tuple[str, ...] = (), stack: str = "local", events: bool = False,
           timeout: float = 1800) -> Run:
    """`python -m e2e.engine OPERATION` (the real CLI) with --set assignments; never raises on failure."""
    event_file = paths.BUILD / f"events-{operation}-{time.monotonic_ns()}.jsonl"
    args = [sys.executable, "-m", "e2e.engine", operation, "--stack", stack, *flags]
    for assignment in sets:
        args += ["--set", assignment]
    if events:
        args += ["--events", str(event_file)]
    env = {**os.environ, "KUBECONFIG": str(paths.KUBECONFIG)}
    start = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, cwd=paths.ROOT, env=env, timeout=timeout)
    seconds = time.monotonic() - start
    read = [json.loads(line) for line in event_file.read_text().splitlines()] if event_file.is_file() else []
    event_file.unlink(missing_ok=True)
    return Run(done.returncode, done.stdout, done.stderr, seconds, read)


def kubectl(*args: str, check: bool = True, stdin: str | None = None, timeout: float = 120
            ) -> subprocess.CompletedProcess:
    """kubectl (the one built with the control plane) against the local cluster."""
    tool = paths.cache_dir() / "tools" / "kubectl"
    done = subprocess.run([str(tool), "--kubeconfig", str(paths.KUBECONFIG), *args], capture_output=True,
                          text=True, input=stdin, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
    return done


def objects(kind: str, namespace: str | None = None) -> list[dict]:
    """The cluster's objects of one kind (all namespaces unless one is named), as the API returns them."""
    scope = ["-n", namespace] if namespace else ["-A"]
    return json.loads(kubectl("get", kind, *scope, "-o", "json").stdout)["items"]


def offline_plan(out: Path, stack: str = "local", sets: tuple[str, ...] = (), *extra: str,
                 project: Path = paths.BUILD / "offline-project") -> subprocess.CompletedProcess:
    """The offline plan of a copy of the project made the way the real engine's is (same config and settings)."""
    prepare(stack, list(sets), dest=project)
    return subprocess.run([sys.executable, "-m", "offline", "plan", "--stack", stack, "--project-dir", str(project),
                           "--out", str(out), "--format", "json", *extra], capture_output=True, text=True,
                          cwd=paths.ROOT)


__all__ = ["PROJECT", "Run", "cluster_running", "kubectl", "missing_tools", "objects", "offline_plan", "pulumi"]
