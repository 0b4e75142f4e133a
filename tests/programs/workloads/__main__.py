"""Test fixture: one of each pod-bearing kind, built with the secure workload builder."""

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.labels import recommended_labels, selector_labels
from stackconfig.model import Resources

NS = "archon-test"
small = Resources.model_validate({"requests": {"cpu": "100m", "memory": "128Mi"},
                                  "limits": {"cpu": "500m", "memory": "256Mi"}})
image = pulumi.Config().require("image")

server_labels = recommended_labels("archon-server", "server", "test", "v0.1.0")
server = w.Container(
    name="server", image=image, resources=small, ports={"http": 8181},
    probes=w.Probes(readiness=w.Probe(http_path="/health"), liveness=w.Probe(http_path="/"),
                    startup=w.Probe(http_path="/health", period_seconds=5, failure_threshold=60)),
    env={"LOG_LEVEL": "info", "ARCHON_SERVER_PORT": "8181"},
    secret_env={"OPENAI_API_KEY": w.SecretRef("archon-secrets", "openai-api-key")},
    writable_paths=[w.WritablePath("/tmp", "1Gi"), w.WritablePath("/home/archon/.cache", "512Mi")],
    mounts=[w.Mount(w.config_map_volume("config", "archon-config"), "/etc/archon")],
)
wait = w.Container(name="wait-for-db", image="busybox:1.37.0", resources=small,
                   command=["sh", "-c", "until nc -z postgres 5432; do sleep 2; done"])
deployment = k8s.apps.v1.Deployment(
    "server",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="archon-server", namespace=NS, labels=server_labels),
    spec=k8s.apps.v1.DeploymentSpecArgs(
        replicas=2,
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(server_labels)),
        template=w.pod_template(
            labels=server_labels, containers=[server], init_containers=[wait], run_as=w.RunAs(1000, 1000)),
    ),
)

pg_labels = recommended_labels("postgres", "database", "test", "17.11")
postgres = w.Container(
    name="postgres", image="pgvector/pgvector:0.8.6-pg17-bookworm", resources=small, ports={"tcp-postgres": 5432},
    probes=w.Probes(readiness=w.Probe(command=["pg_isready", "-h", "127.0.0.1"], port=5432),
                    liveness=w.Probe(tcp=True, port="tcp-postgres")),
    writable_paths=[w.WritablePath("/var/run/postgresql", "16Mi"), w.WritablePath("/tmp"),
                    w.WritablePath("/dev/shm", "64Mi", in_memory=True)],
    mounts=[w.Mount(w.claim_template("data"), "/var/lib/postgresql", read_only=False)],
)
k8s.apps.v1.StatefulSet(
    "postgres",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="postgres", namespace=NS, labels=pg_labels),
    spec=k8s.apps.v1.StatefulSetSpecArgs(
        service_name="postgres-headless",
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(pg_labels)),
        template=w.pod_template(labels=pg_labels, containers=[postgres], run_as=w.RunAs(999, 999),
                                termination_grace_period_seconds=120, claim_templates=["data"]),
        volume_claim_templates=[k8s.core.v1.PersistentVolumeClaimArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(name="data"),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": "10Gi"})))],
    ),
    opts=pulumi.ResourceOptions(protect=True, retain_on_delete=True),
)

backup_labels = recommended_labels("backup", "backup", "test", "v0.1.0")
k8s.batch.v1.CronJob(
    "backup",
    metadata=k8s.meta.v1.ObjectMetaArgs(namespace=NS, labels=backup_labels),
    spec=k8s.batch.v1.CronJobSpecArgs(
        schedule="0 3 * * *",
        job_template=k8s.batch.v1.JobTemplateSpecArgs(spec=k8s.batch.v1.JobSpecArgs(
            template=w.pod_template(labels=backup_labels, run_as=w.RunAs(999, 999), restart_policy="OnFailure",
                                    containers=[w.Container(
                                        name="backup", image="postgres:17.11-bookworm", resources=small,
                                        command=["pg_dump", "--version"],
                                        probes=w.Probes(readiness=w.Probe(command=["true"]),
                                                        liveness=w.Probe(command=["true"])),
                                        writable_paths=[w.WritablePath("/tmp")])]))),
    ),
)

config = k8s.core.v1.ConfigMap("unnamed-config", metadata=k8s.meta.v1.ObjectMetaArgs(namespace=NS),
                               data={"LOG_LEVEL": "info"})
pulumi.export("configMapName", config.metadata.name)
pulumi.export("deploymentReplicas", deployment.spec.replicas)
pulumi.export("apiToken", pulumi.Output.secret("not-a-real-token"))
