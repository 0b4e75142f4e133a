"""Faults on the local control plane: the CLI interrupted (SIGINT, SIGKILL) during the first up, the API server
stopped for 30 s during an up, a quota too small, two ups at once, objects changed or deleted behind the
program's back, an autoscaler's replica count. Each ends by proving the stack converged (e2e/checks.py: a preview
with no changes, one state entry and one cluster object per declared object, no pending operation) and by
destroying it, leaving nothing of the program's behind.
"""

from __future__ import annotations

import time

import pytest

from e2e import faults, harness
from e2e.checks import FIELD_MANAGER, applied, claims, converged, declared_kinds, wait_gone
from e2e.paths import BUILD

pytestmark = pytest.mark.usefixtures("cluster")
NAMESPACE = "archon-local"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
FAULT_POINTS = {  # when the fault comes: the first object begun, a rollout being awaited, a Helm install in flight
    "namespace": faults.begun("kubernetes:core/v1:Namespace"),
    "statefulset-rollout": faults.in_flight(STATEFULSET),
    "helm-release": faults.in_flight("kubernetes:helm.sh/v3:Release"),
}


def torn_down(*sets: str) -> None:
    """Destroy the stack (after `pulumi cancel`, should a killed CLI have left its lock); nothing of ours stays.
    A destroy that fails (a scenario that failed mid-operation leaves pending creates) gets the README's recovery
    once, so that one failed scenario does not fail the next."""
    harness.pulumi("cancel", sets=sets)
    destroyed = harness.pulumi("destroy", sets=sets)
    if destroyed.returncode != 0:
        harness.pulumi("cancel", sets=sets)
        harness.pulumi("refresh", "--clear-pending-creates", sets=sets)
        again = harness.pulumi("destroy", sets=sets)
        assert again.returncode == 0, again.output[-3000:]
    wait_gone(NAMESPACE, "traefik")
    left = applied(declared_kinds(sets))
    assert left == [], f"objects of the program ({FIELD_MANAGER}*) outlived the destroy: {left}"
    assert destroyed.returncode == 0, "the destroy failed (the recovery's passed):\n" + destroyed.output[-3000:]


def registered(run: harness.Run) -> list[str]:
    """The resources an operation registered (the stack itself aside)."""
    return [e["resource_pre_event"]["metadata"]["urn"] for e in run.events if e.get("resource_pre_event")
            and e["resource_pre_event"]["metadata"]["type"] != "pulumi:pulumi:Stack"]


def error_lines(run: harness.Run) -> list[str]:
    return [line.strip() for line in run.output.splitlines() if "error" in line.lower()]


@pytest.mark.parametrize("point", FAULT_POINTS)
@pytest.mark.parametrize("signal", ["SIGINT", "SIGKILL"])
def test_an_interrupted_first_up_converges_after_the_documented_recovery(signal, point):
    try:
        up = faults.start("up")
        up.wait_for(FAULT_POINTS[point])
        up.interrupt() if signal == "SIGINT" else up.kill()
        interrupted = up.finish()
        assert interrupted.returncode != 0, "the up was interrupted"
        assert "panic:" not in interrupted.output and "Traceback" not in interrupted.output
        before = claims(NAMESPACE)
        if signal == "SIGKILL":
            # The README's recovery after a killed CLI: its lock outlives it, and so do the creates it had begun.
            locked = harness.pulumi("up")
            assert locked.returncode != 0 and "currently locked" in locked.output, locked.output[-2000:]
            assert harness.pulumi("cancel").returncode == 0
            cleared = harness.pulumi("refresh", "--clear-pending-creates")
            assert cleared.returncode == 0, cleared.output[-3000:]
        recovered = harness.pulumi("up")
        assert recovered.returncode == 0, recovered.output[-3000:]
        after = claims(NAMESPACE)
        # Untouched: the same claim (uid), and a claim already bound still on its volume; one the fault caught
        # before the provisioner bound it may be bound since.
        assert {name: (after.get(name) or ("",))[0] for name in before} == \
            {name: uid for name, (uid, _, _) in before.items()}, "claims made before the fault are untouched"
        assert {name: after[name] for name, (_, phase, _) in before.items() if phase == "Bound"} == \
            {name: value for name, value in before.items() if value[1] == "Bound"}, "bound claims keep their volume"
        assert all(phase == "Bound" and volume for _, phase, volume in after.values()), after
        converged()
    finally:
        torn_down()


