"""The secure workload builder: the one place that writes pod and container security settings.

Components describe what a workload needs (`run_as=`, `writable_paths=`, `probes=`, ports, env,
secret env, mounts) and get back typed pod specs with the defaults of DESIGN.md: numeric non-root
ids, read-only root filesystem, no privilege escalation, all capabilities dropped, seccomp
RuntimeDefault, no service-account token, no service links, requests and limits, probes, and every
writable path an explicit size-limited emptyDir. There is deliberately no way to pass a raw
securityContext.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from policies.archon_policies import quantities
from policies.archon_policies.platform import is_secret_env
from stackconfig.model import Resources

core = k8s.core.v1

_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
# Volume sources that are not node-bound and that the PSS restricted profile allows.
_ALLOWED_VOLUME_SOURCES = ("config_map", "secret", "persistent_volume_claim", "empty_dir", "projected",
                           "downward_api", "ephemeral", "csi")


# Pulumi takes back the fields it declares when someone changed them by hand (`kubectl scale`, `kubectl edit`):
# without it, server-side apply refuses the next up with a field-manager conflict on those fields.
RECLAIM_DRIFT = {"pulumi.com/patchForce": "true"}


# The container securityContext of every workload (DESIGN.md's defaults), as the API writes it: the builder's
# containers and the Helm charts' values (Traefik, cert-manager) both take it from here.
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "privileged": False, "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def container_security() -> dict:
    """CONTAINER_SECURITY, a copy to hand to a chart's values."""
    return copy.deepcopy(CONTAINER_SECURITY)


def pod_security(run_as: RunAs) -> dict:
    """A pod securityContext for a chart's values: non-root with numeric ids, RuntimeDefault seccomp, and fsGroup
    where `run_as` names one (the builder's own pods default it to the group)."""
    values: dict = {"runAsNonRoot": True, "runAsUser": run_as.user, "runAsGroup": run_as.group}
    if run_as.fs_group is not None:
        values["fsGroup"] = run_as.fs_group
    return {**values, "seccompProfile": {"type": "RuntimeDefault"}}


