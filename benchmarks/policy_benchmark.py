"""Benchmark the policy pack: 1,000 synthetic workloads through the gRPC path, against checkov on the same manifests.

Run with `make bench-policy`. Prints numbers, asserts nothing. Targets: the pack at least 5x checkov's
throughput; the policy step of the production plan under 1 s.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from offline.analyzer import PolicyPack, StackContext  # noqa: E402
from offline.policy_config import read_policy_config, reconcile, to_configure_request  # noqa: E402
from offline.policy_step import run_policies  # noqa: E402
from offline.project import read_stack  # noqa: E402
from offline.recorder import Registration  # noqa: E402
from offline.runner import run_program  # noqa: E402

TARGET_RATIO = 5.0
TARGET_POLICY_STEP_S = 1.0


def workload(i: int) -> dict:
    """A hardened Deployment; every tenth one has a violation, so the rules do real work."""
    labels = {"app.kubernetes.io/name": f"app-{i}", "app.kubernetes.io/instance": "bench"}
    security = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": i % 10 != 0, "privileged": False,
                "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    container = {"name": "app", "image": f"ghcr.io/acme/app-{i}:1.{i}.0", "imagePullPolicy": "IfNotPresent",
                 "ports": [{"name": "http", "containerPort": 8080}],
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                               "limits": {"cpu": "500m", "memory": "256Mi"}},
                 "securityContext": security, "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                 "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}},
                 "livenessProbe": {"tcpSocket": {"port": "http"}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"app-{i}", "namespace": f"bench-{i % 10}", "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "automountServiceAccountToken": False, "enableServiceLinks": False,
                         "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                             "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [container, {**copy.deepcopy(container), "name": "sidecar"}],
                         "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]}}}}


def registrations(objects: list[dict]) -> list[Registration]:
    return [Registration(urn=f"urn:pulumi:bench::archon::kubernetes:apps/v1:Deployment::{o['metadata']['name']}",
                         type="kubernetes:apps/v1:Deployment", name=o["metadata"]["name"], parent=None, custom=True,
                         inputs=o, dependencies=[], options={"protect": False}) for o in objects]


def pack_throughput(resources: list[Registration]) -> tuple[float, int]:
    """Seconds for Analyze on every resource plus AnalyzeStack (the pack already running and configured)."""
    context = StackContext(project="archon", stack="bench", config={}, secret_keys=[])
    with PolicyPack(ROOT / "policies", context) as pack:
        info = pack.info()
        config = reconcile(info, read_policy_config(ROOT / "policies" / "config" / "production.json"), "production")
        pack.configure(to_configure_request(config))
        pack.analyze(resources[:20])  # warm up
        start = time.perf_counter()
        diagnostics = pack.analyze(resources)
        return time.perf_counter() - start, len(diagnostics)


def checkov_throughput(checkov: str, objects: list[dict]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        for obj in objects:
            (Path(tmp) / f"{obj['metadata']['name']}.yaml").write_text(yaml.safe_dump(obj))
        start = time.perf_counter()
        result = subprocess.run([checkov, "--config-file", str(ROOT / ".checkov.yaml"), "-d", tmp, "--compact"],
                                capture_output=True, text=True)
        elapsed = time.perf_counter() - start
    failed = sum(1 for line in result.stdout.splitlines() if "FAILED for resource" in line)
    return elapsed, failed


def policy_step_seconds(stack: str) -> float:
    """Wall time of the plan's policy step for a stack: start the pack, configure, analyze, stop."""
    inputs = read_stack(ROOT, stack)
    recording = run_program(inputs)
    start = time.perf_counter()
    run_policies(inputs, recording, ROOT / "policies", ROOT / "policies" / "config" / f"{stack}.json")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--checkov", default=shutil.which("checkov"), help="checkov executable")
    args = parser.parse_args()

    objects = [workload(i) for i in range(args.workloads)]
    seconds, diagnostics = pack_throughput(registrations(objects))
    ours = args.workloads / seconds
    print(f"archon-security over gRPC: {args.workloads} workloads in {seconds:.2f} s = {ours:,.0f} resources/s "
          f"({diagnostics} diagnostics)")
    steps = [policy_step_seconds("production") for _ in range(3)]
    step = sorted(steps)[1]
    print(f"policy step of the production plan (median of 3): {step:.3f} s "
          f"(target < {TARGET_POLICY_STEP_S} s: {'met' if step < TARGET_POLICY_STEP_S else 'MISSED'})")
    if not args.checkov:
        print("checkov not found: pass --checkov PATH (make bench-policy installs it)")
        return 0
    checkov_seconds, failed = checkov_throughput(args.checkov, objects)
    theirs = args.workloads / checkov_seconds
    ratio = ours / theirs
    print(f"checkov {args.checkov}: {args.workloads} workloads in {checkov_seconds:.2f} s = {theirs:,.0f} "
          f"resources/s ({failed} failed checks)")
    print(f"ratio: {ratio:.1f}x checkov (target >= {TARGET_RATIO}x: {'met' if ratio >= TARGET_RATIO else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
