"""A real node beside the simulated ones: kubelet, kube-proxy, containerd with runc, the CNI bridge, kube-router for
NetworkPolicy and CoreDNS for Service names, in a network namespace the harness owns.

    python -m e2e.node network  make the namespace and the link the control plane then listens on
    python -m e2e.node up       start the node on the running control plane (scripts/cluster.sh up does both)
    python -m e2e.node down     stop exactly what `up` started and remove its state, mounts, cgroups and namespace
    python -m e2e.node status   say whether it runs

Layout: the control plane listens on HOST_IP, the host's end of a veth pair whose other end, NODE_IP, is the node's
address inside the namespace NETNS. Every node process runs in that namespace (nsenter; the host's mount namespace,
so kubelet's mounts are containerd's too), pods on a bridge there (POD_CIDR). Traffic stays in the namespace and on
that link: the host does not forward what comes from it. The node is tainted (TAINT): only pods the harness places
there (e2e.placement) run on it; the simulated nodes keep the rest. Everything lives under build/e2e/node and
/run/archon-e2e, and in the cgroup CGROUP_ROOT of each v1 controller.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from e2e import paths

NETNS = "archon-e2e-node"
HOST_IF, NODE_IF = "ae2e-host", "eth0"
HOST_IP, NODE_IP, LINK_PREFIX = "10.250.250.1", "10.250.250.2", 30
POD_CIDR = "10.244.250.0/24"
SERVICE_CIDR = "10.96.0.0/16"
DNS_IP = "10.96.0.10"
NODE_NAME = "archon-e2e-node"
LABEL = ("archon.io/e2e-node", "real")
TAINT = {"key": LABEL[0], "value": LABEL[1], "effect": "NoSchedule"}
CGROUP_ROOT = "archon-e2e"
RUN = Path("/run/archon-e2e")
SOCKET = RUN / "containerd.sock"
NODE_DIR = paths.BUILD / "node"
PROCESSES = ("api-proxy", "containerd", "kubelet", "kube-proxy", "kube-router")  # started in order, stopped in reverse
APT_TOOLS = {"runc": "/usr/bin/runc", "bridge (CNI)": "/usr/lib/cni/bridge",
             "host-local (CNI)": "/usr/lib/cni/host-local", "iptables": "/usr/sbin/iptables",
             "ipset": "/usr/sbin/ipset", "nsenter": "/usr/bin/nsenter", "ip": "/usr/sbin/ip",
             "conntrack": "/usr/sbin/conntrack", "socat": "/usr/bin/socat"}
NODE_TOOLS = ("kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "kube-router", "coredns",
              "pause")


class NodeError(RuntimeError):
    """The node could not start (or stop), with what failed."""


def tools() -> Path:
    return paths.cache_dir() / "tools"


def pki() -> Path:
    """The control plane's certificates (kwokctl's)."""
    return paths.BUILD / "kwok" / "clusters" / "archon-e2e" / "pki"


def run(*args: str, check: bool = True, netns: bool = False) -> subprocess.CompletedProcess:
    """A command, in the node's namespace if asked; raises NodeError with its output when it fails."""
    command = ["nsenter", f"--net=/run/netns/{NETNS}", *args] if netns else list(args)
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise NodeError(f"{' '.join(command)}: {(done.stderr or done.stdout).strip()[-800:]}")
    return done


def missing_prerequisites() -> list[str]:
    """What the node needs and this machine lacks (root, the built tools, the apt packages, cgroup v1)."""
    found = []
    if os.geteuid() != 0:
        found.append("root (the node creates a network namespace, cgroups and mounts)")
    found += [f"{tools() / name} (make e2e-tools)" for name in NODE_TOOLS if not (tools() / name).exists()]
    found += [f"{what}: {path} (.ci/run installs it from apt)" for what, path in APT_TOOLS.items()
              if not Path(path).exists()]
    if not Path("/sys/fs/cgroup/memory").is_dir():
        found.append("the cgroup v1 memory controller at /sys/fs/cgroup/memory (kubelet runs with failCgroupV1: false)")
    return found


# --- configuration, as files --------------------------------------------------------------------------------------

