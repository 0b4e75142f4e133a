#!/usr/bin/env bash
# Build the real-engine toolchain from Go modules: the Pulumi CLI, the pulumi-kubernetes provider, etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok and kwokctl; for the real node kubelet,
# kube-proxy, containerd, kube-router and CoreDNS; for its images Prometheus, Alertmanager and kube-state-metrics.
#
#   scripts/e2e-tools.sh [TOOL...]  build what is missing (of the named tools only, if named: pulumi, kubernetes,
#                                   cpython, ...), then print each tool's version and build time
#   scripts/e2e-tools.sh wrappers [NAME...]   regenerate tools/e2e/modules/*/go.{mod,sum} from tools/e2e/versions.env
#
# Versions come from tools/e2e/versions.env; each tool builds in its own wrapper module. Builds are cached
# outside the repo in $ARCHON_E2E_CACHE (default ~/.cache/archon-e2e), one folder per tool, version and hash
# of its recipe (the wrapper's go.mod and go.sum and the build function below), so a change rebuilds only
# what it touches. Go's module and build caches live there too. A build that fails names the module, the
# version and Go's error, and exits 1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
versions="$root/tools/e2e/versions.env"
modules="$root/tools/e2e/modules"
patches="$root/tools/e2e/patches"
cache=${ARCHON_E2E_CACHE:-$HOME/.cache/archon-e2e}

# shellcheck source=/dev/null  # tools/e2e/versions.env: plain KEY=VALUE lines
source "$versions"

export GOFLAGS=-modcacherw GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
mkdir -p "$cache/builds" "$cache/bin" "$cache/tools" "$GOMODCACHE" "$GOCACHE"

fail() { echo "e2e-tools: $*" >&2; exit 1; }

KUBERNETES_COMMANDS="kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy"

command -v go > /dev/null || fail "the Go toolchain is not installed (go 1.26 or later is needed)"

# --- the wrapper modules -------------------------------------------------------------------------------

k8s_staging_replaces() {
  # Every staging module k8s.io/kubernetes requires at v0.0.0, mapped to its tagged release.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
  awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$gomod"
}

write_wrapper() {  # write_wrapper NAME: go.mod of one wrapper module, then go mod tidy
  local name=$1 dir="$modules/$1"
  mkdir -p "$dir"
  case $name in
    pulumi)
      cat > "$dir/go.mod" <<EOF
module archon.local/e2e/pulumi

go 1.26

// As pkg/go.mod and sdk/go.mod have them (a dependency's replace lines do not apply to us).
replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e

replace golang.org/x/text => golang.org/x/text v0.41.0

require (
	github.com/pulumi/pulumi/pkg/v3 $PULUMI
	github.com/pulumi/pulumi/sdk/v3 $PULUMI
)

tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
EOF
      ;;
    kubernetes)
      {
        printf 'module archon.local/e2e/kubernetes\n\ngo 1.26.0\n\ngodebug default=go1.26\n\n'
        printf 'require k8s.io/kubernetes %s\n\n// k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging.\nreplace (\n' "$KUBERNETES"
        k8s_staging_replaces | while read -r module; do printf '\t%s => %s %s\n' "$module" "$module" "$KUBERNETES_STAGING"; done
        printf ')\n\ntool (\n'
        for cmd in $KUBERNETES_COMMANDS; do printf '\tk8s.io/kubernetes/cmd/%s\n' "$cmd"; done
        printf ')\n'
      } > "$dir/go.mod"
      ;;
    etcd)
      printf 'module archon.local/e2e/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 %s\n\ntool go.etcd.io/etcd/server/v3\n' \
        "$ETCD" > "$dir/go.mod"
      ;;
    kwok)
      printf 'module archon.local/e2e/kwok\n\ngo 1.26.0\n\nrequire sigs.k8s.io/kwok %s\n\ntool (\n\tsigs.k8s.io/kwok/cmd/kwok\n\tsigs.k8s.io/kwok/cmd/kwokctl\n)\n' \
        "$KWOK" > "$dir/go.mod"
      ;;
    containerd)
      printf 'module archon.local/e2e/containerd\n\ngo 1.26.6\n\nrequire github.com/containerd/containerd/v2 %s\n\ntool (\n\tgithub.com/containerd/containerd/v2/cmd/containerd\n\tgithub.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2\n\tgithub.com/containerd/containerd/v2/cmd/ctr\n)\n' \
        "$CONTAINERD" > "$dir/go.mod"
      ;;
    kube-router)
      printf 'module archon.local/e2e/kube-router\n\ngo 1.26\n\nrequire github.com/cloudnativelabs/kube-router/v2 %s\n\ntool github.com/cloudnativelabs/kube-router/v2/cmd/kube-router\n' \
        "$KUBE_ROUTER" > "$dir/go.mod"
      ;;
    coredns)
      printf 'module archon.local/e2e/coredns\n\ngo 1.26.0\n\nrequire github.com/coredns/coredns %s\n\ntool github.com/coredns/coredns\n' \
        "$COREDNS" > "$dir/go.mod"
      ;;
  esac
  rm -f "$dir/go.sum"
  (cd "$dir" && go mod tidy) || fail "go mod tidy failed in tools/e2e/modules/$name"
}

