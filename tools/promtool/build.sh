#!/usr/bin/env bash
# Builds promtool, Prometheus's rule and config checker, from the pinned
# module in this directory and caches it outside the repository, keyed by
# go.mod and go.sum (as cluster/build.sh caches the control plane), so fresh
# clones on the same machine (CI) reuse it. The alert tests run it.
#
# Prints the path of the promtool binary as its last line.
set -euo pipefail

mod=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(awk '$1=="github.com/prometheus/prometheus" {print $2; exit}' "$mod/go.mod")
[ -n "$version" ] || {
  echo "promtool/build.sh: could not read the pinned Prometheus version from $mod/go.mod" >&2
  exit 1
}

key=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)
cache_root="${PV_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pv-lifecycle-operator}"
out="$cache_root/promtool-$version-$key"

if [ -f "$out/.complete" ]; then
  echo "$out/bin/promtool"
  exit 0
fi

# Prometheus's own go.mod asks for this Go; an older one would try to
# download a toolchain, which a machine without that access cannot.
need_go=$(awk '$1=="go" {print $2; exit}' "$mod/go.mod")
have_go=$({ command -v go >/dev/null && go env GOVERSION 2>/dev/null; } | sed 's/^go//' || true)
if [ -z "$have_go" ] || [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -1)" != "$need_go" ]; then
  echo "promtool/build.sh: Go >= $need_go is required to build promtool (found: ${have_go:-none}; Debian: apt-get install golang-1.26, or go.dev/dl)" >&2
  exit 1
fi

started=$(date +%s)
mkdir -p "$cache_root"
staging=$(mktemp -d "$cache_root/.build-promtool-XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/bin"
echo "Building promtool $version into $out (the first build takes a few minutes)" >&2

cd "$mod"
# go.sum is committed and complete: -mod=readonly verifies every download
# against it, so no checksum database is needed.
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOSUMDB=off
go build -trimpath -ldflags "-s -w" -o "$staging/bin/promtool" github.com/prometheus/prometheus/cmd/promtool >&2
"$staging/bin/promtool" --version >/dev/null
chmod -R u+w,go+rX "$staging"
touch "$staging/.complete"

rm -rf "$out"
mv "$staging" "$out"
trap - EXIT
echo "Built in $(( $(date +%s) - started )) s" >&2
echo "$out/bin/promtool"