def kubeconfig_text(server: str) -> str:
    """A kubeconfig for the node's processes: the control plane's admin certificate, at `server`."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "node",
        "clusters": [{"name": "archon-e2e", "cluster": {"server": server,
                                                      "certificate-authority": str(pki() / "ca.crt")}}],
        "users": [{"name": "admin", "user": {"client-certificate": str(pki() / "admin.crt"),
                                             "client-key": str(pki() / "admin.key")}}],
        "contexts": [{"name": "node", "context": {"cluster": "archon-e2e", "user": "admin"}}]})


def containerd_config() -> str:
    """containerd 2's config: runc from apt without systemd cgroups, no negative oom_score_adj (no CAP_SYS_RESOURCE
    here), the CNI bridge, and the pause image the harness imports as the sandbox."""
    return f"""version = 3
root = "{NODE_DIR / 'containerd' / 'root'}"
state = "{RUN / 'containerd'}"

[grpc]
  address = "{SOCKET}"

[ttrpc]
  address = "{SOCKET}.ttrpc"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "localhost/archon-e2e/pause:v1.36.1"

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{APT_TOOLS['runc']}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "{NODE_DIR / 'cni' / 'net.d'}"
"""


def cni_config() -> dict:
    """The pod network: one bridge in the node's namespace, addresses from POD_CIDR, pods reach the host masqueraded."""
    return {"cniVersion": "1.0.0", "name": "archon-e2e", "plugins": [
        {"type": "bridge", "bridge": "cni0", "isGateway": True, "isDefaultGateway": True, "ipMasq": True,
         "hairpinMode": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]],
                  "dataDir": str(NODE_DIR / "cni" / "ipam")}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]}


def kubelet_config() -> dict:
    """kubelet's settings for this machine: cgroup v1 through cgroupfs under its own root, no swap check, eviction
    thresholds for a shared disk, the cluster DNS, authentication by the control plane's CA, the node's taint."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": NODE_IP, "port": 10250, "readOnlyPort": 0, "healthzBindAddress": NODE_IP, "healthzPort": 10248,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                           "x509": {"clientCAFile": str(pki() / "ca.crt")}},
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs", "cgroupRoot": f"/{CGROUP_ROOT}", "failCgroupV1": False, "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{SOCKET}",
        "clusterDNS": [DNS_IP], "clusterDomain": "cluster.local", "resolvConf": "",
        "evictionHard": {"memory.available": "200Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%",
                         "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False, "maxPods": 60, "registerWithTaints": [TAINT],
        "nodeStatusUpdateFrequency": "10s", "syncFrequency": "10s", "fileCheckFrequency": "10s",
        "shutdownGracePeriod": "0s", "enableControllerAttachDetach": True,
    }


def kube_proxy_config() -> dict:
    """kube-proxy in iptables mode (no IPVS here), leaving the kernel's conntrack settings alone."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(NODE_DIR / "kubeconfig")},
        "hostnameOverride": NODE_NAME, "mode": "iptables", "clusterCIDR": POD_CIDR,
        "bindAddress": NODE_IP, "healthzBindAddress": f"{NODE_IP}:10256", "metricsBindAddress": f"{NODE_IP}:10249",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


IN_HOST = ("api-proxy",)  # runs on the host's side of the link; the others in the node's namespace


def commands(api_port: int = 0) -> dict[str, list[str]]:
    """Each node process's command line."""
    config = NODE_DIR / "config"
    return {
        # The API server listens on loopback (kwokctl); the node reaches it at HOST_IP, its advertised address.
        "api-proxy": [APT_TOOLS["socat"], f"TCP-LISTEN:{api_port},bind={HOST_IP},fork,reuseaddr",
                      f"TCP:127.0.0.1:{api_port}"],
        "containerd": [str(tools() / "containerd"), "--config", str(config / "containerd.toml")],
        "kubelet": [str(tools() / "kubelet"), f"--config={config / 'kubelet.yaml'}",
                    f"--kubeconfig={NODE_DIR / 'kubeconfig'}", f"--hostname-override={NODE_NAME}",
                    f"--node-ip={NODE_IP}", f"--node-labels={LABEL[0]}={LABEL[1]}",
                    f"--root-dir={NODE_DIR / 'kubelet'}", "--v=1"],
        "kube-proxy": [str(tools() / "kube-proxy"), f"--config={config / 'kube-proxy.yaml'}", "--v=1"],
        "kube-router": [str(tools() / "kube-router"), f"--kubeconfig={NODE_DIR / 'kubeconfig'}",
                        f"--hostname-override={NODE_NAME}", "--run-firewall=true", "--run-router=false",
                        "--run-service-proxy=false", "--enable-ibgp=false", "--enable-overlay=false",
                        "--enable-pod-egress=false",
                        f"--service-cluster-ip-range={SERVICE_CIDR}", "--health-port=20244", "--metrics-port=0",
                        "--v=1"],
    }


