"""The backup CronJob and restore template as the stacks render them, with a PVC or with S3."""

from __future__ import annotations

import pytest
import yaml

from components.database_engines import POSTGRES
from tests.conftest import ROOT, STACKS, plan_with
from tests.helpers import secret_strings
from tests.reachability import PUBLIC, reaches


def cronjob(p, name: str) -> dict:
    (obj,) = [o for o in p.objects("CronJob") if o["metadata"]["name"] == name]
    return obj


def pod(obj: dict) -> dict:
    return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("stack", STACKS)
def test_backup_runs_on_schedule_dumps_snapshots_then_finishes(plans, stack):
    doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]["archon:databases"]["backup"]
    job = cronjob(plans[stack], "archon-db-backup")
    assert job["spec"]["schedule"] == doc["schedule"]
    assert (job["spec"]["concurrencyPolicy"], job["spec"]["timeZone"]) == ("Forbid", "Etc/UTC")
    spec = pod(job)
    assert [c["name"] for c in spec["initContainers"]] == ["dump-postgres"]  # Qdrant runs only with its client
    assert [c["name"] for c in spec["containers"]] == ["finish"]
    assert spec["restartPolicy"] == "Never"
    for container in [*spec["initContainers"], *spec["containers"]]:
        values = env(container)
        assert values["JOB_NAME"] == {"fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}}
        assert values["STAMP"] == "$(JOB_NAME)"
        assert values["RETENTION_DAYS"] == str(doc["retentionDays"])
        assert container["command"][:2] == ["sh", "/scripts/archon-backup.sh"]
    dump = env(spec["initContainers"][0])
    assert dump["PGPASSWORD"] == {"secretKeyRef": {"key": "password", "name": "archon-postgres-credentials"}}
    assert spec["initContainers"][0]["image"] == POSTGRES.image
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == "archon-backups"
    assert pod(job)["securityContext"]["runAsUser"] == 999


def test_the_script_configmap_holds_the_tested_script(plans):
    (script,) = [o for o in plans["staging"].objects("ConfigMap") if o["metadata"]["name"] == "archon-db-backup-script"]
    assert script["data"]["archon-backup.sh"] == (ROOT / "scripts" / "archon-backup.sh").read_text()


def test_restore_is_a_suspended_template_reading_the_requested_file(plans):
    job = cronjob(plans["production"], "archon-db-restore")
    assert job["spec"]["suspend"] is True and job["spec"]["schedule"] == "0 0 31 2 *"
    (container,) = pod(job)["containers"]
    assert container["command"][-1] == "restore-postgres"
    assert env(container)["RESTORE_FILE"] == {"configMapKeyRef": {"key": "file", "name": "archon-db-restore-request"}}
    assert "initContainers" not in pod(job)


def test_backup_volume_is_protected_in_production_only(plans):
    for stack, expected in (("production", True), ("staging", False)):
        (volume,) = [r for r in plans[stack].resources if r["type"] == "kubernetes:core/v1:PersistentVolumeClaim"]
        assert (volume["options"]["protect"], volume["options"]["retainOnDelete"]) == (expected, expected)


def test_backup_pods_may_reach_only_the_databases(plans):
    (policy,) = [o for o in plans["staging"].objects("NetworkPolicy") if o["metadata"]["name"] == "archon-db-backup"]
    assert "ingress" not in policy["spec"] and "Ingress" in policy["spec"]["policyTypes"]  # nothing may connect
    targets = [(rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"], rule["ports"][0]["port"])
               for rule in policy["spec"]["egress"]]
    assert targets == [("archon-postgres", 5432)]


def test_with_s3_backups_go_to_the_bucket_through_a_staging_directory(tmp_path):
    def use_s3(config: dict) -> None:
        config["archon:databases"]["backup"]["s3"] = {"endpoint": "https://s3.eu-west-1.amazonaws.com",
                                                      "bucket": "acme-archon-backups", "region": "eu-west-1"}
        config["archon:backupS3AccessKeyId"] = {"secure": "v1:a2V5"}
        config["archon:backupS3SecretAccessKey"] = {"secure": "v1:c2VjcmV0"}
        config["archon:databases"]["qdrant"]["enabled"] = True
    result = plan_with(tmp_path, "production", use_s3)
    assert result.exit_code == 0, result.stderr
    assert result.objects("PersistentVolumeClaim") == []
    job = cronjob(result, "archon-db-backup")
    finish = env(pod(job)["containers"][0])
    assert (finish["S3_BUCKET"], finish["S3_REGION"], finish["S3_PREFIX"]) == ("acme-archon-backups", "eu-west-1",
                                                                               "archon")
    assert finish["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"key": "secret-access-key",
                                                                "name": "archon-db-backup-s3"}}
    assert {v["name"]: v for v in pod(job)["volumes"]}["finish-backups"]["emptyDir"] == {"sizeLimit": "200Gi"}
    restore = pod(cronjob(result, "archon-db-restore"))
    assert [c["name"] for c in restore["initContainers"]] == ["fetch"]
    assert [c["name"] for c in pod(job)["initContainers"]] == ["dump-postgres", "snapshot-qdrant"]
    # The upload reaches the bucket outside the cluster, as the services reach the internet: not private ranges,
    # not the cluster's own pods.
    assert reaches(result.connections, "archon-db-backup") == {
        ("archon-postgres", 5432), ("archon-qdrant", 6333), (PUBLIC, 443), ("address 0.0.0.0/0", 443)}
    (secret,) = [o for o in result.objects("Secret") if o["metadata"]["name"] == "archon-db-backup-s3"]
    assert secret_strings(secret) == {"access-key-id": "offline-placeholder:archon:backupS3AccessKeyId",
                                    "secret-access-key": "offline-placeholder:archon:backupS3SecretAccessKey"}
    others = [yaml.safe_dump(o) for o in result.manifests if o["kind"] != "Secret"]
    assert not any("offline-placeholder:archon:backupS3" in text for text in others)
