#!/usr/bin/env bash
# pin-image-digests.sh STACK DIR
#
# Points the stack at the images the pipeline just pushed: for each file DIR/SERVICE (one line: the pushed
# reference, REPOSITORY@sha256:DIGEST), `pulumi config set --path images.prebuilt.SERVICE` in the runner's copy of
# Pulumi.STACK.yaml. The deploy then runs exactly what was built, scanned and attested, by digest.
set -euo pipefail

usage() { echo "usage: pin-image-digests.sh STACK DIR" >&2; exit 2; }
stack=${1:-}
dir=${2:-}
if [ -z "$stack" ] || [ -z "$dir" ]; then usage; fi
[ -d "$dir" ] || { echo "pin-image-digests.sh: $dir is not a directory of pushed digests" >&2; exit 2; }

count=0
for file in "$dir"/*; do
  [ -f "$file" ] || continue
  service=$(basename "$file")
  reference=$(tr -d '[:space:]' < "$file")
  if ! [[ "$reference" =~ ^[a-z0-9./:_-]+@sha256:[0-9a-f]{64}$ ]]; then
    echo "pin-image-digests.sh: $file does not hold REPOSITORY@sha256:DIGEST: '$reference'" >&2
    exit 1
  fi
  pulumi config set --path "images.prebuilt.$service" "$reference" --stack "$stack"
  echo "images.prebuilt.$service = $reference"
  count=$((count + 1))
done
if [ "$count" -eq 0 ]; then
  echo "pin-image-digests.sh: no digests in $dir" >&2
  exit 1
fi
