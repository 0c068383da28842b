#!/usr/bin/env bash
# Builds helm from the pinned wrapper module in cluster/helm and caches it
# outside the repository, keyed by go.mod and go.sum, as cluster/build.sh does
# for the control plane; fresh clones on the same machine (CI) reuse it.
#
# Prints the path of the helm binary as its last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mod="$here/cluster/helm"
version=$(awk '$1=="require" && $2=="helm.sh/helm/v3" {print $3; exit} $1=="helm.sh/helm/v3" {print $2; exit}' "$mod/go.mod")
client_go=$(awk '$1=="k8s.io/client-go" {print $2; exit}' "$mod/go.mod")
[ -n "$version" ] && [ -n "$client_go" ] || {
  echo "helm.sh: could not read the pinned versions from $mod/go.mod" >&2
  exit 1
}

# shellcheck source=scripts/go-cache.sh
. "$here/scripts/go-cache.sh"
out=$(go_cache_dir "$mod" "helm-$version")

if [ -f "$out/.complete" ]; then
  echo "$out/bin/helm"
  exit 0
fi

command -v go >/dev/null || {
  echo "helm.sh: Go >= 1.26 is required to build helm (Debian: apt-get install golang-1.26, or go.dev/dl)" >&2
  exit 1
}

go_cache_begin "$out"
echo "Building helm $version into $out (once; later runs reuse the cache)" >&2

# helm's own Makefile stamps its version and the Kubernetes version that
# `helm lint` and `helm template` assume; without them both say v0.0.0 / v1.20.
k8s_minor=${client_go#v0.}; k8s_minor=${k8s_minor%%.*}
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done

cd "$mod"
go build -trimpath -ldflags "$ldflags" -o "$staging/bin/helm" helm.sh/helm/v3/cmd/helm >&2
"$staging/bin/helm" version --short >&2
go_cache_commit "$out"
echo "$out/bin/helm"
