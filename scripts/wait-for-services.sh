#!/usr/bin/env bash
# Wait until every Deployment and StatefulSet of a stack's namespace has finished rolling out.
#
#   scripts/wait-for-services.sh STACK [TIMEOUT]      TIMEOUT per workload, e.g. 300s (default 300s)
#
# The namespace is the stack's `namespace` output (`pulumi stack output namespace -s STACK`), or WAIT_NAMESPACE.
# Exit: 0 all rolled out, 1 one did not in time (its status is printed), 2 bad usage.
set -euo pipefail

[[ $# -ge 1 && $# -le 2 && -n "$1" ]] || { echo "usage: $0 STACK [TIMEOUT]" >&2; exit 2; }
stack=$1
timeout=${2:-300s}
[[ $timeout =~ ^[0-9]+[smh]$ ]] || { echo "error: TIMEOUT $timeout must look like 300s, 5m or 1h" >&2; exit 2; }
namespace=${WAIT_NAMESPACE:-$(pulumi stack output namespace -s "$stack")} || {
  echo "error: cannot read the namespace output of stack $stack" >&2; exit 2; }

workloads=$(kubectl -n "$namespace" get deployments,statefulsets -o name)
if [[ -z $workloads ]]; then
  echo "error: no Deployment or StatefulSet in namespace $namespace" >&2
  exit 1
fi
failed=0
while read -r workload; do
  if ! kubectl -n "$namespace" rollout status "$workload" --timeout="$timeout"; then
    echo "FAIL  $workload did not roll out within $timeout" >&2
    kubectl -n "$namespace" get "$workload" -o wide >&2 || true
    failed=1
  fi
done <<< "$workloads"
exit "$failed"
