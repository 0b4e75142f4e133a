#!/usr/bin/env bash
# A local Kubernetes control plane on loopback, for the real-engine scenarios (make cluster-up / cluster-down).
#
#   scripts/cluster.sh up [--no-real-node]   start it (if it is not running) and write build/e2e/kubeconfig
#   scripts/cluster.sh down     stop exactly the processes it started and remove its state
#   scripts/cluster.sh status   say whether it runs, and what
#
# Real: etcd, kube-apiserver (RBAC, the default admission plugins with Pod Security), kube-controller-manager
# and kube-scheduler, built by scripts/e2e-tools.sh and started by kwokctl's binary runtime, which writes the
# PKI and a PID file per process. Simulated by kwok: three nodes in two zones whose pods go Running and Ready
# (Job pods Succeed) without running a container, and volumes for claims (kwok's volume stages, default
# StorageClass kwok-volume). Stand-ins of the harness (e2e/stages/, each says what it does): load-balancer
# addresses for LoadBalancer Services, the ingress controller's address on Ingresses, and cert-manager marking
# Certificates Ready with a self-signed key pair. The CRDs of cert-manager and the Prometheus Operator come from
# ../shared/crds (Traefik's come with its chart). And a real node (e2e/node.py: kubelet, kube-proxy, containerd, runc,
# the CNI bridge, kube-router, CoreDNS) in a network namespace whose link carries the control plane's address
# (10.250.250.1, forwarded to the API server on loopback); it is tainted, so only the pods the harness places there
# run on it (e2e/placement.py).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ARCHON_E2E_CACHE:-$HOME/.cache/archon-e2e}
tools="$cache/tools"
build="$root/build/e2e"
name=archon-e2e
kubeconfig="$build/kubeconfig"
crds="$root/../shared/crds"
export KWOK_WORKDIR="$build/kwok"

python=$root/.venv/bin/python
host_ip=10.250.250.1  # e2e/node.py HOST_IP

fail() { echo "cluster: $*" >&2; exit 1; }

running() { [ -f "$kubeconfig" ] && "$tools/kubectl" --kubeconfig "$kubeconfig" get --raw /readyz > /dev/null 2>&1; }

kctl() { "$tools/kubectl" --kubeconfig "$kubeconfig" "$@"; }

nodes() {  # three kwok nodes: two in zone-a, one in zone-b
  local i zone
  for i in 0 1 2; do
    if [ "$i" -eq 2 ]; then zone="zone-b"; else zone="zone-a"; fi
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node.kubernetes.io/instance-type: kwok-8cpu-32gi
    topology.kubernetes.io/region: local
    topology.kubernetes.io/zone: $zone
    type: kwok
status:
  allocatable: {cpu: "8", memory: 32Gi, pods: "110", ephemeral-storage: 100Gi}
  capacity: {cpu: "8", memory: 32Gi, pods: "110", ephemeral-storage: 100Gi}
EOF
  done
}

