#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok) from the pinned wrapper module in
# cluster/go and caches it outside the repository, keyed by go.mod and go.sum,
# so fresh clones on the same machine (CI) reuse it.
#
# Prints the cache directory as its last line: bin/ holds the binaries and
# kwok-stages/ the pod and node lifecycle stages that ship in the kwok module.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/go"
k8s_version=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3; exit} $1=="k8s.io/kubernetes" {print $2; exit}' "$mod/go.mod")
etcd_version=$(awk '$1=="go.etcd.io/etcd/server/v3" {print $2; exit}' "$mod/go.mod")
kwok_version=$(awk '$1=="sigs.k8s.io/kwok" {print $2; exit}' "$mod/go.mod")
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] && [ -n "$kwok_version" ] || {
  echo "build.sh: could not read the pinned versions from $mod/go.mod" >&2
  exit 1
}

# shellcheck source=scripts/go-cache.sh
. "$here/../scripts/go-cache.sh"
out=$(go_cache_dir "$mod" "k8s-$k8s_version")
tools=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)
stages=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml)

if [ -f "$out/.complete" ]; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || {
  echo "build.sh: Go >= 1.26 is required to build the control plane (Debian: apt-get install golang-1.26, or go.dev/dl)" >&2
  exit 1
}

go_cache_begin "$out"
mkdir -p "$staging/kwok-stages"

echo "Building Kubernetes $k8s_version, etcd $etcd_version and kwok $kwok_version into $out" >&2
echo "(the first build takes several minutes; later runs reuse the cache)" >&2

minor=${k8s_version#v}; major=${minor%%.*}; minor=${minor#*.}; minor=${minor%%.*}
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$stamp -X $pkg.gitCommit=module-$k8s_version"
done

cd "$mod"
go build -trimpath -ldflags "$ldflags" -o "$staging/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  sigs.k8s.io/kwok/cmd/kwok >&2
go build -trimpath -ldflags "-s -w" -o "$staging/bin/etcd" go.etcd.io/etcd/server/v3 >&2

kwok_dir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
for s in "${stages[@]}"; do
  cp "$kwok_dir/kustomize/stage/$s" "$staging/kwok-stages/"
done
for t in "${tools[@]}"; do [ -x "$staging/bin/$t" ] || { echo "build.sh: $t was not built" >&2; exit 1; }; done
go_cache_commit "$out"
echo "$out"
