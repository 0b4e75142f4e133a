"""The independent judge of the manifest fuzz: the real kube-apiserver's Pod Security Admission, asked by a
server-side dry run (nothing is created) in a namespace that warns at the "restricted" level."""

from __future__ import annotations

from pathlib import Path

import requests
import yaml

NAMESPACE = "fuzz-judge"
PLURALS = {"Pod": "pods", "Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets",
           "ReplicaSet": "replicasets", "ReplicationController": "replicationcontrollers", "Job": "jobs",
           "CronJob": "cronjobs"}


class ApiServerJudge:
    """Pod Security verdicts from the API server the kubeconfig names (client certificate authentication)."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.server = cluster["server"]
        self.session = requests.Session()
        self.session.cert = (user["client-certificate"], user["client-key"])
        self.session.verify = cluster.get("certificate-authority") or False
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override the cluster's CA (and proxies)
        labels = {"pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": "latest"}
        made = self.session.post(f"{self.server}/api/v1/namespaces", timeout=30,
                                 json={"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": NAMESPACE, "labels": labels}})
        if made.status_code not in (201, 409):
            raise RuntimeError(f"the judge's namespace could not be created: {made.status_code} {made.text[:300]}")

    def close(self) -> None:
        self.session.delete(f"{self.server}/api/v1/namespaces/{NAMESPACE}", timeout=30)

    def verdict(self, obj: dict) -> list[str] | None:
        """The Pod Security warnings for `obj` ([] if it meets the level), or None if the API server refuses the
        object as invalid (no verdict)."""
        group_version = obj["apiVersion"]
        base = f"{self.server}/api/v1" if group_version == "v1" else f"{self.server}/apis/{group_version}"
        url = f"{base}/namespaces/{NAMESPACE}/{PLURALS[obj['kind']]}"
        answer = self.session.post(url, params={"dryRun": "All"}, json=obj, timeout=30)
        if answer.status_code not in (200, 201):
            return None
        warnings = answer.raw.headers.getlist("Warning") if answer.raw is not None else []
        return [_text(w) for w in warnings if "PodSecurity" in w]


def _text(header: str) -> str:
    """`299 - "text"` -> text."""
    _, _, quoted = header.partition(' - "')
    return quoted[:-1].replace('\\"', '"') if quoted.endswith('"') else header