def write_configs(server: str) -> None:
    """Every config file the node's processes read, under build/e2e/node/config."""
    config = NODE_DIR / "config"
    for folder in (config, NODE_DIR / "cni" / "net.d", NODE_DIR / "cni" / "ipam", NODE_DIR / "logs",
                   NODE_DIR / "pids", NODE_DIR / "kubelet", RUN):
        folder.mkdir(parents=True, exist_ok=True)
    (NODE_DIR / "kubeconfig").write_text(kubeconfig_text(server))
    (config / "containerd.toml").write_text(containerd_config())
    (NODE_DIR / "cni" / "net.d" / "10-archon-e2e.conflist").write_text(json.dumps(cni_config(), indent=2))
    (config / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config()))
    (config / "kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config()))


# --- network ------------------------------------------------------------------------------------------------------

def network_up() -> None:
    """The namespace, the veth link with HOST_IP on the host's end, and the node's routes and sysctls."""
    if not Path(f"/run/netns/{NETNS}").exists():
        run("ip", "netns", "add", NETNS)
    if run("ip", "link", "show", HOST_IF, check=False).returncode != 0:
        run("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NODE_IF, "netns", NETNS)
    run("ip", "addr", "replace", f"{HOST_IP}/{LINK_PREFIX}", "dev", HOST_IF)
    run("ip", "link", "set", HOST_IF, "up")
    # What arrives from the node is for the host alone: never forwarded beyond it.
    run("sysctl", "-q", "-w", f"net.ipv4.conf.{HOST_IF}.forwarding=0")
    for command in (["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "replace", f"{NODE_IP}/{LINK_PREFIX}", "dev", NODE_IF],
                    ["ip", "link", "set", NODE_IF, "up"],
                    ["ip", "route", "replace", "default", "via", HOST_IP],
                    ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
                    ["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"],
                    ["sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1"]):
        run(*command, netns=True)


def network_down() -> None:
    """Remove the link and the namespace (with its iptables rules, ipsets and bridge)."""
    run("ip", "link", "delete", HOST_IF, check=False)
    if Path(f"/run/netns/{NETNS}").exists():
        run("ip", "netns", "delete", NETNS, check=False)


# --- processes ----------------------------------------------------------------------------------------------------

def pid_file(name: str) -> Path:
    return NODE_DIR / "pids" / f"{name}.pid"


def start(name: str, api_port: int = 0) -> int:
    """Start one node process (in the node's namespace unless IN_HOST), in its own session, logging to
    build/e2e/node/logs."""
    log = (NODE_DIR / "logs" / f"{name}.log").open("a")
    env = {**os.environ, "PATH": f"{tools()}:/usr/sbin:/usr/bin:/sbin:/bin"}
    command = commands(api_port)[name]
    if name not in IN_HOST:
        command = ["nsenter", f"--net=/run/netns/{NETNS}", *command]
    process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                               env=env)
    pid_file(name).write_text(str(process.pid))
    return process.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def recorded(name: str) -> int | None:
    try:
        pid = int(pid_file(name).read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def stop(name: str, timeout: float = 20) -> None:
    """Stop one node process by its recorded PID: SIGTERM, then SIGKILL."""
    pid = recorded(name)
    if pid is None:
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)


def wait_for(what: str, check, timeout: float, every: float = 1.0, log: str | None = None) -> None:
    """Poll `check()` until it is true; NodeError naming `what` (and the tail of a log) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    tail = ""
    if log:
        lines = (NODE_DIR / "logs" / f"{log}.log").read_text(errors="replace").splitlines()[-15:]
        tail = "\n  " + "\n  ".join(lines)
    raise NodeError(f"{what} not within {timeout:.0f}s{tail}")


def cgroup_dirs() -> list[Path]:
    """The node's cgroup in every v1 controller hierarchy."""
    return [Path(d) / CGROUP_ROOT for d in sorted(Path("/sys/fs/cgroup").iterdir())
            if d.is_dir() and not d.is_symlink() and d.name != "unified" and (d / "cgroup.procs").exists()]


def processes_in_cgroups() -> set[int]:
    """Every process in the node's cgroups (the containers)."""
    found: set[int] = set()
    for root in cgroup_dirs():
        if root.is_dir():
            for procs in root.rglob("cgroup.procs"):
                found |= {int(p) for p in procs.read_text().split()}
    return found


def shims() -> set[int]:
    """containerd's shims of this node (they outlive containerd; each names the node's socket)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ours = str(SOCKET).encode() in b" ".join(cmdline)
            if cmdline and cmdline[0].endswith(b"containerd-shim-runc-v2") and ours:
                found.add(int(proc.name))
    return found


def kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def unmount_under(root: Path) -> None:
    """Unmount everything mounted below `root`, deepest first (kubelet's volumes, containerd's rootfs and shm)."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for target in sorted((m for m in mounts if m.startswith(str(root) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", target.encode().decode("unicode_escape")], capture_output=True)


