"""The program through the real Pulumi CLI, engine and provider, on the local control plane, in order:
bad config, preview against the offline plan, up, idempotence, a change, a what-if, drift, a backup Job,
credential rotation and a replacement under protection, protection, teardown. Each asserts the cluster's state
through the API, not the CLI's words.

Not real here (README, "The real engine"): no container runs, NetworkPolicies are not enforced, no image is
pulled, the language host and the random provider are stand-ins, cert-manager and load balancers are stages.
"""

from __future__ import annotations

import base64
import gzip
import json
import re

import pytest

from e2e import compare, harness
from e2e.checks import converged, in_cluster, namespace_exists, wait_gone
from e2e.paths import SHARED

pytestmark = pytest.mark.usefixtures("cluster")
NAMESPACE = "archon-local"
CONTROLLER_NAMESPACE = "traefik"


def ops(run: harness.Run) -> dict[str, str]:
    """URN -> the step the engine took (create, update, replace, same, delete ...), from its events."""
    out = {}
    for event in run.events:
        pre = event.get("resource_pre_event")
        if pre and not pre["metadata"]["type"].startswith("pulumi:providers:"):
            out[pre["metadata"]["urn"]] = pre["metadata"]["op"]
    return out


def offline(tmp_path, *sets: str, extra: tuple[str, ...] = ()) -> dict:
    """The offline plan of the same project and config; its resources, outputs and stderr."""
    done = harness.offline_plan(tmp_path, "local", sets, *extra)
    resources = json.loads((tmp_path / "resources.json").read_text()) if done.returncode != 2 else []
    outputs = json.loads((tmp_path / "outputs.json").read_text()) if done.returncode != 2 else {}
    return {"code": done.returncode, "stderr": done.stderr, "resources": resources, "outputs": outputs}


def remove_protected_stack(*sets: str) -> None:
    """Unprotect and destroy the stack, then delete by hand the namespace it retained on purpose."""
    harness.pulumi("unprotect", sets=sets)
    harness.pulumi("destroy", sets=sets)
    delete_retained_namespace()


def delete_retained_namespace() -> None:
    harness.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
    wait_gone(NAMESPACE)


@pytest.mark.parametrize("assignment, message", [
    ("archon:services.server.replcas=1",
     "archon:services.server.replcas = 1: unknown key; did you mean 'replicas'?"),
    ("archon:services.server.replicas=-1",
     "archon:services.server.replicas = -1: must be at least 0"),
])
def test_bad_config_fails_with_the_offline_message_and_creates_nothing(tmp_path, assignment, message):
    plan = offline(tmp_path, assignment)
    assert plan["code"] == 2 and message in plan["stderr"]
    for operation in ("preview", "up"):
        run = harness.pulumi(operation, sets=(assignment,))
        assert run.returncode != 0
        assert message in run.output, run.output[-2000:]
    assert not namespace_exists(NAMESPACE)
    assert harness.objects("clusterissuers") == []


def test_preview_with_the_policy_pack_matches_the_offline_plan(tmp_path):
    run = harness.pulumi("preview", "--policy", events=True)
    assert run.returncode == 0, run.output[-3000:]
    mandatory = [e["policy_event"] for e in run.events
                 if e.get("policy_event") and e["policy_event"]["enforcement_level"] == "mandatory"]
    assert mandatory == []
    advisory = {e["policy_event"]["policy_name"] for e in run.events if e.get("policy_event")}
    assert advisory == {"exempted-findings"}  # the three justified API-token exemptions, as offline
    plan = offline(tmp_path)
    assert plan["code"] == 0, plan["stderr"]
    differences = compare.compare(compare.real_steps(run.events), compare.offline_steps(plan["resources"]))
    assert differences == []
    assert len(compare.real_steps(run.events)) == len(plan["resources"])