def test_an_api_server_stopped_for_30_seconds_during_an_up_then_the_next_up_converges():
    stopped = None
    try:
        up = faults.start("up")
        up.wait_for(faults.in_flight(STATEFULSET))
        stopped = faults.stop_api_server()
        time.sleep(30)
        stopped.start()
        stopped = None
        during = up.finish()
        assert "panic:" not in during.output and "Traceback" not in during.output
        if during.returncode != 0:  # a clear message: the API server could not be reached
            reasons = ("connection refused", "failed to connect", "unable to connect", "timed out", "EOF",
                       "the server is currently unable")
            assert any(reason in line for line in error_lines(during) for reason in reasons), error_lines(during)
        again = harness.pulumi("up")
        assert again.returncode == 0, again.output[-3000:]
        converged()
    finally:
        if stopped is not None:
            stopped.start()
        torn_down()


def test_a_quota_too_small_for_the_stack_is_refused_before_anything_changes_and_the_fixed_config_converges():
    try:
        assert harness.pulumi("up").returncode == 0
        quota = harness.kubectl("get", "resourcequota", "-n", NAMESPACE, "-o", "json").stdout
        small = harness.pulumi("up", sets=("archon:quota.pods=6",), events=True)
        assert small.returncode != 0
        assert "archon:quota.pods = 6: below the 24 pods" in small.output, small.output[-2000:]
        assert registered(small) == [], "nothing was registered"
        assert harness.kubectl("get", "resourcequota", "-n", NAMESPACE, "-o", "json").stdout == quota
        converged()  # the config fixed (the committed one): the stack is as it was
    finally:
        torn_down()


def test_a_second_up_at_the_same_time_is_refused_by_the_lock_and_nothing_is_applied_twice():
    first = None
    try:
        first = faults.start("up")
        first.wait_for(faults.begun("kubernetes:core/v1:Namespace"))  # the lock is held until it ends
        # Another checkout of the same stack (its own project copy, the same backend).
        second = harness.pulumi("up", "--project-dir", str(BUILD / "second-checkout"), events=True)
        assert second.returncode != 0 and "currently locked" in second.output, second.output[-2000:]
        assert registered(second) == [], "the second up registered nothing"
        done = first.finish()
        assert done.returncode == 0, done.output[-3000:]
        created = [e["resource_pre_event"]["metadata"]["urn"] for e in done.events if e.get("resource_pre_event")
                   and e["resource_pre_event"]["metadata"]["op"] == "create"]
        assert len(created) == len(set(created)), "each resource created once"
        converged()
    finally:
        if first is not None and first.process.poll() is None:
            first.finish()  # never tear down under a running up: its pending creates would outlive it
        torn_down()


def test_a_deleted_service_is_seen_by_refresh_and_restored_by_the_next_up():
    try:
        assert harness.pulumi("up").returncode == 0
        uid = harness.kubectl("get", "service", "archon-server", "-n", NAMESPACE, "-o", "jsonpath={.metadata.uid}")
        harness.kubectl("delete", "service", "archon-server", "-n", NAMESPACE)
        refresh = harness.pulumi("refresh")
        assert refresh.returncode == 0, refresh.output[-3000:]
        assert refresh.changes.get("delete") == 1, refresh.changes  # the Service, gone from the state too
        restored = harness.pulumi("up")
        assert restored.returncode == 0 and restored.changes.get("create") == 1, restored.changes
        new = harness.kubectl("get", "service", "archon-server", "-n", NAMESPACE, "-o", "jsonpath={.metadata.uid}")
        assert new.stdout and new.stdout != uid.stdout
        converged()
    finally:
        torn_down()


def test_an_autoscaled_replica_count_is_never_fought_over():
    # An HPA needs the resource metrics API declared (archon:metricsServer); the controller raises a Deployment to
    # the HPA's minimum without it, which is all this scenario needs of the local control plane.
    hpa = ("archon:services.frontend.autoscaling.enabled=true", "archon:services.frontend.autoscaling.minReplicas=2",
           "archon:services.frontend.autoscaling.maxReplicas=4", "archon:metricsServer=true")

    def replicas() -> int:
        found = harness.kubectl("get", "deployment", "archon-frontend", "-n", NAMESPACE, "-o",
                                "jsonpath={.spec.replicas}")
        return int(found.stdout)

    try:
        up = harness.pulumi("up", sets=hpa)
        assert up.returncode == 0, up.output[-3000:]
        deadline = time.monotonic() + 120
        while replicas() != 2 and time.monotonic() < deadline:  # the HPA raises the count to its minimum
            time.sleep(2)
        assert replicas() == 2, "the HorizontalPodAutoscaler set the Deployment's replicas"
        harness.kubectl("scale", "deployment/archon-frontend", "--replicas=3", "-n", NAMESPACE)  # as it would, loaded
        preview = harness.pulumi("preview", "--refresh", "--expect-no-changes", sets=hpa)
        assert preview.returncode == 0, preview.output[-3000:]
        again = harness.pulumi("up", "--refresh", sets=hpa)
        assert again.returncode == 0 and "conflict" not in again.output.lower(), again.output[-3000:]
        assert replicas() == 3, "the program left the autoscaler's count alone"
        converged(*hpa)
    finally:
        torn_down(*hpa)
