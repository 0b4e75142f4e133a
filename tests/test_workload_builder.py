"""The secure workload builder: its defaults, what components may override, and what it refuses."""

from __future__ import annotations

import inspect

import pulumi_kubernetes as k8s
import pytest

from components import workload as w
from stackconfig.model import Resources
from tests.conftest import ROOT, plan, plan_with

SMALL = Resources.model_validate({"requests": {"cpu": "100m", "memory": "128Mi"},
                                  "limits": {"cpu": "500m", "memory": "256Mi"}})
PROBES = w.Probes(readiness=w.Probe(http_path="/health"), liveness=w.Probe(http_path="/"))
WORKLOADS = ROOT / "tests" / "programs" / "workloads"


def app(**overrides) -> w.Container:
    return w.Container(**{"name": "app", "image": "ghcr.io/acme/app:v1", "resources": SMALL, "probes": PROBES,
                          **overrides})


def test_container_defaults_are_the_hardened_ones():
    c = w.container_args(app())
    sc = c.security_context
    assert (sc.run_as_non_root, sc.read_only_root_filesystem, sc.allow_privilege_escalation, sc.privileged) == \
        (True, True, False, False)
    assert sc.capabilities.drop == ["ALL"] and sc.capabilities.add is None
    assert sc.seccomp_profile.type == "RuntimeDefault"
    assert c.resources.requests == {"cpu": "100m", "memory": "128Mi"}
    assert c.resources.limits == {"cpu": "500m", "memory": "256Mi"}
    assert c.readiness_probe.http_get.path == "/health" and c.liveness_probe.http_get.path == "/"
    assert c.startup_probe is None


def test_pod_defaults_are_the_hardened_ones():
    spec = w.pod_spec(containers=[app()], run_as=w.RunAs(1000, 2000))
    psc = spec.security_context
    assert (psc.run_as_non_root, psc.run_as_user, psc.run_as_group, psc.fs_group) == (True, 1000, 2000, 2000)
    assert psc.fs_group_change_policy == "OnRootMismatch"
    assert psc.seccomp_profile.type == "RuntimeDefault"
    assert spec.automount_service_account_token is False
    assert spec.enable_service_links is False
    assert spec.host_network is None and spec.host_pid is None and spec.host_ipc is None
    assert spec.volumes is None


def test_writable_paths_become_size_limited_empty_dirs_mounted_where_asked():
    spec = w.pod_spec(containers=[app(writable_paths=[w.WritablePath("/tmp", "1Gi"),
                                                      w.WritablePath("/dev/shm", "64Mi", in_memory=True)])],
                      run_as=w.RunAs(1000, 1000))
    volumes = {v.name: v.empty_dir for v in spec.volumes}
    assert set(volumes) == {"app-tmp", "app-dev-shm"}
    assert (volumes["app-tmp"].size_limit, volumes["app-tmp"].medium) == ("1Gi", None)
    assert (volumes["app-dev-shm"].size_limit, volumes["app-dev-shm"].medium) == ("64Mi", "Memory")
    mounts = {m.mount_path: m.name for m in spec.containers[0].volume_mounts}
    assert mounts == {"/tmp": "app-tmp", "/dev/shm": "app-dev-shm"}


def test_overrides_components_may_ask_for():
    c = w.container_args(app(run_as=w.RunAs(101, 103), ports={"http": 8080, "http-metrics": 9090},
                             probes=w.Probes(readiness=w.Probe(tcp=True, port="http"),
                                             liveness=w.Probe(command=["true"]),
                                             startup=w.Probe(http_path="/ready", failure_threshold=60)),
                             env={"LOG_LEVEL": "info"},
                             secret_env={"OPENAI_API_KEY": w.SecretRef("archon-secrets", "openai")}))
    assert (c.security_context.run_as_user, c.security_context.run_as_group) == (101, 103)
    assert [(p.name, p.container_port) for p in c.ports] == [("http", 8080), ("http-metrics", 9090)]
    assert c.readiness_probe.tcp_socket.port == "http"
    assert c.liveness_probe.exec_.command == ["true"]
    assert c.startup_probe.failure_threshold == 60
    plain, secret = c.env
    assert (plain.name, plain.value) == ("LOG_LEVEL", "info")
    assert secret.value is None
    assert (secret.value_from.secret_key_ref.name, secret.value_from.secret_key_ref.key) == ("archon-secrets", "openai")


def test_init_containers_need_no_probes_but_get_the_same_hardening():
    spec = w.pod_spec(containers=[app()], init_containers=[app(name="init", probes=None)], run_as=w.RunAs(1, 1))
    init = spec.init_containers[0]
    assert init.readiness_probe is None and init.liveness_probe is None
    assert init.security_context.read_only_root_filesystem is True
    assert init.security_context.capabilities.drop == ["ALL"]