def test_up_rolls_everything_out_with_no_pod_refused(tmp_path):
    run = harness.pulumi("up", "--policy", events=True)
    assert run.returncode == 0, run.output[-3000:]
    for kind in ("deployments", "statefulsets"):
        for workload in harness.objects(kind, NAMESPACE) + harness.objects(kind, CONTROLLER_NAMESPACE):
            name, spec, status = workload["metadata"]["name"], workload["spec"], workload.get("status", {})
            assert status.get("observedGeneration") == workload["metadata"]["generation"], name
            assert status.get("readyReplicas", 0) == spec["replicas"] == status.get("updatedReplicas"), name
    refused = [e for e in harness.objects("events", NAMESPACE) + harness.objects("events", CONTROLLER_NAMESPACE)
               if "PodSecurity" in e.get("message", "") or e.get("reason") == "FailedCreate"]
    assert refused == []
    for replica_set in harness.objects("replicasets", NAMESPACE):
        assert not [c for c in replica_set.get("status", {}).get("conditions", []) if c["type"] == "ReplicaFailure"]
    # Traefik came from the local chart folder, and Helm recorded the pinned chart version as deployed.
    release = next(s for s in harness.objects("secrets", CONTROLLER_NAMESPACE)
                   if s["metadata"].get("labels", {}).get("owner") == "helm")
    record = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(release["data"]["release"]))))
    assert record["info"]["status"] == "deployed" and record["chart"]["metadata"]["version"] == "41.3.0"
    steps = compare.real_steps(run.events)
    (chart,) = [s["inputs"]["chart"] for s in steps.values() if s["type"] == "kubernetes:helm.sh/v3:Release"]
    assert chart == str(SHARED / "charts" / "traefik-41.3.0")
    # The stack's outputs are the offline plan's.
    outputs = json.loads(harness.pulumi("outputs").stdout.splitlines()[-1])
    assert outputs == offline(tmp_path)["outputs"]


def test_second_preview_has_no_changes_and_refresh_finds_no_drift():
    preview = harness.pulumi("preview", "--policy", "--expect-no-changes")
    assert preview.returncode == 0, preview.output[-3000:]
    refresh = harness.pulumi("refresh", "--expect-no-changes")
    assert refresh.returncode == 0, refresh.output[-3000:]


def test_a_replica_change_updates_the_deployment_in_place():
    before = harness.objects("deployments", NAMESPACE)
    uid = {d["metadata"]["name"]: d["metadata"]["uid"] for d in before}
    run = harness.pulumi("up", sets=("archon:services.frontend.replicas=2",), events=True)
    assert run.returncode == 0, run.output[-3000:]
    steps = {urn.rsplit("::", 1)[-1]: op for urn, op in ops(run).items() if op != "same"}
    # The Deployment is patched; two replicas also bring the PodDisruptionBudget the builder adds.
    assert steps == {"archon-frontend": "update", "archon-frontend-pdb": "create"}
    frontend = next(d for d in harness.objects("deployments", NAMESPACE) if d["metadata"]["name"] == "archon-frontend")
    assert frontend["spec"]["replicas"] == 2 and frontend["status"]["readyReplicas"] == 2
    assert frontend["metadata"]["uid"] == uid["archon-frontend"]
    back = harness.pulumi("up")
    assert back.returncode == 0 and back.changes.get("update") == 1 and back.changes.get("delete") == 1


def test_a_storage_class_change_replaces_what_the_offline_diff_predicted(tmp_path):
    change = "archon:databases.postgres.storage.storageClass=fast"
    base = offline(tmp_path / "base")
    assert base["code"] == 0
    what_if = offline(tmp_path / "what-if", change, extra=("--diff", str(tmp_path / "base")))
    assert what_if["code"] == 0, what_if["stderr"]
    predicted = json.loads((tmp_path / "what-if" / "diff.json").read_text())["changes"]
    replaced = {c["urn"] for c in predicted if c["action"] == "replace"}
    data_loss = {c["urn"] for c in predicted if c["dataLoss"]}
    run = harness.pulumi("preview", sets=(change,), events=True)
    assert run.returncode == 0, run.output[-3000:]
    real = {urn for urn, op in ops(run).items() if op in ("replace", "create-replacement", "delete-replaced")}
    assert real == replaced and replaced
    assert data_loss <= real and all("StatefulSet" in urn or "PersistentVolumeClaim" in urn for urn in data_loss)
    assert {urn for urn, op in ops(run).items() if op == "update"} == {
        c["urn"] for c in predicted if c["action"] == "update"}


