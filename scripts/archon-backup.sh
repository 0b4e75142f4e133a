#!/bin/sh
# archon-backup.sh: back up and restore Archon's data. The backup CronJob, the restore Job and the tests
# all run this one script (POSIX sh: it runs in the postgres image and in the busybox-based curl image).
#
#   archon-backup.sh dump-postgres           pg_dump (custom format) into $BACKUP_DIR, read back, checksummed
#   archon-backup.sh snapshot-qdrant         a full Qdrant snapshot through its API into $BACKUP_DIR
#   archon-backup.sh finish                  upload this run's files to S3 (when $S3_BUCKET is set), then prune
#   archon-backup.sh prune                   delete backups in $BACKUP_DIR older than $RETENTION_DAYS days
#   archon-backup.sh fetch FILE              download FILE (and its checksum) from S3 into $BACKUP_DIR
#   archon-backup.sh restore-postgres FILE   verify FILE, then restore it into $PGDATABASE in one transaction
#   archon-backup.sh latest                  print the newest PostgreSQL backup in $BACKUP_DIR
#
# PostgreSQL is reached through the libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD);
# Qdrant through QDRANT_URL and QDRANT_API_KEY; S3 through S3_ENDPOINT, S3_BUCKET, S3_REGION, S3_PREFIX,
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Any failure exits non-zero with a message on stderr.
set -eu

BACKUP_DIR=${BACKUP_DIR:-/backups}
RETENTION_DAYS=${RETENTION_DAYS:-7}
STAMP=${STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}