def test_mounts_carry_their_volumes_and_the_pod_declares_each_once():
    config = w.config_map_volume("config", "cfg", default_mode=0o444)
    spec = w.pod_spec(containers=[app(mounts=[w.Mount(config, "/etc/app"), w.Mount(w.claim_template("data"), "/data",
                                                                                   False)]),
                                  app(name="sidecar", mounts=[w.Mount(config, "/etc/sidecar"),
                                                              w.Mount(w.secret_volume("keys", "k"), "/keys")])],
                      run_as=w.RunAs(1, 1), claim_templates=["data"])
    assert [(m.name, m.mount_path, m.read_only) for m in spec.containers[0].volume_mounts] == \
        [("config", "/etc/app", True), ("data", "/data", None)]  # writable: readOnly left out, as the provider would
    # The claim template is the StatefulSet's; the ConfigMap is declared once though two containers mount it.
    assert [(v.name, v.config_map.name if v.config_map else v.secret.secret_name) for v in spec.volumes] == \
        [("config", "cfg"), ("keys", "k")]
    assert spec.volumes[0].config_map.default_mode == 0o444


def test_a_container_may_mount_another_containers_scratch_space():
    out = w.WritablePath("/out", "16Mi")
    spec = w.pod_spec(init_containers=[app(name="copy", writable_paths=[out])],
                      containers=[app(mounts=[w.Mount(w.scratch("copy", out), "/in")])], run_as=w.RunAs(1, 1))
    assert [v.name for v in spec.volumes] == ["copy-out"]
    assert [(m.name, m.mount_path) for m in spec.containers[0].volume_mounts] == [("copy-out", "/in")]


REFUSALS = [
    (lambda: w.RunAs(0, 1000), "run_as.user must be a positive numeric id, got 0 (root, 0, is never allowed)"),
    (lambda: w.RunAs(1000, 0), "run_as.group must be a positive numeric id, got 0"),
    (lambda: w.RunAs("1000", 1000), "run_as.user must be a positive numeric id, got '1000'"),
    (lambda: w.WritablePath("tmp"), "writable path 'tmp' must be an absolute path below /"),
    (lambda: w.WritablePath("/tmp", "1GB"), "writable path /tmp: size_limit '1GB' is not a Kubernetes quantity"),
    (lambda: w.Probe(http_path="/", tcp=True), "a probe needs exactly one of http_path=, tcp=True or command="),
    (lambda: w.Probe(), "a probe needs exactly one of http_path=, tcp=True or command="),
    (lambda: w.container_args(app(probes=None)), "container app: probes= is required"),
    (lambda: w.container_args(app(env={"DB_PASSWORD": "hunter2"})),
     "container app: env DB_PASSWORD looks like a secret; pass it with secret_env= (a secretKeyRef)"),
    (lambda: w.container_args(app(env={"OPENAI_API_KEY": "sk-1"})), "env OPENAI_API_KEY looks like a secret"),
    (lambda: w.container_args(app(ports={"HTTP_Port": 80})), "container app: port name 'HTTP_Port' must be"),
    (lambda: w.container_args(app(ports={"a-very-long-port-name": 80})), "port name 'a-very-long-port-name'"),
    (lambda: w.container_args(app(writable_paths=[w.WritablePath("/tmp")],
                                  mounts=[w.Mount(w.secret_volume("v", "s"), "/tmp")])),
     "container app: a path is mounted twice"),
    (lambda: w.container_args(app(writable_paths=[w.WritablePath("/dev/shm", "256Mi", in_memory=True)])),
     "memory-backed writable paths (268435456 bytes) must stay below the memory limit"),
    (lambda: w.pod_spec(containers=[], run_as=w.RunAs(1, 1)), "a pod needs at least one container"),
    (lambda: w.pod_spec(containers=[app(), app()], run_as=w.RunAs(1, 1)), "container names must be unique"),
    (lambda: w.Mount("cfg", "/etc/x"), "mount /etc/x: volume must be a Volume (config_map_volume, secret_volume, "
                                       "claim_volume, claim_template or scratch), not 'cfg'"),
    (lambda: w.pod_spec(containers=[app(mounts=[w.Mount(w.claim_template("data"), "/data")])], run_as=w.RunAs(1, 1)),
     "container app mounts 'data', a claim template the pod's StatefulSet does not have (it has: none)"),
    (lambda: w.pod_spec(containers=[app(mounts=[w.Mount(w.scratch("init", w.WritablePath("/out")), "/in")])],
                        run_as=w.RunAs(1, 1)),
     "container app mounts 'init-out', scratch space no container of the pod has (it has: none)"),
    (lambda: w.pod_spec(containers=[app(mounts=[w.Mount(w.secret_volume("v", "a"), "/a"),
                                                w.Mount(w.secret_volume("v", "b"), "/b")])], run_as=w.RunAs(1, 1)),
     "container app mounts 'v': two different volumes have that name (make it once, mount it twice)"),
    (lambda: w.pod_spec(containers=[app(mounts=[w.Mount(w.Volume("host", k8s.core.v1.VolumeArgs(
        name="host", host_path=k8s.core.v1.HostPathVolumeSourceArgs(path="/var/log"))), "/logs")])],
                        run_as=w.RunAs(1, 1)),
     "volume host: hostPath volumes are not allowed"),
    (lambda: w.pod_spec(containers=[app(mounts=[w.Mount(w.Volume("scratch", k8s.core.v1.VolumeArgs(
        name="scratch", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())), "/s")])], run_as=w.RunAs(1, 1)),
     "volume scratch: declare scratch space with writable_paths=, which sets a size limit"),
]