def test_drift_shows_in_a_refreshing_preview_and_the_next_up_restores_it():
    # Hand edits of fields the program declares: the replica count, and one of its labels. (A label the program
    # never declared is another manager's under server-side apply, and stays.)
    before = next(d for d in harness.objects("deployments", NAMESPACE) if d["metadata"]["name"] == "archon-server")
    label = "app.kubernetes.io/part-of"
    harness.kubectl("scale", "deployment/archon-server", "--replicas=3", "-n", NAMESPACE)
    harness.kubectl("label", "--overwrite", "deployment/archon-server", f"{label}=edited-by-hand", "-n", NAMESPACE)
    preview = harness.pulumi("preview", "--refresh", events=True)
    assert preview.returncode == 0, preview.output[-3000:]
    drifted = {urn.rsplit("::", 1)[-1] for urn, op in ops(preview).items() if op == "update"}
    assert drifted == {"archon-server"}
    run = harness.pulumi("up", "--refresh")
    assert run.returncode == 0, run.output[-3000:]
    assert "conflict" not in run.output.lower()
    server = next(d for d in harness.objects("deployments", NAMESPACE) if d["metadata"]["name"] == "archon-server")
    assert server["spec"]["replicas"] == before["spec"]["replicas"] == 1
    assert server["metadata"]["labels"][label] == before["metadata"]["labels"][label] != "edited-by-hand"
    assert harness.pulumi("preview", "--refresh", "--expect-no-changes").returncode == 0


def test_a_job_from_the_backup_cronjob_is_admitted_and_completes():
    harness.kubectl("create", "job", "archon-backup-e2e", "--from=cronjob/archon-db-backup", "-n", NAMESPACE)
    try:
        done = harness.kubectl("wait", "--for=condition=complete", "job/archon-backup-e2e", "-n", NAMESPACE,
                               "--timeout=120s", check=False)
        assert done.returncode == 0, done.stderr
        job = next(j for j in harness.objects("jobs", NAMESPACE) if j["metadata"]["name"] == "archon-backup-e2e")
        assert job["status"]["succeeded"] == 1 and not job["status"].get("failed")
    finally:
        harness.kubectl("delete", "job", "archon-backup-e2e", "-n", NAMESPACE, "--wait=true", check=False)


def test_credentials_rotate_under_protection_by_the_documented_procedure(tmp_path):
    protect, rotate = "archon:protectStatefulResources=true", "archon:databases.credentialsRotation=1"
    base = offline(tmp_path / "base", protect)
    rotated = offline(tmp_path / "rotated", protect, rotate, extra=("--diff", str(tmp_path / "base")))
    assert rotated["code"] == 0, rotated["stderr"]
    protected = {r["urn"] for r in base["resources"] if r["options"]["protect"]}
    changes = json.loads((tmp_path / "rotated" / "diff.json").read_text())["changes"]
    # What the README says to unprotect: the protected resources a rotation replaces (the generated passwords
    # and the Secrets holding them), as the offline diff (or `pulumi preview`) lists them.
    to_unprotect = sorted(c["urn"] for c in changes if c["action"] == "replace" and c["urn"] in protected)
    assert to_unprotect and all(re.search(r"(-password|-api-key|-authenticator|-credentials)$", u)
                                for u in to_unprotect), to_unprotect
    try:
        up = harness.pulumi("up", sets=(protect,))
        assert up.returncode == 0, up.output[-3000:]
        before = {s["metadata"]["name"]: s for s in harness.objects("secrets", NAMESPACE)}
        checksum = {d["metadata"]["name"]: (d["spec"]["template"]["metadata"].get("annotations") or {})
                    .get("archon.io/secrets-checksum") for d in harness.objects("deployments", NAMESPACE)}
        refused = harness.pulumi("up", sets=(protect, rotate))
        assert refused.returncode != 0 and "protect" in refused.output
        after_refusal = {s["metadata"]["name"]: s for s in harness.objects("secrets", NAMESPACE)}
        for name in ("archon-postgres-credentials", "archon-data-api-credentials"):
            assert after_refusal[name]["metadata"]["uid"] == before[name]["metadata"]["uid"], "nothing is lost"
            assert after_refusal[name]["data"] == before[name]["data"]
        unprotect = harness.pulumi("unprotect", *(f for urn in to_unprotect for f in ("--target", urn)),
                                   sets=(protect, rotate))
        assert unprotect.returncode == 0, unprotect.output[-3000:]
        done = harness.pulumi("up", sets=(protect, rotate))
        assert done.returncode == 0, done.output[-3000:]
        after = {s["metadata"]["name"]: s for s in harness.objects("secrets", NAMESPACE)}
        for name in ("archon-postgres-credentials", "archon-redis-credentials", "archon-data-api-credentials"):
            assert after[name]["data"] != before[name]["data"], f"{name} holds new credentials"
        assert (after["archon-data-api-credentials"]["data"]["jwt-secret"]
                == before["archon-data-api-credentials"]["data"]["jwt-secret"]), "the JWT secret does not rotate"
        rolled = {d["metadata"]["name"]: (d["spec"]["template"]["metadata"].get("annotations") or {})
                  .get("archon.io/secrets-checksum") for d in harness.objects("deployments", NAMESPACE)}
        for name in ("archon-server", "archon-mcp", "archon-data-api"):
            assert rolled[name] != checksum[name], f"{name}'s pods roll onto the new credentials"
        state = json.loads(harness.pulumi("export", sets=(protect, rotate)).stdout)
        again = {r["urn"] for r in state["resources"] if r.get("protect")}
        assert set(to_unprotect) <= again, "the new ones are protected again, as the program declares"
        assert harness.pulumi("preview", "--expect-no-changes", sets=(protect, rotate)).returncode == 0
    finally:
        remove_protected_stack(protect, rotate)