def controller_annotations(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Annotations of a Deployment or StatefulSet: the caller's, plus RECLAIM_DRIFT."""
    return {**(extra or {}), **RECLAIM_DRIFT}


class WorkloadSpecError(ValueError):
    """A component asked the builder for something the secure defaults do not allow."""


@dataclass(frozen=True)
class RunAs:
    """The numeric, non-root user, group and filesystem group a pod runs as."""

    user: int
    group: int
    fs_group: int | None = None

    def __post_init__(self) -> None:
        for what, value in (("user", self.user), ("group", self.group), ("fs_group", self.fs_group)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise WorkloadSpecError(f"run_as.{what} must be a positive numeric id, got {value!r} "
                                        "(root, 0, is never allowed)")


@dataclass(frozen=True)
class WritablePath:
    """A path the container writes to: backed by an emptyDir with a size limit."""

    path: str
    size_limit: str = "64Mi"
    in_memory: bool = False

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path.rstrip("/") == "":
            raise WorkloadSpecError(f"writable path {self.path!r} must be an absolute path below /")
        try:
            quantities.memory(self.size_limit)
        except quantities.QuantityError as exc:
            raise WorkloadSpecError(f"writable path {self.path}: size_limit {self.size_limit!r} {exc}") from None

    @property
    def slug(self) -> str:
        """A volume-name-safe form of the path (`/var/run/postgresql` -> `var-run-postgresql`)."""
        return re.sub(r"[^a-z0-9]+", "-", self.path.lower()).strip("-")


@dataclass(frozen=True)
class Probe:
    """One probe: an HTTP GET, a TCP connect or a command, with its timing."""

    http_path: str | None = None
    tcp: bool = False
    command: Sequence[str] | None = None
    port: str | int = "http"
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 3
    failure_threshold: int = 3

    def __post_init__(self) -> None:
        kinds = sum([self.http_path is not None, self.tcp, self.command is not None])
        if kinds != 1:
            raise WorkloadSpecError("a probe needs exactly one of http_path=, tcp=True or command=")

    def to_args(self) -> core.ProbeArgs:
        """The typed Kubernetes probe. Never sets `host`, so kubelet always probes the pod itself."""
        return core.ProbeArgs(
            http_get=core.HTTPGetActionArgs(path=self.http_path, port=self.port) if self.http_path else None,
            tcp_socket=core.TCPSocketActionArgs(port=self.port) if self.tcp else None,
            exec_=core.ExecActionArgs(command=list(self.command)) if self.command is not None else None,
            # Zero values are left out: the provider's Check drops them (a typed round trip), so they never
            # reach the cluster, the state or a policy pack.
            initial_delay_seconds=self.initial_delay_seconds or None,
            period_seconds=self.period_seconds,
            timeout_seconds=self.timeout_seconds,
            failure_threshold=self.failure_threshold,
        )


@dataclass(frozen=True)
class Probes:
    """Readiness and liveness are mandatory; add startup where start is slow."""

    readiness: Probe
    liveness: Probe
    startup: Probe | None = None

    def start_allowance(self) -> int:
        """Seconds a container may take to start before the kubelet restarts it (startup, else readiness)."""
        probe = self.startup or self.readiness
        return probe.initial_delay_seconds + probe.period_seconds * probe.failure_threshold


# The provider waits 10 minutes for a rollout; a pod may need its whole start allowance plus time to be
# scheduled, attach its volume and pull its image, or the up fails while the workload is still fine.
PROVIDER_ROLLOUT_WAIT = 600
SCHEDULE_AND_PULL = 300


def rollout_seconds(probes: Probes) -> int:
    """How long a rollout may take: at least the provider's default, and as long as the slowest container is
    allowed to start, plus scheduling and the image pull."""
    return max(PROVIDER_ROLLOUT_WAIT, probes.start_allowance() + SCHEDULE_AND_PULL)


def rollout_timeouts(probes: Probes) -> pulumi.CustomTimeouts:
    """How long the engine waits for a Deployment or StatefulSet to be ready (rollout_seconds, in minutes)."""
    minutes = -(-rollout_seconds(probes) // 60)
    return pulumi.CustomTimeouts(create=f"{minutes}m", update=f"{minutes}m")


def text_digest(text: str) -> str:
    """sha256 of a config file's text, for a pod-template annotation that rolls the pods when it changes."""
    return hashlib.sha256(text.encode()).hexdigest()


def digest(values: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """sha256 over keys and values in key order (a Secret's data, say): an annotation that rolls the pods which
    read them, since a Secret keeps its name when its data changes. Secret when the values are."""
    keys = sorted(values)
    return pulumi.Output.all(*(values[key] for key in keys)).apply(
        lambda resolved: hashlib.sha256("\0".join(f"{k}={v}" for k, v in zip(keys, resolved, strict=True))
                                        .encode()).hexdigest())


@dataclass(frozen=True)
class SecretRef:
    """One key of a Kubernetes Secret, handed to a container as a `secretKeyRef`."""

    secret: pulumi.Input[str]
    key: str


@dataclass(frozen=True)
class ConfigRef:
    """One key of a ConfigMap, handed to a container as a `configMapKeyRef`."""

    config_map: pulumi.Input[str]
    key: str


@dataclass(frozen=True)
class Volume:
    """A volume of a pod, made by config_map_volume, secret_volume, claim_volume, claim_template or scratch.

    `source` is what the pod declares; None for a StatefulSet's claim template or another container's scratch
    space, which the pod gets elsewhere (`kind` says which)."""

    name: str
    source: core.VolumeArgs | None = None
    kind: str = "declared"  # declared | claim-template | scratch


def config_map_volume(name: str, config_map: pulumi.Input[str], default_mode: int | None = None) -> Volume:
    """A ConfigMap's keys as files."""
    return Volume(name, core.VolumeArgs(name=name, config_map=core.ConfigMapVolumeSourceArgs(
        name=config_map, default_mode=default_mode)))


def secret_volume(name: str, secret: pulumi.Input[str], default_mode: int | None = None) -> Volume:
    """A Secret's keys as files."""
    return Volume(name, core.VolumeArgs(name=name, secret=core.SecretVolumeSourceArgs(
        secret_name=secret, default_mode=default_mode)))


def claim_volume(name: str, claim: pulumi.Input[str]) -> Volume:
    """A PersistentVolumeClaim that exists on its own."""
    return Volume(name, core.VolumeArgs(name=name, persistent_volume_claim=core.PersistentVolumeClaimVolumeSourceArgs(
        claim_name=claim)))


def claim_template(name: str) -> Volume:
    """The claim a StatefulSet's volumeClaimTemplates give each of its pods."""
    return Volume(name, kind="claim-template")


def scratch(container: str, path: WritablePath) -> Volume:
    """The emptyDir behind another container's writable path in the same pod (an init container's output)."""
    return Volume(scratch_volume_name(container, path), kind="scratch")


@dataclass(frozen=True)
class Mount:
    """A mount of a volume, which the pod then declares; read-only unless said."""

    volume: Volume
    path: str
    read_only: bool = True
    sub_path: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.volume, Volume):
            raise WorkloadSpecError(f"mount {self.path}: volume must be a Volume (config_map_volume, secret_volume, "
                                    f"claim_volume, claim_template or scratch), not {self.volume!r}")


@dataclass(frozen=True)
class Container:
    """What one container needs; the builder adds the security settings."""

    name: str
    image: pulumi.Input[str]
    resources: Resources
    probes: Probes | None = None
    ports: Mapping[str, int] = field(default_factory=dict)
    command: Sequence[str] | None = None
    args: Sequence[pulumi.Input[str]] | None = None
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    secret_env: Mapping[str, SecretRef] = field(default_factory=dict)
    field_env: Mapping[str, str] = field(default_factory=dict)  # env name -> downward API fieldPath
    config_env: Mapping[str, ConfigRef] = field(default_factory=dict)
    writable_paths: Sequence[WritablePath] = ()
    mounts: Sequence[Mount] = ()
    run_as: RunAs | None = None
    image_pull_policy: str = "IfNotPresent"
    # Keeps serving this long once its pod is deleted (a preStop sleep); None: DRAIN_SECONDS when it has ports.
    drain_seconds: int | None = None


# How long a container behind a Service keeps serving after its pod is deleted: the endpoint controller and every
# node's proxy drop the pod asynchronously, and a connection that reaches a container already stopping is refused.
DRAIN_SECONDS = 5


def container_args(spec: Container, *, init: bool = False, runs_to_completion: bool = False) -> core.ContainerArgs:
    """Build one hardened container (init containers and run-to-completion pods need no probes)."""
    _check_container(spec, init or runs_to_completion)
    run_as = spec.run_as
    # References come first, so literal values can use them as $(NAME).
    env = [core.EnvVarArgs(name=k, value_from=core.EnvVarSourceArgs(
        field_ref=core.ObjectFieldSelectorArgs(field_path=path))) for k, path in spec.field_env.items()]
    env += [core.EnvVarArgs(name=k, value_from=core.EnvVarSourceArgs(
        config_map_key_ref=core.ConfigMapKeySelectorArgs(name=ref.config_map, key=ref.key)))
        for k, ref in spec.config_env.items()]
    env += [core.EnvVarArgs(name=k, value=v) for k, v in spec.env.items()]
    env += [core.EnvVarArgs(name=k, value_from=core.EnvVarSourceArgs(
        secret_key_ref=core.SecretKeySelectorArgs(name=ref.secret, key=ref.key))) for k, ref in spec.secret_env.items()]
    mounts = [core.VolumeMountArgs(name=_writable_volume_name(spec, w), mount_path=w.path) for w in spec.writable_paths]
    mounts += [core.VolumeMountArgs(name=m.volume.name, mount_path=m.path, read_only=m.read_only or None,
                                sub_path=m.sub_path)
               for m in spec.mounts]
    probes = spec.probes
    return core.ContainerArgs(
        name=spec.name,
        image=spec.image,
        image_pull_policy=spec.image_pull_policy,
        command=list(spec.command) if spec.command is not None else None,
        args=list(spec.args) if spec.args is not None else None,
        ports=[core.ContainerPortArgs(name=n, container_port=p, protocol="TCP") for n, p in spec.ports.items()] or None,
        env=env or None,
        resources=core.ResourceRequirementsArgs(
            requests={"cpu": spec.resources.requests.cpu, "memory": spec.resources.requests.memory},
            limits={"cpu": spec.resources.limits.cpu, "memory": spec.resources.limits.memory},
        ),
        security_context=_container_security_args(run_as),
        volume_mounts=mounts or None,
        readiness_probe=probes.readiness.to_args() if probes else None,
        liveness_probe=probes.liveness.to_args() if probes else None,
        startup_probe=probes.startup.to_args() if probes and probes.startup else None,
        lifecycle=core.LifecycleArgs(pre_stop=core.LifecycleHandlerArgs(sleep=core.SleepActionArgs(seconds=drain)))
        if (drain := _drain(spec, init or runs_to_completion)) else None,
    )


def _drain(spec: Container, finishes: bool) -> int:
    """How long the container keeps serving after its pod is deleted: only what serves (has ports) and keeps running."""
    if spec.drain_seconds is not None:
        return spec.drain_seconds
    return DRAIN_SECONDS if spec.ports and not finishes else 0


def pod_spec(
    *,
    containers: Sequence[Container],
    run_as: RunAs,
    init_containers: Sequence[Container] = (),
    claim_templates: Sequence[str] = (),
    service_account_name: pulumi.Input[str] | None = None,
    automount_service_account_token: bool = False,
    termination_grace_period_seconds: int | None = None,
    restart_policy: str | None = None,
    topology_spread_constraints: Sequence[core.TopologySpreadConstraintArgs] | None = None,
    image_pull_secrets: Sequence[pulumi.Input[str]] = (),
) -> core.PodSpecArgs:
    """Build a hardened pod spec: every writable path becomes a size-limited emptyDir, and every mounted volume is
    declared once.

    `claim_templates` names the claims a StatefulSet's volumeClaimTemplates provide, so mounts may use them.
    """
    if not containers:
        raise WorkloadSpecError("a pod needs at least one container")
    everyone = [*init_containers, *containers]
    names = [c.name for c in everyone]
    if len(set(names)) != len(names):
        raise WorkloadSpecError(f"container names must be unique in a pod: {names}")
    writable = [core.VolumeArgs(name=_writable_volume_name(c, w), empty_dir=core.EmptyDirVolumeSourceArgs(
        size_limit=w.size_limit, medium="Memory" if w.in_memory else None))
        for c in everyone for w in c.writable_paths]
    volumes = _mounted_volumes(everyone, {_volume_name(v) for v in writable}, set(claim_templates))
    return core.PodSpecArgs(
        security_context=core.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=run_as.user,
            run_as_group=run_as.group,
            fs_group=run_as.fs_group if run_as.fs_group is not None else run_as.group,
            fs_group_change_policy="OnRootMismatch",
            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        automount_service_account_token=automount_service_account_token,
        enable_service_links=False,
        service_account_name=service_account_name,
        termination_grace_period_seconds=termination_grace_period_seconds,
        restart_policy=restart_policy,
        topology_spread_constraints=list(topology_spread_constraints) if topology_spread_constraints else None,
        image_pull_secrets=[core.LocalObjectReferenceArgs(name=n) for n in image_pull_secrets] or None,
        init_containers=[container_args(c, init=True) for c in init_containers] or None,
        containers=[container_args(c, runs_to_completion=restart_policy in ("Never", "OnFailure"))
                    for c in containers],
        volumes=[*writable, *volumes] or None,
    )


def pod_template(*, labels: Mapping[str, str], annotations: Mapping[str, pulumi.Input[str]] | None = None,
                 **spec) -> core.PodTemplateSpecArgs:
    """A pod template (for Deployments, StatefulSets, Jobs) with labels and a hardened spec."""
    return core.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(labels),
                                            annotations=dict(annotations) if annotations else None),
        spec=pod_spec(**spec),
    )


def _container_security_args(run_as: RunAs | None) -> core.SecurityContextArgs:
    values = CONTAINER_SECURITY
    return core.SecurityContextArgs(
        run_as_non_root=values["runAsNonRoot"],
        run_as_user=run_as.user if run_as else None,
        run_as_group=run_as.group if run_as else None,
        read_only_root_filesystem=values["readOnlyRootFilesystem"],
        allow_privilege_escalation=values["allowPrivilegeEscalation"],
        privileged=values["privileged"],
        capabilities=core.CapabilitiesArgs(drop=list(values["capabilities"]["drop"])),
        seccomp_profile=core.SeccompProfileArgs(type=values["seccompProfile"]["type"]),
    )


def _check_container(spec: Container, init: bool) -> None:
    where = f"container {spec.name}"
    if not init and spec.probes is None:
        raise WorkloadSpecError(f"{where}: probes= is required (readiness and liveness, startup where start is slow)")
    for name in spec.ports:
        if not _PORT_NAME.match(name):
            raise WorkloadSpecError(f"{where}: port name {name!r} must be at most 15 lowercase letters, digits "
                                    "and '-', with at least one letter (e.g. http, http-metrics, tcp-postgres)")
    for name, value in spec.env.items():
        if is_secret_env(name, value if isinstance(value, str) else ""):
            raise WorkloadSpecError(f"{where}: env {name} looks like a secret; pass it with secret_env= "
                                    "(a secretKeyRef), never as a literal value")
    names = [*spec.env, *spec.secret_env, *spec.field_env, *spec.config_env]
    if len(set(names)) != len(names):
        raise WorkloadSpecError(f"{where}: an env var is given twice: {sorted(names)}")
    paths = [w.path for w in spec.writable_paths] + [m.path for m in spec.mounts]
    if len(set(paths)) != len(paths):
        raise WorkloadSpecError(f"{where}: a path is mounted twice: {sorted(paths)}")
    for kind in ("cpu", "memory"):
        parse = quantities.cpu if kind == "cpu" else quantities.memory
        if parse(getattr(spec.resources.limits, kind)) < parse(getattr(spec.resources.requests, kind)):
            raise WorkloadSpecError(f"{where}: {kind} limit is below its request")
    memory_limit = quantities.memory(spec.resources.limits.memory)
    in_memory = sum(quantities.memory(w.size_limit) for w in spec.writable_paths if w.in_memory)
    if in_memory >= memory_limit:
        raise WorkloadSpecError(f"{where}: memory-backed writable paths ({in_memory} bytes) must stay below "
                                "the memory limit, which they count against")


def scratch_volume_name(container: str, path: WritablePath) -> str:
    """The emptyDir volume behind a container's writable path: another container of the pod may mount it (an
    init container's output, read by the main container)."""
    return f"{container}-{path.slug}"[:63].rstrip("-")


def _writable_volume_name(spec: Container, path: WritablePath) -> str:
    return scratch_volume_name(spec.name, path)


def _mounted_volumes(containers: Sequence[Container], scratch_names: set[str],
                     claim_templates: set[str]) -> list[core.VolumeArgs]:
    """The volumes the containers mount, each declared once, in the order first mounted."""
    declared: dict[str, Volume] = {}
    for c in containers:
        for mount in c.mounts:
            volume = mount.volume
            where = f"container {c.name} mounts {volume.name!r}"
            if volume.kind == "claim-template" and volume.name not in claim_templates:
                raise WorkloadSpecError(f"{where}, a claim template the pod's StatefulSet does not have "
                                        f"(it has: {sorted(claim_templates) or 'none'})")
            if volume.kind == "scratch" and volume.name not in scratch_names:
                raise WorkloadSpecError(f"{where}, scratch space no container of the pod has "
                                        f"(it has: {sorted(scratch_names) or 'none'})")
            if volume.source is None:
                continue
            if volume.name in scratch_names or volume.name in claim_templates:
                raise WorkloadSpecError(f"{where}: the name is already the pod's scratch space or claim template")
            if volume.name in declared and declared[volume.name] is not volume:
                raise WorkloadSpecError(f"{where}: two different volumes have that name (make it once, mount it twice)")
            if volume.name not in declared:
                _check_volume(volume.source)
                declared[volume.name] = volume
    return [volume.source for volume in declared.values() if volume.source is not None]


def _volume_name(volume: core.VolumeArgs) -> str:
    return pulumi.get(volume, "name")


def _check_volume(volume: core.VolumeArgs) -> None:
    name = _volume_name(volume)
    if pulumi.get(volume, "host_path") is not None:
        raise WorkloadSpecError(f"volume {name}: hostPath volumes are not allowed; use a PersistentVolumeClaim")
    sources = [s for s in _ALLOWED_VOLUME_SOURCES if pulumi.get(volume, s) is not None]
    if len(sources) != 1:
        raise WorkloadSpecError(f"volume {name}: needs exactly one of {', '.join(_ALLOWED_VOLUME_SOURCES)}")
    if sources == ["empty_dir"]:
        raise WorkloadSpecError(f"volume {name}: declare scratch space with writable_paths=, which sets a size limit")