def remove_cgroups() -> None:
    for root in cgroup_dirs():
        if root.is_dir():
            for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                                 reverse=True):
                folder.rmdir()
            root.rmdir()


# --- the cluster side ----------------------------------------------------------------------------------------------

def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(tools() / "kubectl"), "--kubeconfig", str(paths.KUBECONFIG), *args],
                          capture_output=True, text=True, input=stdin)
    if check and done.returncode != 0:
        raise NodeError(f"kubectl {' '.join(args)}: {done.stderr.strip()[-800:]}")
    return done


def node_ready() -> bool:
    done = kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
    if done.returncode != 0:
        return False
    conditions = json.loads(done.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def dns_manifests() -> list[dict]:
    """CoreDNS as the cluster DNS (kube-system, k8s-app: kube-dns, Service kube-dns at DNS_IP), on the real node."""
    labels = {"k8s-app": "kube-dns"}
    corefile = (".:53 {\n    errors\n    health :8080\n    ready :8181\n"
                "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n       ttl 5\n    }\n"
                "    cache 5\n    loop\n}\n")
    rule = {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]}
    slices = {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}
    container = {
        "name": "coredns", "image": "localhost/archon-e2e/coredns:v1.15.0", "imagePullPolicy": "Never",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                  {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                            "runAsNonRoot": True, "runAsUser": 65534},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": "kube-system"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "archon-e2e:coredns"}, "rules": [rule, slices]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "archon-e2e:coredns"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "archon-e2e:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
         "data": {"Corefile": corefile}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": {"serviceAccountName": "coredns", "dnsPolicy": "Default", "containers": [container],
                      "nodeSelector": {LABEL[0]: LABEL[1]},
                      "tolerations": [{**TAINT, "operator": "Equal"}],
                      "volumes": [{"name": "config", "configMap": {"name": "coredns"}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system",
                                                             "labels": labels},
         "spec": {"clusterIP": DNS_IP, "selector": labels,
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}},
    ]


STORAGE_CLASS = "archon-e2e-local"
REAL_VOLUMES, KWOK_VOLUMES = 10, 3  # on the real node; on each simulated node
KWOK_NODES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")


def volume_dir(index: int) -> Path:
    return NODE_DIR / "volumes" / f"vol-{index:02d}"


def storage_manifests() -> list[dict]:
    """A StorageClass that binds when a pod is scheduled (WaitForFirstConsumer, as on kind and k3d), with volumes on
    each node: `local` ones on the real node (kubelet gives a pod's fsGroup a local volume, not a hostPath one), and
    nominal ones on the simulated nodes, so claims follow their pods wherever placement sends them."""
    def volume(name: str, node_name: str, source: dict) -> dict:
        return {"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": name, "labels": {"archon.io/e2e-volume": "true"}},
                "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                         "persistentVolumeReclaimPolicy": "Retain", "storageClassName": STORAGE_CLASS,
                         "volumeMode": "Filesystem", **source,
                         "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                             {"key": "kubernetes.io/hostname", "operator": "In", "values": [node_name]}]}]}}}}
    found: list[dict] = [{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                          "metadata": {"name": STORAGE_CLASS}, "provisioner": "kubernetes.io/no-provisioner",
                          "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Retain"}]
    found += [volume(f"archon-e2e-real-{i:02d}", NODE_NAME, {"local": {"path": str(volume_dir(i))}})
              for i in range(REAL_VOLUMES)]
    found += [volume(f"archon-e2e-{n}-{i}", n, {"hostPath": {"path": f"/nonexistent/{n}-{i}"}})
              for n in KWOK_NODES for i in range(KWOK_VOLUMES)]
    return found