@pytest.mark.parametrize("build, message", REFUSALS, ids=[r[1][:50] for r in REFUSALS])
def test_builder_refuses_what_the_secure_defaults_do_not_allow(build, message):
    with pytest.raises(w.WorkloadSpecError) as caught:
        build()
    assert message in str(caught.value)


def test_there_is_no_way_to_pass_a_raw_security_context():
    for builder in (w.Container, w.container_args, w.pod_spec, w.pod_template):
        assert not any("security" in name for name in inspect.signature(builder).parameters), builder
    with pytest.raises(TypeError):
        w.pod_spec(containers=[app()], run_as=w.RunAs(1, 1), security_context={"privileged": True})


@pytest.fixture(scope="module")
def workloads(tmp_path_factory):
    result = plan("test", tmp_path_factory.mktemp("workloads"), project_dir=WORKLOADS)
    assert result.exit_code == 0, result.stderr
    return result


def pod_specs(manifest: dict) -> dict:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return spec["template"]["spec"]


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "CronJob"])
def test_rendered_pods_carry_the_defaults_on_the_wire(workloads, kind):
    (manifest,) = workloads.objects(kind)
    pod = pod_specs(manifest)
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert isinstance(pod["securityContext"]["runAsUser"], int) and pod["securityContext"]["runAsUser"] > 0
    for container in pod["containers"] + pod.get("initContainers", []):
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "privileged": False,
            "readOnlyRootFilesystem": True, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        assert set(container["resources"]) == {"requests", "limits"}
    for container in pod["containers"]:
        assert "readinessProbe" in container and "livenessProbe" in container
    for volume in pod.get("volumes", []):
        assert "hostPath" not in volume
        if "emptyDir" in volume:
            assert "sizeLimit" in volume["emptyDir"]


def test_secret_env_is_a_secret_key_ref_on_the_wire(workloads):
    (deployment,) = workloads.objects("Deployment")
    env = {e["name"]: e for e in pod_specs(deployment)["containers"][0]["env"]}
    assert env["OPENAI_API_KEY"] == {"name": "OPENAI_API_KEY", "valueFrom": {
        "secretKeyRef": {"key": "openai-api-key", "name": "archon-secrets"}}}
    assert env["ARCHON_SERVER_PORT"] == {"name": "ARCHON_SERVER_PORT", "value": "8181"}


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_every_deployment_and_statefulset_takes_back_hand_edited_fields(plans, stack):
    # Without patchForce, server-side apply refuses the up after a `kubectl scale` with a field conflict.
    controllers = plans[stack].objects("Deployment") + plans[stack].objects("StatefulSet")
    assert len(controllers) >= 10
    for obj in controllers:
        annotations = obj["metadata"].get("annotations") or {}
        assert annotations.get("pulumi.com/patchForce") == "true", obj["metadata"]["name"]


@pytest.fixture(scope="module")
def memgraph_plan(tmp_path_factory):
    """Staging with Memgraph on (it runs only with a client or when asked for)."""
    return plan_with(tmp_path_factory.mktemp("memgraph"), "staging",
                     lambda config: config["archon:databases"]["memgraph"].update(enabled=True))


@pytest.mark.parametrize("name, minutes", [("archon-agents", 15),
                                           ("archon-server", 10), ("archon-memgraph", 65), ("archon-postgres", 15)])
def test_rollout_waits_outlast_the_slowest_allowed_start(memgraph_plan, name, minutes):
    # The provider's default is 10 minutes; Memgraph may take an hour to start, the model services ten minutes.
    (resource,) = [r for r in memgraph_plan.resources
                   if r["name"] == name and r["type"].startswith("kubernetes:apps")]
    assert resource["options"]["customTimeouts"] == {"create": f"{minutes}m", "update": f"{minutes}m"}
    if resource["type"].endswith("Deployment"):
        assert resource["inputs"]["spec"]["progressDeadlineSeconds"] == minutes * 60


def test_start_allowance_is_the_startup_probe_window():
    slow = w.Probes(readiness=w.Probe(http_path="/r"), liveness=w.Probe(http_path="/l"),
                    startup=w.Probe(http_path="/r", initial_delay_seconds=10, period_seconds=5, failure_threshold=720))
    assert slow.start_allowance() == 3610
    assert w.rollout_timeouts(slow).create == "66m"  # ceil((3610 + 300) / 60)
    assert w.rollout_timeouts(PROBES).create == "10m"  # never below the provider's own wait
