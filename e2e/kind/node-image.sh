#!/usr/bin/env bash
# Builds a kind node image here, for machines that cannot pull kindest/node:
# Kubernetes from e2e/kind/go and cluster/go, containerd and crictl from the Go
# module proxy, and a Debian bookworm root file system from Debian's packages
# (mmdebstrap), with kind's own node files taken from the kind module it is
# used with. No registry is needed: the images the node runs (the control
# plane, kube-proxy, pause) are built here too and imported into the node's
# containerd when it boots, before the kubelet starts.
#
#   e2e/kind/node-image.sh ENGINE    prints the image reference as its last line
#
# ENGINE is podman or docker. The image is kept as an archive in the project's
# cache folder, keyed by every input (this script, the files beside it, the
# pinned versions, go.mod and go.sum), and loaded into the engine when it
# lacks it; a fresh machine builds it once (a few minutes, mostly Go).
set -euo pipefail

engine=${1:?usage: node-image.sh podman|docker}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

# Pinned: the versions kind v0.33.0's own base image uses.
kind_version=v0.33.0
containerd_version=v2.3.4
crictl_version=v1.36.0
suite=bookworm
node_packages=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,e2fsprogs,bash,ca-certificates,curl,jq,procps,runc,containernetworking-plugins
proxy_packages=iptables,nftables,conntrack

say() { printf 'node-image: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}

k8s_version=$(awk '$1=="k8s.io/kubernetes" {print $2; exit}' "$here/go/go.mod")
[ -n "$k8s_version" ] || die "could not read the Kubernetes version from $here/go/go.mod"
key=$(cat "${BASH_SOURCE[0]}" "$here/go/go.mod" "$here/go/go.sum" "$here/go/pause/main.go" \
  "$here"/node/* "$repo/cluster/go/go.mod" "$repo/cluster/go/go.sum" |
  { cat; echo "$kind_version $containerd_version $crictl_version $suite $node_packages $proxy_packages"; } |
  sha256sum | cut -c1-12)
image="localhost/pv-lifecycle-kind-node:$k8s_version-$key"
cache_root="${PV_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pv-lifecycle-operator}"
archive="$cache_root/kind-node-$k8s_version-$key.tar"

if "$engine" image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
if [ -f "$archive" ]; then
  say "loading $image from $archive"
  "$engine" load -i "$archive" >&2
  echo "$image"
  exit 0
fi

for tool in go mmdebstrap; do
  command -v "$tool" >/dev/null || die "$tool is needed to build the node image (Debian: apt-get install golang mmdebstrap)"
done
started=$(date +%s)
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.kind-node-XXXXXX")
trap 'rm -rf "$work"' EXIT
bin="$work/bin"
mkdir -p "$bin" "$work/images"

say "building the Kubernetes $k8s_version node binaries, containerd $containerd_version and crictl $crictl_version"
control_plane=$(bash "$repo/cluster/build.sh" | tail -n 1)
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
(
  cd "$here/go"
  # The same version stamp cluster/build.sh gives the control plane: kubeadm
  # reads its own version to pick the images and the configuration API.
  minor=${k8s_version#v}; major=${minor%%.*}; minor=${minor#*.}; minor=${minor%%.*}
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-$k8s_version"
  done
  GOFLAGS="$GOFLAGS -mod=readonly" GOSUMDB=off go build -trimpath -ldflags "$ldflags" -o "$bin/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kube-proxy ./pause
) >&2
GOBIN="$bin" go install -trimpath -ldflags "-s -w" -tags "no_aufs no_zfs no_btrfs no_devmapper" \
  "github.com/containerd/containerd/v2/cmd/containerd@$containerd_version" \
  "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$containerd_version" \
  "github.com/containerd/containerd/v2/cmd/ctr@$containerd_version" >&2
GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$crictl_version" >&2
kind_files=$(cd "$here/go" && go mod download -json "sigs.k8s.io/kind@$kind_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')/images/base/files
[ -f "$kind_files/usr/local/bin/entrypoint" ] || die "kind's node files are missing from $kind_files"
for t in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd; do cp "$control_plane/bin/$t" "$bin/"; done

# --- The images the node runs, named as kubeadm and containerd expect ---------
# kubeadm names them; the sandbox image is the one kind's containerd config names.
mapfile -t wanted < <("$bin/kubeadm" config images list --kubernetes-version "$k8s_version" 2>/dev/null)
sandbox=$(sed -n 's/^ *sandbox_image *= *"\(.*\)"/\1/p' "$kind_files/etc/containerd/config.toml")
[ ${#wanted[@]} -gt 0 ] && [ -n "$sandbox" ] || die "could not read the image names from kubeadm and kind's containerd config"
ref_of() {
  local name=$1 ref
  for ref in "${wanted[@]}"; do [[ "$ref" == */"$name":* ]] && { echo "$ref"; return; }; done
  die "kubeadm names no $name image"
}
# A static binary on an empty file system: the control plane needs nothing else.
scratch_image() {
  local ref=$1 binary=$2 ctx
  ctx=$(mktemp -d "$work/ctx-XXXXXX")
  cp "$bin/$binary" "$ctx/"
  printf 'FROM scratch\nENV PATH=/usr/local/bin\nCOPY %s /usr/local/bin/%s\n' "$binary" "$binary" >"$ctx/Containerfile"
  "$engine" build -q -t "$ref" -f "$ctx/Containerfile" "$ctx" >/dev/null
}
for c in kube-apiserver kube-controller-manager kube-scheduler etcd; do scratch_image "$(ref_of "$c")" "$c"; done
ctx=$(mktemp -d "$work/ctx-XXXXXX")
cp "$bin/pause" "$ctx/"
printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
"$engine" build -q -t "$sandbox" -f "$ctx/Containerfile" "$ctx" >/dev/null
# kube-proxy programs the node's iptables, so it needs the iptables tools.
say "building kube-proxy's image (Debian $suite: $proxy_packages)"
mmdebstrap --quiet --variant=minbase --include="$proxy_packages" \
  --customize-hook="copy-in '$bin/kube-proxy' /usr/local/bin" \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/doc "$1"/usr/share/man' \
  "$suite" "$work/proxy.tar" >&2