def reset_storage() -> None:
    """Empty volumes only: released ones are deleted, wiped and made again."""
    released = json.loads(kubectl("get", "pv", "-l", "archon.io/e2e-volume=true", "-o", "json").stdout)["items"]
    gone = [v["metadata"]["name"] for v in released if v.get("status", {}).get("phase") in ("Released", "Failed")]
    if gone:
        kubectl("delete", "pv", *gone, "--wait=true")
    for index in range(REAL_VOLUMES):
        if f"archon-e2e-real-{index:02d}" in gone:
            subprocess.run(["rm", "-rf", str(volume_dir(index))], check=False)
    for index in range(REAL_VOLUMES):
        volume_dir(index).mkdir(parents=True, exist_ok=True)
    apply(storage_manifests())


def apply(objects: list[dict]) -> None:
    kubectl("apply", "--server-side", "--field-manager=archon-e2e", "-f", "-",
            stdin="\n---\n".join(json.dumps(o) for o in objects))


def deployment_ready(namespace: str, name: str) -> bool:
    done = kubectl("get", "deployment", name, "-n", namespace, "-o", "json", check=False)
    if done.returncode != 0:
        return False
    status = json.loads(done.stdout).get("status", {})
    return status.get("readyReplicas", 0) >= 1


# --- up and down --------------------------------------------------------------------------------------------------

