"""Rollouts that drop nothing: every container behind a Service drains before it stops, inside its grace period;
HPAs only where the cluster serves their metrics; the stores run only while something uses them."""

from __future__ import annotations

import pytest

from stackconfig import load_stack_config
from tests.conftest import STACKS, plan_with, raw_config
from tests.helpers import changed
from tests.test_config_validation import refusals


def served_containers(plan_) -> list[tuple[str, dict, int]]:
    """(workload, container, grace period) for each container with ports in a pod some Service selects."""
    services = [s["spec"].get("selector") or {} for s in plan_.objects("Service")]
    found = []
    for kind in ("Deployment", "StatefulSet"):
        for workload in plan_.objects(kind):
            template = workload["spec"]["template"]
            labels = template["metadata"]["labels"]
            if not any(selector and selector.items() <= labels.items() for selector in services):
                continue
            grace = template["spec"].get("terminationGracePeriodSeconds", 30)
            found += [(workload["metadata"]["name"], c, grace)
                      for c in template["spec"]["containers"] if c.get("ports")]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_served_container_drains_inside_its_grace_period(plans, stack):
    served = served_containers(plans[stack])
    assert len(served) >= 10
    for workload, container, grace in served:
        drain = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
        assert drain == 5, (workload, container["name"])
        assert grace >= drain + 20, (workload, container["name"])


def test_jobs_and_init_containers_do_not_drain(plans):
    for job in plans["production"].objects("Job"):
        spec = job["spec"]["template"]["spec"]
        assert all("lifecycle" not in c for c in spec["containers"] + spec.get("initContainers", []))


def test_an_hpa_needs_the_metrics_api_declared():
    raw = changed(raw_config("production"), "archon:metricsServer", False)
    assert refusals("production", raw) == [
        "archon:services.frontend.autoscaling.enabled = true: an HPA scales on the resource metrics API, which the "
        "cluster serves only with metrics-server (or an adapter): install it and set archon:metricsServer: true, or "
        "size replicas by hand"]


@pytest.mark.parametrize("stack", STACKS)
def test_stores_without_a_client_do_not_run(plans, stack):
    apps = {s["metadata"]["name"] for s in plans[stack].objects("StatefulSet")}
    assert "archon-postgres" in apps and not apps & {"archon-redis", "archon-qdrant", "archon-memgraph"}
    claims = [t for s in plans[stack].objects("StatefulSet") for t in s["spec"].get("volumeClaimTemplates", [])]
    assert claims and all(s["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
                          for s in plans[stack].objects("StatefulSet") if s["spec"].get("volumeClaimTemplates"))


def test_a_client_brings_its_stores_and_a_store_can_be_asked_for(tmp_path):
    cfg = load_stack_config("staging", changed(changed(raw_config("staging"), "archon:features.intelligence", True),
                                                "archon:images.prebuilt.intelligence", "ghcr.io/a/intelligence:v1"))
    assert list(cfg.data_stores()) == ["postgres", "redis", "qdrant", "memgraph"]
    asked = plan_with(tmp_path, "staging", lambda c: c["archon:databases"]["redis"].update(enabled=True))
    assert asked.exit_code == 0, asked.stderr
    assert {s["metadata"]["name"] for s in asked.objects("StatefulSet")} >= {"archon-postgres", "archon-redis"}
    assert "archon-qdrant" not in {s["metadata"]["name"] for s in asked.objects("StatefulSet")}


def test_a_store_a_running_service_uses_cannot_be_switched_off():
    raw = changed(changed(changed(raw_config("staging"), "archon:features.intelligence", True),
                          "archon:images.prebuilt.intelligence", "ghcr.io/a/intelligence:v1"),
                  "archon:databases.qdrant.enabled", False)
    assert refusals("staging", raw) == [
        "archon:databases.qdrant.enabled = false: intelligence uses it; turn that off first, or leave enabled unset"]
    assert refusals("staging", changed(raw_config("staging"), "archon:databases.postgres.enabled", False)) == [
        "archon:databases.postgres.enabled = false: the data API uses it; turn that off first, or leave enabled unset"]
