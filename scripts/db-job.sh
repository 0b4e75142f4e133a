#!/usr/bin/env bash
# db-job.sh backup STACK            run the backup CronJob now and wait for it
# db-job.sh restore STACK FILE      restore FILE (e.g. postgres-archon-db-backup-29391234.dump) through a Job
#
# Uses the Pulumi CLI for the stack's namespace and kubectl (current context) for the rest. Exits non-zero
# when the Job fails, after printing its logs.
set -euo pipefail

usage() { echo "usage: db-job.sh backup STACK | db-job.sh restore STACK BACKUP_FILE" >&2; exit 2; }
action=${1:-}
stack=${2:-}
if [ -z "$action" ] || [ -z "$stack" ]; then usage; fi
namespace=$(pulumi stack output namespace --stack "$stack")
stamp=$(date -u +%Y%m%d%H%M%S)

case "$action" in
  backup)
    job="archon-db-backup-manual-$stamp"
    kubectl -n "$namespace" create job --from=cronjob/archon-db-backup "$job"
    ;;
  restore)
    file=${3:-}
    [ -n "$file" ] || { echo "restore needs BACKUP_FILE: the name a backup Job logged (archon-backup.sh latest)" >&2; exit 2; }
    kubectl -n "$namespace" create configmap archon-db-restore-request --from-literal=file="$file" \
      --dry-run=client -o yaml | kubectl -n "$namespace" apply -f -
    job="archon-db-restore-$stamp"
    kubectl -n "$namespace" create job --from=cronjob/archon-db-restore "$job"
    ;;
  *) usage ;;
esac

echo "waiting for job/$job in $namespace"
while true; do
  succeeded=$(kubectl -n "$namespace" get job "$job" -o jsonpath='{.status.succeeded}')
  failed=$(kubectl -n "$namespace" get job "$job" -o jsonpath='{.status.failed}')
  if [ "${succeeded:-0}" -ge 1 ]; then break; fi
  if [ "${failed:-0}" -ge 1 ]; then
    kubectl -n "$namespace" logs "job/$job" --all-containers --prefix || true
    echo "job/$job failed" >&2
    exit 1
  fi
  sleep 5
done
kubectl -n "$namespace" logs "job/$job" --all-containers --prefix
echo "job/$job succeeded"