log() { printf '%s archon-backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
checksum() { sha256sum "$1" | cut -d ' ' -f 1; }

# Secrets go to curl in a config file, never on its command line (where ps would show them).
curl_config() {
  umask 077
  config=$(mktemp)
  if [ -n "${QDRANT_API_KEY:-}" ]; then printf 'header = "api-key: %s"\n' "$QDRANT_API_KEY" >> "$config"; fi
  if [ -n "${AWS_ACCESS_KEY_ID:-}" ]; then
    printf 'user = "%s:%s"\naws-sigv4 = "aws:amz:%s:s3"\n' "$AWS_ACCESS_KEY_ID" "${AWS_SECRET_ACCESS_KEY:-}" \
      "${S3_REGION:-us-east-1}" >> "$config"
  fi
  echo "$config"
}

# A new pod's NetworkPolicy rules may be in place a moment after it starts (kube-router and others program them
# asynchronously), and the server may be restarting: wait for it to answer before the first real connection.
wait_for_postgres() {
  tries=0
  until pg_isready -q -t 5; do
    tries=$((tries + 1))
    [ "$tries" -lt "${PG_WAIT_TRIES:-30}" ] \
      || die "PostgreSQL at ${PGHOST:-localhost}:${PGPORT:-5432} does not answer (tried $tries times)"
    sleep 2
  done
}

dump_postgres() {
  wait_for_postgres
  mkdir -p "$BACKUP_DIR"
  final="$BACKUP_DIR/postgres-$STAMP.dump"
  partial="$final.partial"
  trap 'rm -f "$partial"' EXIT
  pg_dump --format=custom --compress=6 --no-password --file="$partial" || die "pg_dump of ${PGDATABASE:-?} failed"
  pg_restore --list "$partial" > /dev/null || die "the new dump does not read back; keeping the old backups"
  mv "$partial" "$final"
  checksum "$final" > "$final.sha256"
  trap - EXIT
  log "wrote $final ($(wc -c < "$final") bytes)"
}

snapshot_qdrant() {
  [ -n "${QDRANT_URL:-}" ] || die "QDRANT_URL is not set"
  mkdir -p "$BACKUP_DIR"
  config=$(curl_config)
  trap 'rm -f "$config" "$BACKUP_DIR/qdrant-$STAMP.snapshot.partial"' EXIT
  answer=$(curl -fsS --max-time 900 -K "$config" -X POST "$QDRANT_URL/snapshots?wait=true") \
    || die "Qdrant did not take a snapshot"
  name=$(printf '%s' "$answer" | sed -n 's/.*"name" *: *"\([^"]*\)".*/\1/p')
  [ -n "$name" ] || die "Qdrant's answer names no snapshot: $answer"
  final="$BACKUP_DIR/qdrant-$STAMP.snapshot"
  curl -fsS --max-time 3600 -K "$config" -o "$final.partial" "$QDRANT_URL/snapshots/$name" \
    || die "downloading snapshot $name failed"
  mv "$final.partial" "$final"
  checksum "$final" > "$final.sha256"
  curl -fsS --max-time 60 -K "$config" -X DELETE "$QDRANT_URL/snapshots/$name" > /dev/null \
    || log "warning: snapshot $name stays on the Qdrant server"
  log "wrote $final ($(wc -c < "$final") bytes)"
}

s3_url() { echo "${S3_ENDPOINT%/}/$S3_BUCKET/${S3_PREFIX:+${S3_PREFIX%/}/}$1"; }

upload() {
  if [ -z "${S3_BUCKET:-}" ]; then
    log "no S3 bucket configured: backups stay on the backup volume"
    return 0
  fi
  [ -n "${S3_ENDPOINT:-}" ] || die "S3_BUCKET is set but S3_ENDPOINT is not"
  config=$(curl_config)
  trap 'rm -f "$config"' EXIT
  found=0
  for file in "$BACKUP_DIR"/*-"$STAMP".*; do
    [ -f "$file" ] || continue
    found=1
    curl -fsS --max-time 3600 -K "$config" -T "$file" "$(s3_url "$(basename "$file")")" > /dev/null \
      || die "uploading $(basename "$file") to s3://$S3_BUCKET failed"
    log "uploaded $(basename "$file") to s3://$S3_BUCKET/${S3_PREFIX:-}"
  done
  [ "$found" = 1 ] || die "no backup of this run ($STAMP) in $BACKUP_DIR to upload"
}

fetch() {
  file=$1
  [ -n "${S3_BUCKET:-}" ] || return 0
  mkdir -p "$BACKUP_DIR"
  config=$(curl_config)
  trap 'rm -f "$config"' EXIT
  for name in "$file" "$file.sha256"; do
    curl -fsS --max-time 3600 -K "$config" -o "$BACKUP_DIR/$name" "$(s3_url "$name")" \
      || die "downloading $name from s3://$S3_BUCKET failed"
  done
  log "fetched $file from s3://$S3_BUCKET"
}

prune() {
  [ -d "$BACKUP_DIR" ] || return 0
  find "$BACKUP_DIR" -maxdepth 1 -type f \( -name 'postgres-*' -o -name 'qdrant-*' \) \
    -mtime +"$RETENTION_DAYS" -print -exec rm -f {} \; | while read -r gone; do log "pruned $gone"; done
}

verify() {
  file=$1
  [ -f "$file" ] || die "no backup file $file"
  [ -s "$file" ] || die "$file is empty"
  [ -f "$file.sha256" ] || die "$file has no checksum file beside it; refusing to restore an unverified backup"
  [ "$(checksum "$file")" = "$(cat "$file.sha256")" ] || die "$file does not match its checksum: it is corrupted"
  pg_restore --list "$file" > /dev/null 2>&1 || die "$file is not a readable pg_dump archive"
}

restore_postgres() {
  file=${1:-${RESTORE_FILE:-}}
  [ -n "$file" ] || die "which backup? pass a file name (archon-backup.sh latest prints the newest)"
  case "$file" in /*) ;; *) file="$BACKUP_DIR/$file" ;; esac
  verify "$file"
  wait_for_postgres
  log "restoring $file into database ${PGDATABASE:-?}"
  pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error --single-transaction \
    --dbname="${PGDATABASE:?PGDATABASE is not set}" "$file" \
    || die "pg_restore failed; the database is as it was (the restore ran in one transaction)"
  log "restored $file"
}

latest() {
  newest=$(find "$BACKUP_DIR" -maxdepth 1 -type f -name 'postgres-*.dump' | sort | tail -n 1)
  [ -n "$newest" ] || die "no PostgreSQL backup in $BACKUP_DIR"
  basename "$newest"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  dump-postgres) dump_postgres ;;
  snapshot-qdrant) snapshot_qdrant ;;
  finish) upload; prune ;;
  prune) prune ;;
  fetch) fetch "${1:-${RESTORE_FILE:-}}" ;;
  restore-postgres) restore_postgres "${1:-}" ;;
  latest) latest ;;
  *) echo "usage: archon-backup.sh dump-postgres|snapshot-qdrant|finish|prune|fetch FILE|restore-postgres FILE|latest" >&2
     exit 2 ;;
esac
