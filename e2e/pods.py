"""Pods on the local cluster: where they run, whether they are ready, and connections from inside them."""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass

from e2e import harness, node, paths

APP = "app.kubernetes.io/name"


@dataclass(frozen=True)
class Pod:
    """One pod as the API shows it."""

    namespace: str
    name: str
    app: str
    node: str
    ip: str
    phase: str
    ready: bool
    restarts: int
    containers: tuple[str, ...]
    owner: str

    @property
    def real(self) -> bool:
        """Whether it runs on the real node (not a simulated one)."""
        return self.node == node.NODE_NAME


def of(item: dict) -> Pod:
    meta, spec, status = item["metadata"], item["spec"], item.get("status", {})
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    owners = meta.get("ownerReferences") or [{}]
    return Pod(namespace=meta["namespace"], name=meta["name"], app=(meta.get("labels") or {}).get(APP, ""),
               node=spec.get("nodeName", ""), ip=status.get("podIP", ""), phase=status.get("phase", ""),
               ready=conditions.get("Ready") == "True",
               restarts=sum(c.get("restartCount", 0) for c in status.get("containerStatuses", [])),
               containers=tuple(c["name"] for c in spec["containers"]), owner=owners[0].get("kind", ""))


def listed(namespace: str | None = None) -> list[Pod]:
    """Every pod of a namespace (or of all)."""
    return [of(item) for item in harness.objects("pods", namespace)]


def running(namespace: str, app: str) -> Pod:
    """The ready pod of an app (the newest, if several)."""
    found = [p for p in listed(namespace) if p.app == app and p.ready]
    assert found, f"no ready pod of {app} in {namespace}: {[p for p in listed(namespace) if p.app == app]}"
    return found[-1]


def exec_in(pod: Pod, command: str, container: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """`sh -c command` in one of the pod's containers (the first by default), through the API server and kubelet."""
    tool = node.tools() / "kubectl"
    return subprocess.run([str(tool), "--kubeconfig", str(paths.KUBECONFIG), "exec", "-n", pod.namespace,
                           pod.name, "-c", container or pod.containers[0], "--", "sh", "-c", command],
                          capture_output=True, text=True, timeout=timeout)


def connects(pod: Pod, host: str, port: int, container: str | None = None, seconds: int = 3) -> bool:
    """Whether a TCP connection from inside the pod to host:port is set up within `seconds` (bash's /dev/tcp)."""
    probe = f"timeout {seconds} bash -c {shlex.quote(f'exec 3<>/dev/tcp/{host}/{port}')}"
    return exec_in(pod, probe, container, timeout=seconds + 30).returncode == 0


def from_node(host: str, port: int, seconds: int = 3) -> bool:
    """Whether the node itself (its namespace, where NetworkPolicy does not apply) reaches host:port."""
    done = subprocess.run(["nsenter", f"--net=/run/netns/{node.NETNS}", "timeout", str(seconds), "bash", "-c",
                           f"exec 3<>/dev/tcp/{host}/{port}"], capture_output=True)
    return done.returncode == 0


def logs(pod: Pod, container: str | None = None, previous: bool = False) -> str:
    flags = ["--previous"] if previous else []
    return harness.kubectl("logs", "-n", pod.namespace, pod.name, "-c", container or pod.containers[0], *flags,
                           check=False).stdout


def probe_pod(namespace: str, name: str, image: str, labels: dict[str, str] | None = None) -> dict:
    """A pod that sleeps, hardened to the restricted profile, to run commands from (curl, bash)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {APP: name, **(labels or {})}},
            "spec": {"automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "probe", "image": image, "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "infinity"],
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                                   "limits": {"cpu": "200m", "memory": "64Mi"}},
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "readOnlyRootFilesystem": True,
                                                         "capabilities": {"drop": ["ALL"]}}}]}}


def create(objects: list[dict]) -> None:
    harness.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objects))


def wait_ready(namespace: str, name: str, timeout: str = "120s") -> None:
    done = harness.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "-n", namespace, f"--timeout={timeout}",
                           check=False)
    assert done.returncode == 0, f"pod {namespace}/{name} not Ready: {done.stderr}"
