"""Backups: a nightly CronJob (pg_dump and a Qdrant snapshot) and a restore Job template, one script for both."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.component import Component, Placement
from components.database import Database
from components.database_engines import POSTGRES
from components.labels import recommended_labels
from components.objects import Metadata
from stackconfig.model import BackupSettings, Resources

CURL_IMAGE = "curlimages/curl:8.16.0"
SCRIPT_DIR = "/scripts"
BACKUP_DIR = "/backups"
NAME = "archon-db-backup"  # app.kubernetes.io/name of backup and restore pods: the databases admit it
RESOURCES = Resources.model_validate({"requests": {"cpu": "50m", "memory": "128Mi"},
                                      "limits": {"cpu": "1", "memory": "512Mi"}})
NEVER = "0 0 31 2 *"  # 31 February: the restore CronJob is only a template for `make restore`
RESTORE_REQUEST = "archon-db-restore-request"  # ConfigMap `make restore` writes: key `file`


class Backups(Component):
    """The backup volume (or S3 credentials), the script, the backup CronJob and the restore Job template."""

    def __init__(self, name: str, *, backup: BackupSettings, script: str, site: Placement, postgres: Database | None,
                 qdrant: Database | None, s3_credentials: tuple[pulumi.Input[str], pulumi.Input[str]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:Backups", name, opts)
        self.labels = recommended_labels(NAME, "backup", site.instance, "1")
        self._meta = Metadata(site.namespace, self.labels).named
        meta = self._meta

        self.script = k8s.core.v1.ConfigMap(f"{name}-script", metadata=meta(f"{NAME}-script"),
                                            data={"archon-backup.sh": script}, opts=self.fixed_name())
        self._env: dict[str, pulumi.Input[str]] = {"BACKUP_DIR": BACKUP_DIR,
                                                   "RETENTION_DAYS": str(backup.retention_days)}
        self._secret_env: dict[str, w.SecretRef] = {}
        self._mounts = [w.Mount(w.config_map_volume("script", self.script.metadata.name, default_mode=0o555),
                                SCRIPT_DIR)]
        self._writable = [w.WritablePath("/tmp", "64Mi")]
        self._storage(name, backup, site.protect, s3_credentials)

        # Every container of one backup run names its files after the Job, so `finish` uploads exactly this run.
        run = {"field_env": {"JOB_NAME": "metadata.labels['batch.kubernetes.io/job-name']"},
               "env": {"STAMP": "$(JOB_NAME)"}}
        # Restore pods read which file to restore from the ConfigMap `make restore` writes.
        request = {"config_env": {"RESTORE_FILE": w.ConfigRef(RESTORE_REQUEST, "file")}}
        step = self._step

        pg_env, pg_secret, snapshots = {}, {}, []
        if postgres is not None:
            pg_env = {"PGHOST": postgres.host, "PGPORT": str(POSTGRES.port), "PGUSER": POSTGRES.fixed["username"],
                      "PGDATABASE": POSTGRES.fixed["database"]}
            pg_secret = {"PGPASSWORD": w.SecretRef(postgres.secret_name, "password")}
            snapshots.append(step("dump-postgres", POSTGRES.image, "dump-postgres", {**pg_env, **run["env"]},
                                  pg_secret, field_env=run["field_env"]))
        if qdrant is not None:
            snapshots.append(step(
                "snapshot-qdrant", CURL_IMAGE, "snapshot-qdrant",
                {"QDRANT_URL": pulumi.Output.concat("http://", qdrant.host, ":", str(qdrant.port)), **run["env"]},
                {"QDRANT_API_KEY": w.SecretRef(qdrant.secret_name, "api-key")}, field_env=run["field_env"]))

        self.cronjob = k8s.batch.v1.CronJob(
            name, metadata=meta(NAME),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=backup.schedule, time_zone="Etc/UTC", concurrency_policy="Forbid",
                starting_deadline_seconds=3600, successful_jobs_history_limit=3, failed_jobs_history_limit=5,
                job_template=self._job("backup", snapshots, step("finish", CURL_IMAGE, "finish", run["env"],
                                                                 field_env=run["field_env"]))),
            opts=self.child)

        if postgres is not None:
            fetch = [step("fetch", CURL_IMAGE, "fetch", **request)] if backup.s3 else []
            self.restore = k8s.batch.v1.CronJob(
                f"{name}-restore", metadata=meta("archon-db-restore"),
                spec=k8s.batch.v1.CronJobSpecArgs(
                    schedule=NEVER, suspend=True, concurrency_policy="Forbid",
                    job_template=self._job("restore", fetch, step("restore-postgres", POSTGRES.image,
                                                                  "restore-postgres", pg_env, pg_secret, **request))),
                opts=self.child)

        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-egress", metadata=meta(NAME), spec=site.traffic.policy(NAME), opts=self.child)
        self.register_outputs({"cronjob": self.cronjob.metadata.name})

    def _storage(self, name: str, backup: BackupSettings, protect: bool,
                 s3_credentials: tuple[pulumi.Input[str], pulumi.Input[str]] | None) -> None:
        """Where the files go: S3 (its credentials, a staging area) or the backup volume, kept like the data."""
        if backup.s3:
            s3 = backup.s3
            self._env |= {"S3_ENDPOINT": s3.endpoint, "S3_BUCKET": s3.bucket, "S3_REGION": s3.region,
                          "S3_PREFIX": s3.prefix}
            key_id, key = s3_credentials or ("", "")
            self.s3_secret = k8s.core.v1.Secret(f"{name}-s3", metadata=self._meta(f"{NAME}-s3"), type="Opaque",
                                                string_data={"access-key-id": key_id, "secret-access-key": key},
                                                opts=self.fixed_name())
            self._secret_env |= {
                "AWS_ACCESS_KEY_ID": w.SecretRef(self.s3_secret.metadata.name, "access-key-id"),
                "AWS_SECRET_ACCESS_KEY": w.SecretRef(self.s3_secret.metadata.name, "secret-access-key")}
            self._writable.append(w.WritablePath(BACKUP_DIR, backup.storage.size))  # staging area before the upload
        else:
            self.volume = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-volume", metadata=self._meta("archon-backups"),
                spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                    access_modes=["ReadWriteOnce"], storage_class_name=backup.storage.storage_class,
                    resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": backup.storage.size})),
                opts=self.options(protect=protect, retain_on_delete=protect))
            self._mounts.append(w.Mount(w.claim_volume("backups", self.volume.metadata.name), BACKUP_DIR,
                                        read_only=False))

    def _step(self, container: str, image: str, command: str, extra_env: Mapping | None = None,
              extra_secrets: Mapping | None = None, field_env: Mapping | None = None,
              config_env: Mapping | None = None) -> w.Container:
        """One container running one command of the script, with the storage's env and mounts."""
        return w.Container(name=container, image=image, resources=RESOURCES,
                           command=["sh", f"{SCRIPT_DIR}/archon-backup.sh", command],
                           env={**self._env, **(extra_env or {})},
                           secret_env={**self._secret_env, **(extra_secrets or {})},
                           field_env=field_env or {}, config_env=config_env or {},
                           writable_paths=self._writable, mounts=self._mounts)

    def _job(self, kind: str, init: list[w.Container], main: w.Container) -> k8s.batch.v1.JobTemplateSpecArgs:
        """A Job that runs the steps `init` one after another, then `main`, at most six hours."""
        pod_labels = {**self.labels, "app.kubernetes.io/component": kind}
        return k8s.batch.v1.JobTemplateSpecArgs(spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=1, active_deadline_seconds=6 * 3600, ttl_seconds_after_finished=7 * 86400,
            template=w.pod_template(labels=pod_labels, run_as=POSTGRES.run_as, restart_policy="Never",
                                    init_containers=init, containers=[main])))
