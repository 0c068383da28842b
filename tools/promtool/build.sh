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

# shellcheck source=scripts/go-cache.sh
. "$mod/../../scripts/go-cache.sh"
out=$(go_cache_dir "$mod" "promtool-$version")

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

go_cache_begin "$out"
echo "Building promtool $version into $out (the first build takes a few minutes)" >&2

cd "$mod"
go build -trimpath -ldflags "-s -w" -o "$staging/bin/promtool" github.com/prometheus/prometheus/cmd/promtool >&2
"$staging/bin/promtool" --version >/dev/null
go_cache_commit "$out"
echo "$out/bin/promtool"
