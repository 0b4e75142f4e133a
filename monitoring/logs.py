"""Build the Loki config (single binary, filesystem, compactor retention) and the Grafana Alloy pipeline."""

from __future__ import annotations

import json

from monitoring.ports import LOKI as LOKI_PORT

LOKI_DATA = "/var/loki"
ALLOY_STORAGE = "/tmp/alloy"  # WAL and tail positions; an emptyDir, so a restart re-reads at most the recent tail


def loki_config(retention: str) -> dict:
    """Loki as one process on a filesystem volume, with the compactor deleting logs older than retention."""
    return {
        "auth_enabled": False,  # one tenant; NetworkPolicies decide who may push and query
        "server": {"http_listen_port": LOKI_PORT, "grpc_listen_port": 9095, "log_level": "info"},
        "common": {"path_prefix": LOKI_DATA, "replication_factor": 1,
                   "ring": {"kvstore": {"store": "inmemory"}, "instance_addr": "127.0.0.1"},
                   "storage": {"filesystem": {"chunks_directory": f"{LOKI_DATA}/chunks",
                                              "rules_directory": f"{LOKI_DATA}/rules"}}},
        # Retention needs the TSDB store with a 24h index period (Loki's retention docs).
        "schema_config": {"configs": [{"from": "2026-01-01", "store": "tsdb", "object_store": "filesystem",
                                       "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}]},
        "compactor": {"working_directory": f"{LOKI_DATA}/compactor", "retention_enabled": True,
                      "delete_request_store": "filesystem"},
        "limits_config": {"retention_period": retention, "reject_old_samples": True,
                          "reject_old_samples_max_age": "168h"},
        "analytics": {"reporting_enabled": False},
    }


def alloy_config(namespaces: list[str], loki_push_url: str) -> str:
    """An Alloy pipeline that tails the namespaces' pod logs through the Kubernetes API and pushes them to Loki."""
    relabel = [("__meta_kubernetes_namespace", "namespace"), ("__meta_kubernetes_pod_name", "pod"),
               ("__meta_kubernetes_pod_container_name", "container"),
               ("__meta_kubernetes_pod_label_app_kubernetes_io_name", "app")]
    rules = "".join(f"  rule {{\n    source_labels = [{json.dumps(source)}]\n    target_label  = {json.dumps(target)}\n"
                    "  }\n" for source, target in relabel)
    return (
        'discovery.kubernetes "pods" {\n  role = "pod"\n'
        f"  namespaces {{\n    names = [{', '.join(json.dumps(n) for n in namespaces)}]\n  }}\n}}\n\n"
        'discovery.relabel "pods" {\n  targets = discovery.kubernetes.pods.targets\n' + rules + "}\n\n"
        'loki.source.kubernetes "pods" {\n  targets    = discovery.relabel.pods.output\n'
        "  forward_to = [loki.write.default.receiver]\n}\n\n"
        f'loki.write "default" {{\n  endpoint {{\n    url = {json.dumps(loki_push_url)}\n  }}\n}}\n'
    )
