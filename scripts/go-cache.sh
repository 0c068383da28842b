# Sourced by cluster/build.sh, scripts/helm.sh and tools/promtool/build.sh:
# tools built from a pinned Go module and cached outside the repository, keyed
# by that module's go.mod and go.sum, so fresh clones on the same machine (CI)
# reuse them. A build goes to a staging directory that is moved into place
# only when complete, so a build cut off never leaves a cache that looks done.

# go_cache_dir MODULE_DIR NAME: prints the cache directory for NAME (such as
# helm-v3.22.0) built from MODULE_DIR.
go_cache_dir() {
  local key cache_root
  key=$(cat "$1/go.mod" "$1/go.sum" | sha256sum | cut -c1-12)
  cache_root="${PV_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pv-lifecycle-operator}"
  echo "$cache_root/$2-$key"
}

# go_cache_begin OUT: makes the staging directory (with bin/) beside OUT, sets
# $staging and $go_cache_started, removes the staging directory on exit unless
# go_cache_commit ran, and sets the Go environment of a verified build.
go_cache_begin() {
  go_cache_started=$(date +%s)
  mkdir -p "$(dirname "$1")"
  staging=$(mktemp -d "$(dirname "$1")/.build-$(basename "$1")-XXXXXX")
  # shellcheck disable=SC2064 # the path is fixed now, on purpose
  trap "rm -rf '$staging'" EXIT
  mkdir -p "$staging/bin"
  # go.sum is committed and complete: -mod=readonly verifies every download
  # against it, so no checksum database is needed.
  export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOSUMDB=off
}

# go_cache_commit OUT: marks the staging directory complete and moves it to OUT.
go_cache_commit() {
  chmod -R u+w,go+rX "$staging"
  touch "$staging/.complete"
  rm -rf "$1"
  mv "$staging" "$1"
  trap - EXIT
  echo "Built in $(($(date +%s) - go_cache_started)) s" >&2
}