if [ "${1:-}" = wrappers ]; then
  shift
  for name in "${@:-pulumi kubernetes etcd kwok containerd kube-router coredns}"; do
    write_wrapper "$name"; echo "wrote tools/e2e/modules/$name"
  done
  exit 0
fi
only=" $* "

check_wrapper() {  # check_wrapper NAME MODULE VERSION: the committed wrapper requires what versions.env pins
  local gomod="$modules/$1/go.mod"
  [ -f "$gomod" ] || fail "tools/e2e/modules/$1/go.mod is missing; run scripts/e2e-tools.sh wrappers"
  grep -qE "^[[:space:]]*(require )?$2 $3( |\$)" "$gomod" \
    || fail "tools/e2e/modules/$1/go.mod does not require $2 $3 (tools/e2e/versions.env); run scripts/e2e-tools.sh wrappers"
}

# --- the builds ----------------------------------------------------------------------------------------

build_pulumi() {  # OUT: the CLI, stamped with its version (tags as the release build uses them)
  check_wrapper pulumi github.com/pulumi/pulumi/pkg/v3 "$PULUMI"
  (cd "$modules/pulumi" && go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI" \
    -o "$1/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}

build_pulumi_kubernetes() {  # OUT: the provider, from a copy of its module with the generated files it embeds
  local module=github.com/pulumi/pulumi-kubernetes/provider/v4 src work
  src=$(go mod download -json "$module@$PULUMI_KUBERNETES_MODULE" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] || return 1
  work="$1/src"
  rm -rf "$work" && cp -r "$src" "$work" && chmod -R u+w "$work"
  # Backports of upstream fixes this commit lacks (tools/e2e/patches/, each says which and why).
  local fix
  for fix in "$patches"/pulumi_kubernetes-*.patch; do
    patch -p1 -d "$work" < "$fix"
  done
  # Its go.mod replaces sdk/v4 with ../sdk, which is not in the module: require a served release instead.
  (cd "$work" && go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 \
      -require "github.com/pulumi/pulumi-kubernetes/sdk/v4@$PULUMI_KUBERNETES_SDK" && go mod tidy)
  # main.go embeds schema-embed.json and terraform-mapping-embed.json (gitignored upstream, so not in the
  # module zip); the folder's own generate.go makes them from the committed schema.json and mapping.
  (cd "$work/cmd/pulumi-resource-kubernetes" && VERSION=$PULUMI_KUBERNETES go run generate.go)
  (cd "$work" && go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES" \
    -o "$1/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes)
  rm -rf "$work"
}

build_kubernetes() {  # OUT: the control plane, kubectl and the node's kubelet and kube-proxy in one go build (shared
  # packages compile once), and the pause image's program from the same source (build/pause/linux/pause.c)
  check_wrapper kubernetes k8s.io/kubernetes "$KUBERNETES"
  local minor=${KUBERNETES#v1.} cmd targets=()
  minor=${minor%%.*}
  for cmd in $KUBERNETES_COMMANDS; do targets+=("k8s.io/kubernetes/cmd/$cmd"); done
  (cd "$modules/kubernetes" && go build -trimpath -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$KUBERNETES -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean \
    -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z" -o "$1/" "${targets[@]}")
  local src
  src=$(cd "$modules/kubernetes" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  gcc -Os -static -Wall -Werror -DVERSION="$KUBERNETES" -o "$1/pause" "$src/build/pause/linux/pause.c"
}

build_containerd() {  # OUT: containerd, its runc shim and ctr (runc itself is Debian's)
  check_wrapper containerd github.com/containerd/containerd/v2 "$CONTAINERD"
  (cd "$modules/containerd" && go build -trimpath -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD" -o "$1/" \
    github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr)
}

build_kube_router() {  # OUT: kube-router (the node runs only its NetworkPolicy controller)
  check_wrapper kube-router github.com/cloudnativelabs/kube-router/v2 "$KUBE_ROUTER"
  (cd "$modules/kube-router" && go build -trimpath \
    -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER" -o "$1/" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
}

build_coredns() {  # OUT: coredns (the module's root is its main package)
  check_wrapper coredns github.com/coredns/coredns "$COREDNS"
  (cd "$modules/coredns" && go build -trimpath -ldflags "-s -w" -o "$1/coredns" github.com/coredns/coredns)
}

module_copy() {  # module_copy MODULE VERSION DEST: a writable copy of a module's source, to build inside it
  local src
  src=$(go mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] || return 1
  rm -rf "$3" && cp -r "$src" "$3" && chmod -R u+w "$3"
}

prometheus_stamp() {  # the -X flags Prometheus' own build (promu) sets, for VERSION
  local common=github.com/prometheus/common/version
  echo "-X $common.Version=$1 -X $common.Revision=release -X $common.Branch=release -X $common.BuildUser=archon-e2e -X $common.BuildDate=19700101-00:00:00"
}

build_prometheus() {  # OUT: prometheus and promtool, inside a copy of the module (its replace lines apply), with
  # only the service discoveries the stack's config uses (Prometheus' own remove_all_sd/enable_*_sd build tags:
  # kubernetes, plus file and http, which are always in); the web UI's compiled assets are not in the module, so it
  # serves the API and no UI (the harness reads only the API)
  local module=${PROMETHEUS#v0.} work="$1/src" version  # v0.314.0 is Prometheus 3.14.0
  version="${module:0:1}.$((10#${module:1:2})).${module#*.}"
  module_copy github.com/prometheus/prometheus "$PROMETHEUS" "$work"
  (cd "$work" && GOWORK=off go build -trimpath -tags remove_all_sd,enable_kubernetes_sd \
    -ldflags "-s -w $(prometheus_stamp "$version")" -o "$1/" ./cmd/prometheus ./cmd/promtool)
  rm -rf "$work"
}

build_alertmanager() {  # OUT: alertmanager and amtool; its UI bundle is gitignored, so a placeholder page stands in
  local work="$1/src"
  module_copy github.com/prometheus/alertmanager "$ALERTMANAGER" "$work"
  mkdir -p "$work/ui/app/dist"
  printf '<!doctype html><title>Alertmanager</title><p>UI not built (archon-e2e); the API is at /api/v2/.\n' \
    > "$work/ui/app/dist/index.html"
  (cd "$work" && GOWORK=off go build -trimpath -ldflags "-s -w $(prometheus_stamp "${ALERTMANAGER#v}")" -o "$1/" \
    ./cmd/alertmanager ./cmd/amtool)
  rm -rf "$work"
}

build_kube_state_metrics() {  # OUT: kube-state-metrics (the module's root is its main package)
  local work="$1/src"
  module_copy k8s.io/kube-state-metrics/v2 "$KUBE_STATE_METRICS" "$work"
  (cd "$work" && GOWORK=off go build -trimpath \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$KUBE_STATE_METRICS" -o "$1/kube-state-metrics" .)
  rm -rf "$work"
}

build_cpython() {  # OUT: CPython's source tree at the pinned tag (the python base image compiles it; tools/e2e/images)
  local work="$1/src"
  module_copy github.com/python/cpython "$CPYTHON" "$work"
  local version=${CPYTHON#v}
  version=${version%%+*}
  grep -q "PY_VERSION *\"$version\"" "$work/Include/patchlevel.h" \
    || { echo "cpython $CPYTHON: Include/patchlevel.h does not say $version" >&2; return 1; }
  # Module zips keep no file modes: the scripts (configure, install-sh, makesetup, ...) get their x bit back.
  local file first
  while IFS= read -r -d '' file; do
    IFS= read -r first < "$file" || true
    if [[ $first == '#!'* ]]; then chmod +x "$file"; fi
  done < <(find "$work" -type f -print0)
  mv "$work" "$1/cpython"
}

build_etcd() {  # OUT: etcd (the server module's root is its main package)
  check_wrapper etcd go.etcd.io/etcd/server/v3 "$ETCD"
  (cd "$modules/etcd" && go build -trimpath -ldflags "-s -w" -o "$1/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {  # OUT: kwok and kwokctl, and kwok's own simulation stages (nodes, pods, volumes)
  check_wrapper kwok sigs.k8s.io/kwok "$KWOK"
  (cd "$modules/kwok" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK" \
    -o "$1/" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl)
  local src
  src=$(cd "$modules/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  mkdir -p "$1/stages"
  for stage in node/fast/node-initialize pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete \
               volume/fast/pv-bind volume/fast/pv-delete volume/fast/pvc-provision volume/fast/pvc-delete \
               volume/fast/storage-class; do
    cp "$src/$stage.yaml" "$1/stages/"
  done
}

# tool:version:what it builds (the names linked into $cache/tools, or bin for the CLI)
plan=(
  "pulumi:$PULUMI:pulumi"
  "pulumi_kubernetes:$PULUMI_KUBERNETES_MODULE:pulumi-resource-kubernetes"
  "etcd:$ETCD:etcd"
  "kwok:$KWOK:kwok kwokctl"
  "kubernetes:$KUBERNETES:$KUBERNETES_COMMANDS pause"
  "containerd:$CONTAINERD:containerd containerd-shim-runc-v2 ctr"
  "kube_router:$KUBE_ROUTER:kube-router"
  "coredns:$COREDNS:coredns"
  "prometheus:$PROMETHEUS:prometheus promtool"
  "alertmanager:$ALERTMANAGER:alertmanager amtool"
  "kube_state_metrics:$KUBE_STATE_METRICS:kube-state-metrics"
  "cpython:$CPYTHON:cpython"
)

known=" "
for entry in "${plan[@]}"; do known+="${entry%%:*} "; done
for name in "$@"; do
  [[ $known == *" $name "* ]] || fail "no tool named $name; tools:$known(or: scripts/e2e-tools.sh wrappers [NAME...])"
done

recipe_hash() {  # recipe_hash TOOL: what the build depends on besides its version (the pins its function names)
  local recipe
  recipe=$(declare -f "build_$1")
  {
    echo "$recipe"
    grep -vE '^[[:space:]]*(#|$)' "$versions" | while IFS='=' read -r key _; do
      if grep -qE "\\\$\{?$key([^A-Z_]|\$)" <<< "$recipe"; then grep -E "^$key=" "$versions"; fi
    done
    local wrapper="$modules/${1//_/-}"
    if [ -d "$wrapper" ]; then cat "$wrapper"/go.mod "$wrapper"/go.sum; fi
    cat "$patches/$1"-*.patch 2> /dev/null || true
  } | sha256sum | cut -c1-12
}

build_tool() {  # build_tool ENTRY: build one plan entry unless cached, link its outputs, write its report line
  local tool version outputs dir start state name target old
  IFS=: read -r tool version outputs <<< "$1"
  dir="$cache/builds/$tool-$version-$(recipe_hash "$tool")"
  if [ -f "$dir/BUILT" ]; then
    state="cached"
  else
    echo "e2e-tools: building $tool $version (log: $dir/build.log)"
    rm -rf "$dir" && mkdir -p "$dir"
    start=$(date +%s)
    if ! ( "build_$tool" "$dir" ) > "$dir/build.log" 2>&1; then
      tail -25 "$dir/build.log" >&2
      echo "e2e-tools: building $tool $version failed (full log: $dir/build.log)" >&2
      return 1
    fi
    echo $(( $(date +%s) - start )) > "$dir/BUILT"
    state="built"
    for old in "$cache/builds/$tool-"*; do  # earlier builds of this tool (another version or recipe)
      if [ "$old" != "$dir" ]; then rm -rf "$old"; fi
    done
  fi
  for name in $outputs; do
    target="$cache/tools"
    if [ "$name" = pulumi ]; then target="$cache/bin"; fi  # the CLI alone in bin: it looks for plugins beside itself
    ln -sfn "$dir/$name" "$target/$name"
  done
  if [ "$tool" = kwok ]; then ln -sfn "$dir/stages" "$cache/tools/kwok-stages"; fi
  echo "$tool $version: $state (build took $(cat "$dir/BUILT")s)" > "$cache/builds/.report-$tool"
}

# Two builds at a time (E2E_TOOLS_JOBS): one's module downloads and link overlap the other's compiling.
jobs_max=${E2E_TOOLS_JOBS:-2}
failed=0
report=()
for entry in "${plan[@]}"; do
  tool=${entry%%:*}
  if [ "$only" != "  " ] && [[ $only != *" $tool "* ]]; then continue; fi
  rm -f "$cache/builds/.report-$tool"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || failed=1; done
  build_tool "$entry" &
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
wait || failed=1
for entry in "${plan[@]}"; do
  tool=${entry%%:*}
  if [ -f "$cache/builds/.report-$tool" ]; then report+=("$(cat "$cache/builds/.report-$tool")"); fi
done
[ "$failed" = 0 ] || fail "a build failed (its log is named above)"

if [ "$only" != "  " ]; then
  for line in "${report[@]}"; do echo "  $line"; done
  exit 0
fi

# The provider as the CLI finds it: installed into the harness's PULUMI_HOME at its stamped version.
export PULUMI_HOME="$cache/pulumi-home" PULUMI_SKIP_UPDATE_CHECK=true
installed="$PULUMI_HOME/plugins/resource-kubernetes-v$PULUMI_KUBERNETES/pulumi-resource-kubernetes"
if ! cmp -s "$installed" "$cache/tools/pulumi-resource-kubernetes"; then
  "$cache/bin/pulumi" plugin install resource kubernetes "$PULUMI_KUBERNETES" \
    --file "$cache/tools/pulumi-resource-kubernetes" --reinstall > /dev/null
fi

echo "Real-engine toolchain in $cache:"
for line in "${report[@]}"; do echo "  $line"; done
echo "Versions:"
echo "  $("$cache/bin/pulumi" version) pulumi"
echo "  $("$cache/tools/pulumi-resource-kubernetes" -version 2>/dev/null || echo "$PULUMI_KUBERNETES") pulumi-resource-kubernetes (plugin kubernetes $PULUMI_KUBERNETES)"
echo "  $("$cache/tools/kube-apiserver" --version)"
echo "  $("$cache/tools/kubectl" version --client 2>/dev/null | head -1)"
echo "  $("$cache/tools/etcd" --version | head -1)"
echo "  $("$cache/tools/kwokctl" --version)"
echo "Not built (no version served by the Go module proxy; see README, \"The real engine\"):"
for blocked in "$BLOCKED_PULUMI_LANGUAGE_PYTHON" "$BLOCKED_PULUMI_RANDOM"; do
  error=$( (go mod download -json "$blocked" 2>&1 || true) | sed -n 's/^\t"Error": "\(.*\)"$/\1/p' \
    | sed 's|^.*: reading \(https://[^ ]*\): \([0-9][0-9]* [A-Za-z ]*\).*|\2 from \1|')
  if [ -n "$error" ]; then
    echo "  $blocked: $error"
  else
    echo "  $blocked: now served; build it and drop the stand-in"
  fi
done