"$engine" import -q "$work/proxy.tar" "$(ref_of kube-proxy)" >/dev/null
n=0
for ref in "$(ref_of kube-apiserver)" "$(ref_of kube-controller-manager)" "$(ref_of kube-scheduler)" \
  "$(ref_of etcd)" "$(ref_of kube-proxy)" "$sandbox"; do
  n=$((n + 1))
  "$engine" save -q --format docker-archive -o "$work/images/$n.tar" "$ref" 2>/dev/null ||
    "$engine" save -o "$work/images/$n.tar" "$ref"
  "$engine" rmi "$ref" >/dev/null 2>&1 || true
done

# --- The node's root file system ------------------------------------------------
say "building the node's root file system (Debian $suite from Debian's packages)"
# node/setup.sh does the steps of kind's base and node images on it.
mmdebstrap --quiet --variant=minbase --include="$node_packages" \
  --customize-hook="sh '$here/node/setup.sh' \"\$1\" '$k8s_version' '$kind_files' '$bin' '$work/images'" \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/doc "$1"/usr/share/man' \
  "$suite" "$work/node.tar" >&2

"$engine" import -q \
  --change 'ENV container=docker' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
  "$work/node.tar" "$image" >/dev/null
"$engine" save -o "$work/node-image.tar" "$image" >&2
mv "$work/node-image.tar" "$archive"
# Archives of earlier inputs are of no further use.
find "$cache_root" -maxdepth 1 -name 'kind-node-*.tar' ! -name "$(basename "$archive")" -delete
say "built $image in $(($(date +%s) - started)) s (cached in $archive)"
echo "$image"
