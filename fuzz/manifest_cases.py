"""Fuzzed pod-bearing objects for the policy pack, and the independent judge of them.

A case is a hardened workload of any pod-bearing kind, mutated as manifests go wrong: the Pod Security controls
broken (privilege, capabilities, users, seccomp, host namespaces, ports and paths, volumes, sysctls, AppArmor,
SELinux, procMount), and noise the pack must survive (unknown and null fields, wrong types, deep nesting, values
unknown during preview, values wrapped as secrets). The judge is the real kube-apiserver: a server-side dry run in
a namespace that warns on the "restricted" level returns the Pod Security Admission's verdict, which the pack's
mandatory rules must match.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from fuzz.config_cases import parent_of, tree_paths
from offline.recorder import Registration

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's "unknown during preview" sentinel
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}  # a secret-wrapped value
KINDS = {  # kind -> (apiVersion, where its pod template sits)
    "Pod": ("v1", ()),
    "Deployment": ("apps/v1", ("spec", "template")),
    "StatefulSet": ("apps/v1", ("spec", "template")),
    "DaemonSet": ("apps/v1", ("spec", "template")),
    "ReplicaSet": ("apps/v1", ("spec", "template")),
    "ReplicationController": ("v1", ("spec", "template")),
    "Job": ("batch/v1", ("spec", "template")),
    "CronJob": ("batch/v1", ("spec", "jobTemplate", "spec", "template")),
}
# The Pod Security Admission's words for each control it names in a warning -> the controls (fixture names) it
# may be, any of whose rules must flag the object.
PSA_CONTROLS = {
    "allowPrivilegeEscalation != false": ("allowprivilegeescalation",),
    "unrestricted capabilities": ("capabilities_restricted",),
    "non-default capabilities": ("capabilities_baseline",),
    "host namespaces": ("hostnamespaces",),
    "hostPath volumes": ("hostpathvolumes", "restrictedvolumes"),
    "hostPort": ("hostports",),
    "privileged": ("privileged",),
    "procMount": ("procmount", "procmount_restricted"),
    "restricted volume types": ("restrictedvolumes", "hostpathvolumes"),
    "runAsNonRoot != true": ("runasnonroot",),
    "runAsUser=0": ("runasuser",),
    "seccompProfile": ("seccompprofile_restricted", "seccompprofile_baseline"),
    "seLinuxOptions": ("selinuxoptions",),
    "forbidden sysctls": ("sysctls",),
    "forbidden AppArmor profile": ("apparmorprofile",),
    "forbidden AppArmor profiles": ("apparmorprofile",),
    "hostProcess": ("windowshostprocess",),
}


def hardened(kind: str, name: str) -> dict:
    """A workload of `kind` that meets the restricted level."""
    labels = {"app.kubernetes.io/name": name}
    security = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "privileged": False,
                "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    container = {"name": "app", "image": "ghcr.io/acme/app:1.0.0", "imagePullPolicy": "IfNotPresent",
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                               "limits": {"cpu": "500m", "memory": "256Mi"}},
                 "securityContext": security, "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}
    pod = {"automountServiceAccountToken": False,
           "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                               "seccompProfile": {"type": "RuntimeDefault"}},
           "containers": [container], "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]}
    if kind in ("Job", "CronJob"):
        pod["restartPolicy"] = "Never"
    api_version, at = KINDS[kind]
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "labels": labels}}
    if not at:
        obj["spec"] = pod
        return obj
    template = {"metadata": {"labels": labels}, "spec": pod}
    if kind == "CronJob":
        obj["spec"] = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        obj["spec"] = {"template": template}
    else:
        obj["spec"] = {"selector": {"matchLabels": labels}, "template": template}
        if kind == "ReplicationController":
            obj["spec"]["selector"] = labels
    return obj


def pod_spec(obj: dict) -> dict:
    node = obj
    for key in KINDS[obj["kind"]][1]:
        node = node[key]
    return node["spec"]


# Each breaks one Pod Security control (the judge decides whether it did: some are allowed in combination).
def _escalate(pod, c): c["securityContext"]["allowPrivilegeEscalation"] = True
def _no_escalation_setting(pod, c): c["securityContext"].pop("allowPrivilegeEscalation")
def _privileged(pod, c): c["securityContext"]["privileged"] = True
def _add_net_raw(pod, c): c["securityContext"]["capabilities"]["add"] = ["NET_RAW"]
def _add_sys_admin(pod, c): c["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]
def _keep_capabilities(pod, c): c["securityContext"]["capabilities"].pop("drop")
def _root_allowed(pod, c): c["securityContext"]["runAsNonRoot"] = False
def _root_user(pod, c): c["securityContext"]["runAsUser"] = 0
def _pod_root_user(pod, c): pod["securityContext"]["runAsUser"] = 0
def _unconfined(pod, c): c["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
def _host_network(pod, c): pod["hostNetwork"] = True
def _host_pid(pod, c): pod["hostPID"] = True
def _host_port(pod, c): c["ports"] = [{"containerPort": 80, "hostPort": 80}]
def _host_path(pod, c): pod["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}})
def _proc_mount(pod, c): c["securityContext"]["procMount"] = "Unmasked"
def _sysctl(pod, c): pod["securityContext"]["sysctls"] = [{"name": "kernel.msgmax", "value": "1"}]
def _apparmor(pod, c): c["securityContext"]["appArmorProfile"] = {"type": "Unconfined"}
def _selinux(pod, c): c["securityContext"]["seLinuxOptions"] = {"type": "spc_t"}
def _nfs(pod, c): pod["volumes"].append({"name": "nfs", "nfs": {"server": "nfs", "path": "/"}})


def _no_security_context(pod, c):
    c.pop("securityContext")
    pod["securityContext"].pop("runAsNonRoot")


def _bad_init_container(pod, c):
    bad = copy.deepcopy(c)
    bad["name"] = "init"
    bad["securityContext"]["allowPrivilegeEscalation"] = True
    pod["initContainers"] = [bad]


def _bad_ephemeral_container(pod, c):
    bad = {k: v for k, v in copy.deepcopy(c).items() if k != "resources"}
    bad["name"] = "debug"
    bad["securityContext"]["privileged"] = True
    pod["ephemeralContainers"] = [bad]


BREAKS = [_escalate, _no_escalation_setting, _privileged, _add_net_raw, _add_sys_admin, _keep_capabilities,
          _root_allowed, _root_user, _pod_root_user, _unconfined, _host_network, _host_pid, _host_port, _host_path,
          _proc_mount, _sysctl, _apparmor, _selinux, _nfs, _no_security_context, _bad_init_container,
          _bad_ephemeral_container]
# Finite numbers only: a manifest is JSON, which has no NaN or Infinity (the SDK's request decoding, before any rule
# runs, cannot hold them either: json_format refuses them).
ODD_VALUES = st.one_of(st.none(), st.integers(-2**63, 2**63), st.text(max_size=20), st.booleans(),
                       st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(), max_size=3),
                       st.just({}), st.just([]))
MAX_DEPTH = 150  # levels of nesting; Python's protobuf (this client) encodes about 190 at most


@dataclass
class ManifestCase:
    """One object: what the judge sees (plain), what the pack gets (with unknowns and secrets), and how made."""

    plain: dict
    wire: dict
    mutations: list[str] = field(default_factory=list)
    unknowns: int = 0

    def registration(self, index: int) -> Registration:
        wire_kind = self.wire.get("kind")
        kind, name = wire_kind if isinstance(wire_kind, str) else "Pod", f"fuzz-{index}"
        api = KINDS.get(kind, ("v1", ()))[0]
        token = f"kubernetes:{api if '/' in api else 'core/' + api}:{kind}"
        return Registration(urn=f"urn:pulumi:fuzz::archon::{token}::{name}", type=token, name=name, parent=None,
                            custom=True, inputs=self.wire, dependencies=[], options={"protect": False})


def _set(obj: dict, path: tuple, value: Any) -> None:
    parent_of(obj, path)[path[-1]] = value


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"nested": [value]}
    return value


@st.composite
def manifest_cases(draw) -> ManifestCase:
    """A generated pod-bearing object (see the module docstring)."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    obj = hardened(kind, f"fuzz-{kind.lower()}")
    mutations = []
    for breaker in draw(st.lists(st.sampled_from(BREAKS), max_size=3, unique=True)):
        pod = pod_spec(obj)
        if "securityContext" not in pod["containers"][0]:
            continue
        breaker(pod, pod["containers"][0])
        mutations.append(breaker.__name__.lstrip("_"))
    if draw(st.booleans()):
        pod = pod_spec(obj)
        pod["containers"].append({**copy.deepcopy(pod["containers"][0]), "name": "sidecar"})
        mutations.append("sidecar")
    wire = copy.deepcopy(obj)
    unknowns = 0
    for _ in range(draw(st.integers(0, 3))):  # noise the judge is not shown (the API server would refuse it)
        path = draw(st.sampled_from(tree_paths(wire)))
        action = draw(st.sampled_from(NOISE))
        value = draw(st.text(min_size=1, max_size=12)) if action == "extra" else (
            _deep(draw(st.integers(10, MAX_DEPTH))) if action == "deep" else draw(ODD_VALUES))
        changed = add_noise(wire, path, action, value, draw(ODD_VALUES))
        if changed is not None:
            unknowns += changed
            mutations.append(f"{action}:{'.'.join(map(str, path))}")
    return ManifestCase(plain=obj, wire=wire, mutations=mutations, unknowns=unknowns)


