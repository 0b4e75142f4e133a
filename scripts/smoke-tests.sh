#!/usr/bin/env bash
# Smoke tests for a deployed stack: every health endpoint through the ingress, with retries and timeouts.
#
#   scripts/smoke-tests.sh STACK
#
# Reads the stack's `urls` output (`pulumi stack output --json -s STACK`, or the JSON file in SMOKE_OUTPUTS,
# e.g. an offline plan's outputs.json) and checks:
#   health          GET urls.health                  200 (archon-server, ready: startup and migrations done)
#   api             GET urls.api + /health           200 (the /api route)
#   app             GET urls.app                     200 (the frontend)
#   mcp             GET urls.mcp                     any answer below 500 (MCP needs a session for more)
# Settings (environment): SMOKE_TIMEOUT seconds per request (10), SMOKE_ATTEMPTS per check (10),
# SMOKE_INTERVAL seconds between attempts (6), SMOKE_INSECURE=1 to accept an untrusted certificate (Let's
# Encrypt staging, self-signed), SMOKE_CA_FILE to trust a CA bundle instead.
# Exit: 0 all healthy, 1 a check failed, 2 bad usage or outputs.
set -euo pipefail

usage() { echo "usage: $0 STACK   (see the header of this script for settings)" >&2; exit 2; }
[[ $# -eq 1 && -n "$1" ]] || usage
stack=$1
timeout=${SMOKE_TIMEOUT:-10}
attempts=${SMOKE_ATTEMPTS:-10}
interval=${SMOKE_INTERVAL:-6}
for setting in "SMOKE_TIMEOUT=$timeout" "SMOKE_ATTEMPTS=$attempts" "SMOKE_INTERVAL=$interval"; do
  [[ ${setting#*=} =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "error: $setting is not a number" >&2; exit 2; }
done

if [[ -n ${SMOKE_OUTPUTS:-} ]]; then
  [[ -r $SMOKE_OUTPUTS ]] || { echo "error: SMOKE_OUTPUTS=$SMOKE_OUTPUTS is not a readable file" >&2; exit 2; }
  outputs=$(cat "$SMOKE_OUTPUTS")
else
  outputs=$(pulumi stack output --json -s "$stack") || { echo "error: cannot read the outputs of stack $stack" >&2; exit 2; }
fi

# name <TAB> url <TAB> expectation ("200" or "<500"), one per line.
checks=$(python3 -c '
import json, sys
try:
    urls = json.loads(sys.argv[1])["urls"]
    rows = [("health", urls["health"], "200"), ("api", urls["api"].rstrip("/") + "/health", "200"),
            ("app", urls["app"], "200"), ("mcp", urls["mcp"], "<500")]
except (ValueError, KeyError, TypeError) as exc:
    sys.exit(f"error: the outputs have no usable urls ({type(exc).__name__}: {exc})")
for row in rows:
    print("\t".join(row))
' "$outputs") || exit 2

curl_args=(--silent --show-error --output /dev/null --write-out '%{http_code} %{time_total}'
           --max-time "$timeout" --location)
[[ ${SMOKE_INSECURE:-0} == 1 ]] && curl_args+=(--insecure)
[[ -n ${SMOKE_CA_FILE:-} ]] && curl_args+=(--cacert "$SMOKE_CA_FILE")

passes() {  # status expectation
  if [[ $2 == "<500" ]]; then [[ $1 =~ ^[1-4][0-9][0-9]$ ]]; else [[ $1 == "$2" ]]; fi
}

failed=0
while IFS=$'\t' read -r name url expect; do
  result="000 0"
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    result=$(curl "${curl_args[@]}" "$url" 2>/dev/null) || true
    status=${result%% *}
    if passes "$status" "$expect"; then
      printf 'ok    %-7s %s  %s in %ss (attempt %d)\n' "$name" "$url" "$status" "${result#* }" "$attempt"
      continue 2
    fi
    ((attempt < attempts)) && sleep "$interval"
  done
  status=${result%% *}
  reason=$([[ $status == 000 ]] && echo "no answer within ${timeout}s" || echo "HTTP $status")
  printf 'FAIL  %-7s %s  %s, expected %s, after %d attempts\n' "$name" "$url" "$reason" "$expect" "$attempts"
  failed=1
done <<< "$checks"

if ((failed)); then
  echo "smoke tests of stack $stack: FAILED" >&2
  exit 1
fi
echo "smoke tests of stack $stack: all healthy"
