"""Grafana provisioning: the Prometheus and Loki datasources and the dashboards from monitoring/dashboards."""

from __future__ import annotations

from pathlib import Path

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
DASHBOARDS_MOUNT = "/var/lib/grafana-dashboards"


def datasources(prometheus_url: str, loki_url: str) -> dict:
    """The provisioned datasources; fixed uids, because the dashboards refer to them by uid."""
    return {"apiVersion": 1, "datasources": [
        {"name": "Prometheus", "type": "prometheus", "uid": "prometheus", "access": "proxy", "url": prometheus_url,
         "isDefault": True, "editable": False, "jsonData": {"httpMethod": "POST"}},
        {"name": "Loki", "type": "loki", "uid": "loki", "access": "proxy", "url": loki_url, "editable": False,
         "jsonData": {"derivedFields": [REQUEST_ID_FIELD]}},
    ]}


# From an access-log line of Traefik (JSON, the request's X-Request-Id kept) to every line of that request.
REQUEST_ID_FIELD = {"name": "request_id", "matcherRegex": r'"request_X-Request-Id":"([^"]+)"',
                    "datasourceUid": "loki", "url": '{namespace=~".+"} |= "${__value.raw}"',
                    "urlDisplayLabel": "Every log line of this request"}


def dashboard_provider() -> dict:
    """A file provider that loads every dashboard in the mounted ConfigMap, read-only in the UI."""
    return {"apiVersion": 1, "providers": [
        {"name": "archon", "folder": "Archon", "type": "file", "disableDeletion": True, "allowUiUpdates": False,
         "updateIntervalSeconds": 60, "options": {"path": DASHBOARDS_MOUNT}},
    ]}


def dashboards() -> dict[str, str]:
    """Dashboard file name -> JSON text, as shipped in the repository."""
    return {path.name: path.read_text() for path in sorted(DASHBOARDS_DIR.glob("*.json"))}