def up(server: str) -> None:
    """Start the node and its cluster DNS, given the API server's URL on loopback; NodeError naming what failed (the
    caller stops what started)."""
    missing = missing_prerequisites()
    if missing:
        raise NodeError("the real node needs: " + "; ".join(missing))
    if all(recorded(name) for name in PROCESSES) and node_ready():
        print(f"node: already running ({NODE_NAME})")
        return
    started = time.monotonic()
    api_port = int(server.rsplit(":", 1)[1].strip("/"))
    network_up()
    write_configs(f"https://{HOST_IP}:{api_port}")
    for root in cgroup_dirs():
        root.mkdir(exist_ok=True)
    (NODE_DIR / "netns-before.json").write_text(json.dumps(sorted(pod_namespaces())))
    start("api-proxy", api_port)
    start("containerd")
    wait_for("containerd's socket", SOCKET.exists, 60, 0.2, log="containerd")
    from e2e import images

    imported = images.import_images(tools() / "ctr", str(SOCKET))
    print(f"node: {len(imported)} images imported in {sum(r['seconds'] for r in imported):.0f}s")
    start("kubelet")
    wait_for(f"node {NODE_NAME} registered",
             lambda: kubectl("get", "node", NODE_NAME, check=False).returncode == 0, 120, log="kubelet")
    kubectl("patch", "node", NODE_NAME, "--type=merge", "-p",
            json.dumps({"spec": {"podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR]}}), check=False)
    start("kube-proxy")
    start("kube-router")
    wait_for(f"node {NODE_NAME} Ready", node_ready, 120, log="kubelet")
    reset_storage()
    apply(dns_manifests())
    wait_for("CoreDNS Ready", lambda: deployment_ready("kube-system", "coredns"), 180, 2, log="kubelet")
    print(f"node: {NODE_NAME} Ready at {NODE_IP} (pods {POD_CIDR}, cluster DNS {DNS_IP}) "
          f"in {time.monotonic() - started:.0f}s")


def leftovers() -> list[str]:
    """Anything of the node's still there: processes, mounts, cgroups, the namespace and link, its folders."""
    found = [f"process {name} ({pid})" for name in PROCESSES if (pid := recorded(name))]
    found += [f"containerd shim {pid}" for pid in sorted(shims())]
    found += [f"process {pid} in the node's cgroups" for pid in sorted(processes_in_cgroups())]
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    found += [f"mount {m}" for m in mounts if m.startswith((str(NODE_DIR) + "/", str(RUN) + "/"))]
    found += [f"cgroup {d}" for d in cgroup_dirs() if d.is_dir()]
    if Path(f"/run/netns/{NETNS}").exists():
        found.append(f"network namespace {NETNS}")
    if run("ip", "link", "show", HOST_IF, check=False).returncode == 0:
        found.append(f"link {HOST_IF}")
    found += [f"folder {d}" for d in (NODE_DIR, RUN) if d.exists()]
    return found


def pod_leftovers(before: set[str], ours: set[str]) -> list[str]:
    """Pod network namespaces made since `before`, and CNI results of the node's sandboxes, still there."""
    return ([f"pod network namespace {n}" for n in sorted(pod_namespaces() - before)]
            + [f"CNI result {p}" for p in cni_results(ours)])


NETNS_DIR = Path("/run/netns")
CNI_RESULTS = Path("/var/lib/cni/results")


def pod_namespaces() -> set[str]:
    """The network namespaces containerd made for pods (cni-*), of any runtime on this machine."""
    return {p.name for p in NETNS_DIR.glob("cni-*")} if NETNS_DIR.is_dir() else set()


def namespaces_before_up() -> set[str]:
    """The pod network namespaces that existed when the node came up (not ours to remove)."""
    snapshot = NODE_DIR / "netns-before.json"
    return set(json.loads(snapshot.read_text())) if snapshot.is_file() else pod_namespaces()


def sandboxes() -> set[str]:
    """The pod sandboxes this node's containerd made (by id)."""
    folder = NODE_DIR / "containerd" / "root" / "io.containerd.grpc.v1.cri" / "sandboxes"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def cni_results(ids: set[str]) -> list[Path]:
    """What the CNI plugins cached for those sandboxes (libcni keeps it in /var/lib/cni, outside the node's folder)."""
    if not CNI_RESULTS.is_dir():
        return []
    return [p for p in CNI_RESULTS.iterdir() if any(f"-{sandbox}-" in p.name for sandbox in ids)]


def drain() -> None:
    """Let kubelet stop every pod of the node as on any node (containers, then each sandbox's network and
    namespace), before the processes go: cordon it, delete its pods, wait for them to be gone."""
    if not (recorded("kubelet") and node_ready()):
        return
    kubectl("cordon", NODE_NAME, check=False)
    kubectl("delete", "pods", "--all-namespaces", f"--field-selector=spec.nodeName={NODE_NAME}", "--grace-period=2",
            "--wait=true", "--timeout=90s", check=False)


def down() -> None:
    """Stop every pod, every node process and every container, unmount, remove cgroups, the pods' network
    namespaces, the node's namespace and its state."""
    drain()
    ours = sandboxes()
    before = namespaces_before_up()
    for name in reversed(PROCESSES):
        if name != "containerd":
            stop(name)
    kill_all(processes_in_cgroups())
    stop("containerd")
    kill_all(shims())
    time.sleep(0.5)
    kill_all(processes_in_cgroups())
    unmount_under(NODE_DIR)
    unmount_under(RUN)
    for _ in range(20):
        try:
            remove_cgroups()
            break
        except OSError:
            time.sleep(0.5)
    for namespace in sorted(pod_namespaces() - before):  # what a drain could not reach (a node stopped uncleanly)
        run("ip", "netns", "delete", namespace, check=False)
    for cached in cni_results(ours):
        cached.unlink(missing_ok=True)
    network_down()
    subprocess.run(["rm", "-rf", str(NODE_DIR), str(RUN)], check=False)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m e2e.node", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["network", "up", "down", "status"])
    parser.add_argument("--server", help="the API server's URL on loopback (build/e2e/kubeconfig's)")
    args = parser.parse_args(argv)
    try:
        if args.command == "network":
            network_up()
        elif args.command == "up":
            if not args.server:
                parser.error("up needs --server")
            up(args.server)
        elif args.command == "down":
            ours = sandboxes()
            before = namespaces_before_up()
            down()
            left = leftovers() + pod_leftovers(before, ours)
            if left:
                raise NodeError("down left behind: " + "; ".join(left))
            print("node: down (processes stopped, mounts, cgroups, namespace and state removed)")
        else:
            running = {name: recorded(name) for name in PROCESSES}
            print(json.dumps({"processes": running, "ready": node_ready()}))
            return 0 if all(running.values()) else 1
    except NodeError as error:
        print(f"node: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