def data_objects() -> dict[str, dict[str, tuple]]:
    """The data objects of the namespace: claims, their volumes and Secrets, by name -> (uid, phase or data)."""
    def of(items: list[dict]) -> dict[str, tuple]:
        return {o["metadata"]["name"]: (o["metadata"]["uid"], json.dumps(o.get("data") or o.get("status", {}).get(
            "phase"), sort_keys=True)) for o in items}
    volumes = [v for v in harness.objects("persistentvolumes")
               if v["spec"].get("claimRef", {}).get("namespace") == NAMESPACE]
    return {"claims": of(harness.objects("persistentvolumeclaims", NAMESPACE)), "volumes": of(volumes),
            "secrets": of(harness.objects("secrets", NAMESPACE))}


def test_a_protected_replacement_is_refused_and_the_documented_procedure_keeps_the_claim(tmp_path):
    protect, change = "archon:protectStatefulResources=true", "archon:databases.redis.storage.storageClass=fast"
    plan = offline(tmp_path, protect)
    (redis,) = [r["urn"] for r in plan["resources"]
                if r["type"] == "kubernetes:apps/v1:StatefulSet" and r["inputs"]["metadata"]["name"] == "archon-redis"]

    def uid(kind: str, name: str) -> str:
        found = harness.kubectl("get", kind, name, "-n", NAMESPACE, "-o", "jsonpath={.metadata.uid}", check=False)
        return found.stdout if found.returncode == 0 else ""

    try:
        assert harness.pulumi("up", sets=(protect,)).returncode == 0
        claim, old = uid("pvc", "data-archon-redis-0"), uid("statefulset", "archon-redis")
        assert claim and old
        data = data_objects()
        refused = harness.pulumi("up", sets=(protect, change), events=True)
        assert refused.returncode != 0 and "protect" in refused.output
        touched = {urn: op for urn, op in ops(refused).items() if op != "same"}
        assert set(touched) <= {redis}, f"refused before anything else was touched: {touched}"
        assert (uid("statefulset", "archon-redis"), uid("pvc", "data-archon-redis-0")) == (old, claim)
        assert data_objects() == data, "every claim, volume and Secret is still there, unchanged"
        # Unprotected, the replacement still cannot finish: retainOnDelete keeps the old StatefulSet, and the
        # new one (same name) collides with it. Hence the README's procedure: orphan-delete it first.
        assert harness.pulumi("unprotect", "--target", redis, sets=(protect, change)).returncode == 0
        collides = harness.pulumi("up", sets=(protect, change))
        # The provider says "already exists", or, when server-side apply takes the old object for the new one, that
        # the StatefulSet's spec may not change that way; both are the retained object in the way.
        errors = [line.strip() for line in collides.output.splitlines() if "error" in line]
        in_the_way = ("already exists", "updates to statefulset spec")
        assert collides.returncode != 0 and any(m in line for line in errors for m in in_the_way), errors
        harness.kubectl("delete", "statefulset", "archon-redis", "-n", NAMESPACE, "--cascade=orphan")
        done = harness.pulumi("up", sets=(protect, change))
        assert done.returncode == 0, done.output[-3000:]
        new = harness.objects("statefulsets", NAMESPACE)
        (sts,) = [o for o in new if o["metadata"]["name"] == "archon-redis"]
        assert sts["metadata"]["uid"] != old
        assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
        assert uid("pvc", "data-archon-redis-0") == claim, "the claim (and its data) is the one it had"
        state = json.loads(harness.pulumi("export", sets=(protect, change)).stdout)
        assert any(r["urn"] == redis and r.get("protect") for r in state["resources"]), "protected again"
        converged(protect, change)
    finally:
        remove_protected_stack(protect, change)