NOISE = ("unknown", "secret", "odd", "null", "delete", "extra", "deep")


def add_noise(wire: dict, path: tuple, action: str, value: Any = None, extra_value: Any = None) -> int | None:
    """Apply one noise action at `path` in place: how many values the judge's copy no longer matches (None: not a
    place for noise, left alone). `value` is the odd value, the extra key or the deep value the action writes."""
    if path[0] == "apiVersion" or any(key in SECRET_SIG for key in path):
        return None  # (a secret's own signature key, mangled, is no value the engine would ever send)
    parent = parent_of(wire, path)
    if not isinstance(parent, (dict, list)) or is_secret(parent):
        return None  # a secret's envelope is whole on the wire: a signature without its value is no message
    if action == "unknown":
        _set(wire, path, UNKNOWN_STRING)
    elif action == "secret":
        _set(wire, path, {**SECRET_SIG, "value": parent[path[-1]]})
        return 0 if isinstance(parent[path[-1]]["value"], (str, int, float, bool)) else 1  # a wrapped structure
    elif action in ("odd", "deep"):
        _set(wire, path, value)
    elif action == "null":
        _set(wire, path, None)
    elif action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "extra" and isinstance(parent, dict):
        parent[value] = extra_value
    else:
        return None
    return 1


def is_secret(node: Any) -> bool:
    """A secret's envelope: the signature key beside the value."""
    return isinstance(node, dict) and any(key in node for key in SECRET_SIG)


def plain_value(value: Any) -> Any:
    """The wire object with secret wrappers taken off (what the judge is shown)."""
    if isinstance(value, dict):
        if value.get("4dabf18193072939515e22adb298388d") == SECRET_SIG["4dabf18193072939515e22adb298388d"]:
            return plain_value(value.get("value"))
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_value(v) for v in value]
    return value


def controls_in(warning: str) -> list[tuple[str, ...]]:
    """The Pod Security controls a `would violate PodSecurity "restricted:..."` warning names (each as the
    controls it may be); a name the table does not know is returned as itself, so that it is never dropped."""
    _, _, listed = warning.partition("\": ")
    found = []
    for match in re.finditer(r"(?:^|\), )([^()]+?) \(", listed):
        found.append(PSA_CONTROLS.get(match.group(1), (match.group(1),)))
    return found