stages() {  # kwok's simulation stages, then the harness's stand-ins with the self-signed pair filled in
  local file crt key
  crt=$(base64 -w0 "$build/tls/tls.crt")
  key=$(base64 -w0 "$build/tls/tls.key")
  for file in "$tools"/kwok-stages/*.yaml "$root"/e2e/stages/*.yaml; do
    [ "$(basename "$file")" = storage-class.yaml ] && continue
    echo "---"
    sed -e "s|HARNESS_TLS_CRT|$crt|" -e "s|HARNESS_TLS_KEY|$key|" "$file"
  done
}

up() {
  local real_node=yes
  if [ "${1:-}" = --no-real-node ]; then real_node=no; fi
  if running; then
    echo "cluster: already running (kubeconfig $kubeconfig)"
    if [ "$real_node" = yes ]; then (cd "$root" && "$python" -m e2e.node up --server "$(server)") || fail "the real node did not start"; fi
    return 0
  fi
  for tool in kwokctl kwok etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ -x "$tools/$tool" ] || fail "$tools/$tool is missing; build the toolchain first: make e2e-tools"
  done
  [ -d "$crds" ] || fail "$crds is missing (../shared must sit beside the project)"
  command -v openssl > /dev/null || fail "openssl is needed for the stand-in certificate"
  [ -x "$python" ] || fail "$python is missing: make venv"
  down quiet
  (cd "$root" && "$python" -m e2e.node network) || fail "could not make the real node's network namespace"
  mkdir -p "$build/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=archon-e2e stand-in" \
    -keyout "$build/tls/tls.key" -out "$build/tls/tls.crt" 2> /dev/null
  cat > "$build/kwokctl.yaml" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  bindAddress: 127.0.0.1
  kubeApiserverPort: 6443  # the API server's usual port, which the stack's egress policies name
  runtime: binary
  kubeAuthorization: true
  kubeAdmission: true
  kubeApiserverCertSANs: [10.96.0.1]  # the kubernetes Service, which pods on the real node reach
componentsPatches:
- name: kube-apiserver
  extraArgs:
  - {key: service-cluster-ip-range, value: 10.96.0.0/16}
  - {key: advertise-address, value: $host_ip}
  - {key: kubelet-client-certificate, value: $KWOK_WORKDIR/clusters/$name/pki/admin.crt}
  - {key: kubelet-client-key, value: $KWOK_WORKDIR/clusters/$name/pki/admin.key}
  - {key: kubelet-preferred-address-types, value: InternalIP}
- name: kwok-controller
  extraArgs:
  - {key: manage-all-nodes, value: "false"}
  - {key: manage-nodes-with-annotation-selector, value: kwok.x-k8s.io/node=fake}
EOF
  # Stages are loaded as Stage objects after the CRDs they act on exist (kwok refuses a stage for an unknown kind).
  "$tools/kwokctl" create cluster --name "$name" --enable-crds Stage --config "$build/kwokctl.yaml" \
    --kube-apiserver-binary "$tools/kube-apiserver" --kube-controller-manager-binary "$tools/kube-controller-manager" \
    --kube-scheduler-binary "$tools/kube-scheduler" --etcd-binary "$tools/etcd" \
    --kwok-controller-binary "$tools/kwok" --kubeconfig "$kubeconfig" --wait 2m > "$build/kwokctl.log" 2>&1 \
    || { tail -20 "$build/kwokctl.log" >&2; fail "kwokctl could not start the control plane (log: $build/kwokctl.log)"; }
  kctl apply --server-side -f "$crds/cert-manager-v1.21.1" -f "$crds/prometheus-operator-v0.93.0" > /dev/null
  kctl wait --for condition=Established crd --all --timeout 60s > /dev/null
  stages | kctl apply -f - > /dev/null
  nodes | kctl apply -f - > /dev/null
  kctl apply -f "$tools/kwok-stages/storage-class.yaml" > /dev/null
  kctl wait --for condition=Ready node -l type=kwok --timeout 60s > /dev/null
  echo "cluster: up ($("$tools/kube-apiserver" --version), 3 kwok nodes in zone-a and zone-b)"
  echo "cluster: kubeconfig $kubeconfig"
  if [ "$real_node" = yes ]; then
    (cd "$root" && "$python" -m e2e.node up --server "$(server)") || fail "the real node did not start (logs: $build/node/logs)"
  fi
}

server() { sed -n 's/^ *server: *//p' "$kubeconfig" | head -1; }

down() {
  local clean=yes
  if [ -x "$python" ]; then
    (cd "$root" && "$python" -m e2e.node down > /dev/null) || { clean=no; echo "cluster: the real node did not stop cleanly" >&2; }
  fi
  if [ -d "$KWOK_WORKDIR/clusters/$name" ]; then
    "$tools/kwokctl" delete cluster --name "$name" > /dev/null 2>&1 || true
  fi
  # kwokctl stops what it started by the PIDs it recorded; anything left of ours is stopped by the same PIDs.
  local pidfile pid
  for pidfile in "$KWOK_WORKDIR/clusters/$name"/pids/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2> /dev/null || true
  done
  rm -rf "$KWOK_WORKDIR" "$kubeconfig" "$build/tls" "$build/kwokctl.yaml" "$build/kwokctl.log" \
    "$build/state" "$build/project"
  [ "$clean" = yes ] || return 1
  [ "${1:-}" = quiet ] || echo "cluster: down (processes stopped, state removed)"
}

status() {
  if running; then
    echo "cluster: running, kubeconfig $kubeconfig"
    kctl get nodes -L topology.kubernetes.io/zone
  else
    echo "cluster: not running"
    return 1
  fi
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  status) status ;;
  *) echo "usage: scripts/cluster.sh up|down|status" >&2; exit 2 ;;
esac