def test_protected_resources_refuse_destroy_and_retained_ones_outlive_it(tmp_path):
    protect = "archon:protectStatefulResources=true"
    plan = offline(tmp_path, protect)
    protected = {r["urn"] for r in plan["resources"] if r["options"]["protect"]}
    retained = [r for r in plan["resources"] if r["options"]["retainOnDelete"] and r["type"].startswith("kubernetes:")]
    assert protected and retained
    up = harness.pulumi("up", sets=(protect,))
    assert up.returncode == 0, up.output[-3000:]
    refused = harness.pulumi("destroy", sets=(protect,))
    assert refused.returncode != 0
    # The engine deletes what is not protected, dependents first, and refuses each protected resource it
    # reaches: those no other protected resource depends on (what they depend on is never reached).
    frontier = protected - {dep for r in plan["resources"] if r["urn"] in protected for dep in r["dependencies"]}
    named = set(re.findall(r"pulumi state unprotect '([^']+)'", refused.output))
    assert named == frontier and any("StatefulSet" in urn for urn in named)
    for resource in plan["resources"]:
        if resource["urn"] in protected and resource["type"].startswith("kubernetes:"):
            assert in_cluster(resource["inputs"]), f"protected {resource['urn']} is gone"
    assert harness.pulumi("unprotect", sets=(protect,)).returncode == 0
    destroyed = harness.pulumi("destroy", sets=(protect,))
    assert destroyed.returncode == 0, destroyed.output[-3000:]
    for resource in retained:
        assert in_cluster(resource["inputs"]), f"retained {resource['urn']} is gone"
    # Clean up by hand what was retained on purpose, for the teardown scenario.
    delete_retained_namespace()


def test_destroy_leaves_nothing_and_a_new_up_succeeds(tmp_path):
    plan = offline(tmp_path)
    manifests = [r["inputs"] for r in plan["resources"]
                 if r["type"].startswith("kubernetes:") and "kind" in r["inputs"]]
    for attempt in ("first", "again"):
        up = harness.pulumi("up")
        assert up.returncode == 0, f"{attempt} up: {up.output[-3000:]}"
        destroy = harness.pulumi("destroy")
        assert destroy.returncode == 0, f"{attempt} destroy: {destroy.output[-3000:]}"
        wait_gone(NAMESPACE, CONTROLLER_NAMESPACE)
        for manifest in manifests:
            if manifest["metadata"].get("namespace"):
                continue  # their namespaces are gone, so are they
            assert not in_cluster(manifest), (manifest["kind"], manifest["metadata"]["name"])
    volumes = [v["metadata"]["name"] for v in harness.objects("persistentvolumes")
               if v["spec"].get("claimRef", {}).get("namespace") == NAMESPACE]
    assert volumes == []  # the claims went with the namespace, and their volumes (reclaim policy Delete) too
