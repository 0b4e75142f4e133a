"""Rules derived from the Pod Security Standards "restricted" profile, with PSA's exact semantics.

Each rule takes a Subject and its policy config and returns violations. Container controls visit
initContainers, containers and ephemeralContainers; explicit bad values anywhere fail, and container
values override pod values where the standard says so.
"""

from __future__ import annotations

from typing import Any

from .pods import Container, Pod, each_container, each_container_field, each_pod
from .rule import policy
from .subject import Subject, Violation, unknown
from .values import Allowed, get, is_unknown

BASELINE_CAPABILITIES = Allowed({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                 "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
RESTRICTED_CAPABILITIES = Allowed({"NET_BIND_SERVICE"})
RESTRICTED_VOLUME_SOURCES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
                                       "persistentVolumeClaim", "projected", "secret"})
SAFE_SYSCTLS = Allowed({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"})
SELINUX_TYPES = Allowed({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SECCOMP_OK = Allowed({"RuntimeDefault", "Localhost"})
APPARMOR_TYPES_OK = Allowed({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def _context(node: dict, where: str, out: list[Violation]) -> dict | None:
    """A securityContext as a dict ({} when unset), or None (recorded) when unknown."""
    value = node.get("securityContext")
    if is_unknown(value):
        out.append(unknown(where, "securityContext"))
        return None
    return value if isinstance(value, dict) else {}


def _field(context: dict, key: str, where: str, out: list[Violation]) -> Any:
    value = context.get(key)
    if is_unknown(value):
        out.append(unknown(where, f"securityContext.{key}"))
    return value


def _pod_and_containers(subject: Subject, out: list[Violation]):
    """(pod, pod securityContext, [(container, container securityContext)]) for every known pod."""
    for pod in each_pod(subject, out):
        pod_sc = _context(pod.spec, pod.where, out)
        if pod_sc is None:
            continue
        containers = []
        for c in each_container(pod, out):
            c_sc = _context(c.data, c.where, out)
            if c_sc is not None:
                containers.append((c, c_sc))
        yield pod, pod_sc, containers


def _every_context(pod: Pod, pod_sc: dict, containers: list) -> list[tuple[str, dict]]:
    """(where, securityContext) for the pod and each of its containers, for controls set at either level."""
    return [(f"{pod.where}.securityContext", pod_sc)] + [(f"{c.where}: securityContext", sc) for c, sc in containers]


@policy("pods-run-as-non-root", "high",
        remediation="Set securityContext.runAsNonRoot: true and a numeric non-zero runAsUser on the pod; remove any "
                    "runAsUser: 0.",
        pss_controls=("runAsNonRoot", "runAsUser"),
        settings={"allowUserNamespaces": {"type": "boolean", "default": False,
                  "description": "Relax the rule for pods with hostUsers: false, as PSS does from policy version "
                                 "v1.35."}})
def pods_run_as_non_root(subject: Subject, config: dict) -> list[Violation]:
    """Pods and containers assert runAsNonRoot and never run as UID 0 (PSS restricted).

    PSS runAsNonRoot and runAsUser: assert non-root everywhere; UID 0 nowhere."""
    out: list[Violation] = []
    relax = bool(config.get("allowUserNamespaces"))
    for pod, pod_sc, containers in _pod_and_containers(subject, out):
        if relax and pod.spec.get("hostUsers") is False:
            continue
        pod_non_root = _field(pod_sc, "runAsNonRoot", pod.where, out)
        if pod_non_root is False:
            out.append(Violation(f"{pod.where}.securityContext.runAsNonRoot is false; set it to true"))
        if _field(pod_sc, "runAsUser", pod.where, out) == 0:
            out.append(Violation(f"{pod.where}.securityContext.runAsUser is 0 (root); set a non-zero UID such as 1000"))
        for c, c_sc in containers:
            non_root = _field(c_sc, "runAsNonRoot", c.where, out)
            if non_root is False:
                out.append(Violation(f"{c.where}: securityContext.runAsNonRoot is false; set it to true"))
            elif non_root is None and pod_non_root is not True and not is_unknown(pod_non_root):
                out.append(Violation(f"{c.where}: runAsNonRoot is set neither on the container nor on the pod; "
                                     f"set securityContext.runAsNonRoot: true on the pod ({pod.where})"))
            if _field(c_sc, "runAsUser", c.where, out) == 0:
                out.append(Violation(f"{c.where}: securityContext.runAsUser is 0 (root); set a non-zero UID "
                                     "such as 1000"))
    return out


def _required_flag(subject: Subject, key: str, want: bool, unset: str, advice: str) -> list[Violation]:
    """A container securityContext boolean that must be `want` in every container of a Linux pod."""
    out: list[Violation] = []
    for pod, _, containers in _pod_and_containers(subject, out):
        if pod.windows:
            continue
        for c, c_sc in containers:
            value = _field(c_sc, key, c.where, out)
            if value is not want and not is_unknown(value):
                state = f"is {str(value).lower()}" if isinstance(value, bool) else unset
                fix = f"set it to {str(want).lower()}{advice}"
                out.append(Violation(f"{c.where}: securityContext.{key} {state}; {fix}"))
    return out


@policy("no-privilege-escalation", "high",
        remediation="Set securityContext.allowPrivilegeEscalation: false on every container.",
        pss_controls=("allowPrivilegeEscalation",))
def no_privilege_escalation(subject: Subject, config: dict) -> list[Violation]:
    """Containers set allowPrivilegeEscalation: false (PSS restricted).

    PSS allowPrivilegeEscalation: every container sets it to false (Windows pods are exempt)."""
    return _required_flag(subject, "allowPrivilegeEscalation", False, "is not set (the default allows it)", "")


@policy("drop-all-capabilities", "high",
        remediation="Set securityContext.capabilities.drop: [ALL]; remove capabilities.add other than "
                    "NET_BIND_SERVICE.",
        pss_controls=("capabilities_baseline", "capabilities_restricted"))
def drop_all_capabilities(subject: Subject, config: dict) -> list[Violation]:
    """Containers drop ALL capabilities and add none but NET_BIND_SERVICE (PSS restricted).

    PSS capabilities: drop exactly "ALL"; add nothing but NET_BIND_SERVICE (Windows: baseline list only)."""
    out: list[Violation] = []
    for pod, _, containers in _pod_and_containers(subject, out):
        allowed = BASELINE_CAPABILITIES if pod.windows else RESTRICTED_CAPABILITIES
        for c, c_sc in containers:
            caps = c_sc.get("capabilities")
            if is_unknown(caps):
                out.append(unknown(c.where, "securityContext.capabilities"))
                continue
            caps = caps if isinstance(caps, dict) else {}
            add, drop = caps.get("add"), caps.get("drop")
            if is_unknown(add):
                out.append(unknown(c.where, "securityContext.capabilities.add"))
            for cap in add if isinstance(add, list) else []:
                if is_unknown(cap):
                    out.append(unknown(c.where, "an added capability"))
                elif cap not in allowed:
                    out.append(Violation(f"{c.where}: securityContext.capabilities.add has {cap!r}; remove it "
                                         f"(only {', '.join(sorted(allowed))} may be added)"))
            if pod.windows:
                continue
            if is_unknown(drop) or (isinstance(drop, list) and any(is_unknown(d) for d in drop)):
                out.append(unknown(c.where, "securityContext.capabilities.drop"))
            elif not isinstance(drop, list) or "ALL" not in drop:
                out.append(Violation(f"{c.where}: securityContext.capabilities.drop does not contain \"ALL\" "
                                     "(exact, upper case); set capabilities.drop: [ALL]"))
    return out


@policy("seccomp-runtime-default", "medium",
        remediation="Set securityContext.seccompProfile.type: RuntimeDefault on the pod.",
        pss_controls=("seccompProfile_baseline", "seccompProfile_restricted"))
def seccomp_runtime_default(subject: Subject, config: dict) -> list[Violation]:
    """Pods use the RuntimeDefault (or a Localhost) seccomp profile (PSS restricted).

    PSS seccompProfile: RuntimeDefault or Localhost on the pod or every container; Unconfined nowhere."""
    out: list[Violation] = []
    for pod, pod_sc, containers in _pod_and_containers(subject, out):
        pod_type = _seccomp_type(pod_sc, pod.where, out)
        bad = pod_type is not None and not is_unknown(pod_type) and pod_type not in SECCOMP_OK
        if bad and (not pod.windows or pod_type == "Unconfined"):
            out.append(Violation(f"{pod.where}.securityContext.seccompProfile.type is {pod_type!r}; "
                                 "set it to RuntimeDefault"))
        for c, c_sc in containers:
            c_type = _seccomp_type(c_sc, c.where, out)
            if is_unknown(c_type):
                continue
            if c_type is not None and c_type not in SECCOMP_OK:
                if not pod.windows or c_type == "Unconfined":  # Windows pods: only Unconfined is refused
                    out.append(Violation(f"{c.where}: securityContext.seccompProfile.type is {c_type!r}; "
                                         "set it to RuntimeDefault"))
            elif c_type is None and pod_type not in SECCOMP_OK and not pod.windows and not is_unknown(pod_type):
                out.append(Violation(f"{c.where}: no seccompProfile on the container or the pod; set "
                                     f"securityContext.seccompProfile.type: RuntimeDefault on the pod ({pod.where})"))
    return out


def _seccomp_type(context: dict, where: str, out: list[Violation]) -> Any:
    profile = context.get("seccompProfile")
    value = profile.get("type") if isinstance(profile, dict) else profile
    if is_unknown(value):
        out.append(unknown(where, "securityContext.seccompProfile"))
    return value


@policy("no-privileged-containers", "critical",
        remediation="Remove securityContext.privileged or set it to false.",
        pss_controls=("privileged",))
def no_privileged_containers(subject: Subject, config: dict) -> list[Violation]:
    """No container runs privileged (PSS baseline)."""
    out: list[Violation] = []
    for _, _, containers in _pod_and_containers(subject, out):
        for c, c_sc in containers:
            if _field(c_sc, "privileged", c.where, out) is True:
                out.append(Violation(f"{c.where}: securityContext.privileged is true; set it to false"))
    return out


@policy("no-host-namespaces", "critical",
        remediation="Remove hostNetwork, hostPID and hostIPC, or set them to false.",
        pss_controls=("hostNamespaces",))
def no_host_namespaces(subject: Subject, config: dict) -> list[Violation]:
    """Pods do not share the host's network, PID or IPC namespace (PSS baseline).

    PSS host namespaces: hostNetwork, hostPID and hostIPC stay off."""
    out: list[Violation] = []
    for pod in each_pod(subject, out):
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            value = pod.spec.get(key)
            if is_unknown(value):
                out.append(unknown(pod.where, key))
            elif value is True:
                out.append(Violation(f"{pod.where}.{key} is true; remove it or set it to false"))
    return out


def _volumes(pod: Pod, out: list[Violation]):
    volumes = pod.spec.get("volumes")
    if is_unknown(volumes):
        out.append(unknown(pod.where, "volumes"))
        return
    for index, volume in enumerate(volumes if isinstance(volumes, list) else []):
        if is_unknown(volume):
            out.append(unknown(f"{pod.where}.volumes[{index}]", "the volume"))
        elif isinstance(volume, dict):
            yield index, volume


@policy("no-host-path-volumes", "critical",
        remediation="Replace hostPath volumes with a PersistentVolumeClaim or an emptyDir.",
        pss_controls=("hostPathVolumes",))
def no_host_path_volumes(subject: Subject, config: dict) -> list[Violation]:
    """Pods mount no hostPath volumes (PSS baseline).

    PSS hostPath volumes: none, read-only or not."""
    out: list[Violation] = []
    for pod in each_pod(subject, out):
        for index, volume in _volumes(pod, out):
            if volume.get("hostPath") is not None:
                out.append(Violation(f"{pod.where}.volumes[{index}] '{volume.get('name')}' is a hostPath volume; "
                                     "use a persistentVolumeClaim or an emptyDir instead"))
    return out


@policy("restricted-volume-types", "high",
        remediation="Use configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected "
                    "or secret volumes.",
        pss_controls=("restrictedVolumes",))
def restricted_volume_types(subject: Subject, config: dict) -> list[Violation]:
    """Pods use only the volume types the restricted profile allows.

    PSS volume types: only configMap, csi, downwardAPI, emptyDir, ephemeral, image, PVC, projected, secret."""
    out: list[Violation] = []
    for pod in each_pod(subject, out):
        for index, volume in _volumes(pod, out):
            for source in sorted(set(volume) - {"name"} - RESTRICTED_VOLUME_SOURCES):
                if volume[source] is not None:
                    out.append(Violation(
                        f"{pod.where}.volumes[{index}] '{volume.get('name')}' uses {source}, which the restricted "
                        f"profile forbids; use one of {', '.join(sorted(RESTRICTED_VOLUME_SOURCES))}"))
    return out


@policy("no-host-ports", "high",
        remediation="Remove ports[].hostPort and expose the port through a Service.",
        pss_controls=("hostPorts",))
def no_host_ports(subject: Subject, config: dict) -> list[Violation]:
    """Containers bind no host ports (PSS baseline).

    PSS host ports: no container port binds a host port (0 means none)."""
    out: list[Violation] = []
    for c, ports in each_container_field(subject, "ports", out):
        for index, port in enumerate(ports if isinstance(ports, list) else []):
            host_port = port if is_unknown(port) else port.get("hostPort") if isinstance(port, dict) else None
            if is_unknown(host_port):
                out.append(unknown(c.where, f"ports[{index}].hostPort"))
            elif host_port not in (None, 0):
                out.append(Violation(f"{c.where}: ports[{index}].hostPort is {host_port}; remove it and expose "
                                     "the port through a Service"))
    return out


@policy("safe-sysctls", "high",
        remediation="Remove unsafe sysctls from securityContext.sysctls; tune the node instead.",
        pss_controls=("sysctls",))
def safe_sysctls(subject: Subject, config: dict) -> list[Violation]:
    """Pods set only the safe, namespaced sysctls (PSS baseline)."""
    out: list[Violation] = []
    for pod, pod_sc, _ in _pod_and_containers(subject, out):
        sysctls = pod_sc.get("sysctls")
        if is_unknown(sysctls):
            out.append(unknown(pod.where, "securityContext.sysctls"))
            continue
        for index, sysctl in enumerate(sysctls if isinstance(sysctls, list) else []):
            name = sysctl.get("name") if isinstance(sysctl, dict) else None
            if is_unknown(name):
                out.append(unknown(pod.where, f"securityContext.sysctls[{index}].name"))
            elif name not in SAFE_SYSCTLS:
                out.append(Violation(f"{pod.where}.securityContext.sysctls[{index}] sets {name!r}, which is not a "
                                     "safe sysctl; remove it (set it on the node if it is really needed)"))
    return out


@policy("default-proc-mount", "high",
        remediation="Remove securityContext.procMount or set it to Default.",
        pss_controls=("procMount", "procMount_restricted"))
def default_proc_mount(subject: Subject, config: dict) -> list[Violation]:
    """Containers keep the Default /proc mount (PSS restricted)."""
    out: list[Violation] = []
    for _, _, containers in _pod_and_containers(subject, out):
        for c, c_sc in containers:
            value = _field(c_sc, "procMount", c.where, out)
            if value not in (None, "Default") and not is_unknown(value):
                out.append(Violation(f"{c.where}: securityContext.procMount is {value!r}; remove it or set it "
                                     "to Default"))
    return out


@policy("no-host-probes-or-lifecycle", "medium",
        remediation="Remove host from httpGet/tcpSocket probes and lifecycle hooks.",
        pss_controls=("hostProbesAndHostLifecycle",))
def no_host_probes_or_lifecycle(subject: Subject, config: dict) -> list[Violation]:
    """Probes and lifecycle hooks never target another host (PSS baseline)."""
    out: list[Violation] = []
    for pod in each_pod(subject, out):
        for c in each_container(pod, out):
            handlers = [(p, c.data.get(p)) for p in PROBES]
            lifecycle = c.data.get("lifecycle")
            if is_unknown(lifecycle):
                out.append(unknown(c.where, "lifecycle"))
            elif isinstance(lifecycle, dict):
                handlers += [(f"lifecycle.{hook}", lifecycle.get(hook)) for hook in ("postStart", "preStop")]
            for name, handler in handlers:
                if is_unknown(handler):
                    out.append(unknown(c.where, name))
                    continue
                if not isinstance(handler, dict):
                    continue
                for action in ("httpGet", "tcpSocket"):
                    target = handler.get(action)
                    host = target if is_unknown(target) else target.get("host") if isinstance(target, dict) else None
                    if is_unknown(host):
                        out.append(unknown(c.where, f"{name}.{action}.host"))
                    elif host not in (None, ""):
                        out.append(Violation(f"{c.where}: {name}.{action}.host is {host!r}; remove host so the "
                                             "kubelet checks the pod itself"))
    return out


@policy("restricted-selinux-options", "high",
        remediation="Use seLinuxOptions.type container_t (or leave it unset) and remove seLinuxOptions.user and .role.",
        pss_controls=("seLinuxOptions",))
def restricted_selinux_options(subject: Subject, config: dict) -> list[Violation]:
    """SELinux options use only container types and no custom user or role (PSS baseline)."""
    out: list[Violation] = []
    for pod, pod_sc, containers in _pod_and_containers(subject, out):
        for where, context in _every_context(pod, pod_sc, containers):
            options = context.get("seLinuxOptions")
            if is_unknown(options):
                out.append(unknown(where, "seLinuxOptions"))
                continue
            if not isinstance(options, dict):
                continue
            selinux_type = options.get("type")
            if is_unknown(selinux_type):
                out.append(unknown(where, "seLinuxOptions.type"))
            elif selinux_type is not None and selinux_type not in SELINUX_TYPES:
                out.append(Violation(f"{where}.seLinuxOptions.type is {selinux_type!r}; use one of "
                                     f"{', '.join(sorted(t for t in SELINUX_TYPES if t))} or leave it unset"))
            for key in ("user", "role"):
                value = options.get(key)
                if is_unknown(value):
                    out.append(unknown(where, f"seLinuxOptions.{key}"))
                elif value not in (None, ""):
                    out.append(Violation(f"{where}.seLinuxOptions.{key} is {value!r}; remove it"))
    return out


@policy("restricted-apparmor-profile", "high",
        remediation="Set appArmorProfile.type: RuntimeDefault; never Unconfined.",
        pss_controls=("appArmorProfile",))
def restricted_apparmor_profile(subject: Subject, config: dict) -> list[Violation]:
    """AppArmor profiles are RuntimeDefault or Localhost (PSS baseline).

    PSS AppArmor: RuntimeDefault or Localhost profiles only, in fields and in the legacy annotations."""
    out: list[Violation] = []
    for pod, pod_sc, containers in _pod_and_containers(subject, out):
        for where, context in _every_context(pod, pod_sc, containers):
            profile = context.get("appArmorProfile")
            value = profile.get("type") if isinstance(profile, dict) else None
            if is_unknown(profile) or is_unknown(value):
                out.append(unknown(where, "appArmorProfile"))
            elif value is not None and value not in APPARMOR_TYPES_OK:
                out.append(Violation(f"{where}.appArmorProfile.type is {value!r}; set it to RuntimeDefault"))
        annotations = get(pod.metadata, "annotations")
        if is_unknown(annotations):
            out.append(unknown(pod.where, "the pod annotations"))
            continue
        for key, value in (annotations.items() if isinstance(annotations, dict) else []):
            if not key.startswith(APPARMOR_ANNOTATION):
                continue
            if is_unknown(value):
                out.append(unknown(pod.where, f"annotation {key}"))
            elif value not in ("", "runtime/default") and not str(value).startswith("localhost/"):
                out.append(Violation(f"pod annotation {key} is {value!r}; set it to runtime/default or use "
                                     "securityContext.appArmorProfile.type: RuntimeDefault"))
    return out


@policy("no-windows-host-process", "critical",
        remediation="Remove windowsOptions.hostProcess.",
        pss_controls=("windowsHostProcess",))
def no_windows_host_process(subject: Subject, config: dict) -> list[Violation]:
    """No Windows HostProcess pods or containers (PSS baseline)."""
    out: list[Violation] = []
    for pod, pod_sc, containers in _pod_and_containers(subject, out):
        for where, context in _every_context(pod, pod_sc, containers):
            options = context.get("windowsOptions")
            value = options.get("hostProcess") if isinstance(options, dict) else None
            if is_unknown(options) or is_unknown(value):
                out.append(unknown(where, "windowsOptions.hostProcess"))
            elif value is True:
                out.append(Violation(f"{where}.windowsOptions.hostProcess is true; remove it"))
    return out


@policy("containers-read-only-root-filesystem", "high",
        remediation="Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the container "
                    "writes.")
def containers_read_only_root_filesystem(subject: Subject, config: dict) -> list[Violation]:
    """Every container runs with a read-only root filesystem.

    Every container's root filesystem is read-only; writable paths are volumes (N/A for Windows pods)."""
    return _required_flag(subject, "readOnlyRootFilesystem", True, "is not set",
                          " and mount an emptyDir where the container writes (e.g. /tmp)")


__all__ = ["Container"]
