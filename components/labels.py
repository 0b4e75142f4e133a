"""The Kubernetes recommended labels (app.kubernetes.io/*) for everything the stack creates."""

from __future__ import annotations

PART_OF = "archon"
MANAGED_BY = "pulumi"


def recommended_labels(name: str, component: str, instance: str, version: str) -> dict[str, str]:
    """All six recommended labels for one app component."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector_labels(labels: dict[str, str]) -> dict[str, str]:
    """The stable subset used in selectors: never the version, which changes on every release."""
    keys = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")
    return {key: labels[key] for key in keys}
