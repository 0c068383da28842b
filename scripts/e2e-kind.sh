#!/usr/bin/env bash
# The end-to-end specs (e2e/**/*.spec.ts) against a real cluster in kind:
# Kubernetes 1.36 with the in-tree PV binder off, an in-cluster NFS server
# that the nodes really mount, and the operator deployed from config/default
# with the image built from this checkout.
#
#   scripts/e2e-kind.sh                 create (or reuse) the cluster, run the specs, delete it
#   KEEP_CLUSTER=1 scripts/e2e-kind.sh  the same, but keep the cluster afterwards
#
# Needs a running Docker engine and kind (it says so and exits 2 at once when
# either is missing). Everything else comes from this repository: Node and
# the npm packages (scripts/ensure-node.sh, npm ci), and kubectl v1.36 (built
# by cluster/build.sh; set KUBECTL to use another).
#
# Settings (environment):
#   KIND_NODE_IMAGE    the node image, a Kubernetes 1.36 kindest/node pinned by digest
#   KIND_VERSION       the kind release that image was built for (a different kind only warns)
#   KIND_CLUSTER_NAME  pv-lifecycle-e2e
#   IMAGE              the operator image `make image` builds (pv-lifecycle-operator:dev)
#   KEEP_CLUSTER       1 keeps the cluster (and .e2e-kind/kubeconfig) after the run
#   E2E_POD_IMAGE      passed on to the specs (they default to busybox:1.37)
#
# Generated files go to .e2e-kind/ (ignored by git through its own .gitignore).
# The exit code is the specs' (mocha's), or 1 when setting up failed.
set -euo pipefail

KIND_VERSION=${KIND_VERSION:-v0.33.0}
# From the kind v0.33.0 release notes ("Images pre-built for this release").
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed}
CLUSTER_NAME=${KIND_CLUSTER_NAME:-pv-lifecycle-e2e}
IMAGE=${IMAGE:-pv-lifecycle-operator:dev}
KEEP_CLUSTER=${KEEP_CLUSTER:-0}
OPERATOR_NAMESPACE=pv-lifecycle-system
OPERATOR_DEPLOYMENT=pv-lifecycle-operator
NFS_NAMESPACE=nfs-server
NFS_ROOT=/exports
# Must match the image of e2e/kind/nfs-server.yaml.
NFS_IMAGE=pv-lifecycle-e2e-nfs:bookworm

say() { printf 'e2e-kind: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}
# `timeout` where there is one (Linux), so a hung engine cannot hang the check.
with_timeout() {
  local seconds=$1
  shift
  if command -v timeout >/dev/null; then timeout "$seconds" "$@"; else "$@"; fi
}

# --- What this needs from the machine: checked first, in seconds -------------
missing=()
if ! command -v docker >/dev/null; then
  missing+=("a Docker engine: the docker command is not installed (Docker Engine or Docker Desktop)")
elif ! with_timeout 30 docker info >/dev/null 2>&1; then
  missing+=("a running Docker engine: the docker CLI is installed, but 'docker info' fails, so no engine answers (start the daemon, or check DOCKER_HOST and your permission on its socket)")
fi
if ! command -v kind >/dev/null || ! kind version >/dev/null 2>&1; then
  missing+=("kind $KIND_VERSION: go install sigs.k8s.io/kind@$KIND_VERSION (it lands in \$(go env GOPATH)/bin; put that on PATH)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "e2e-kind: the kind end-to-end run needs a running Docker engine and kind; this machine lacks:"
    for m in "${missing[@]}"; do echo "  - $m"; done
    echo "Nothing was started. (Without Docker, the same specs run against the local control plane: make e2e.)"
  } >&2
  exit 2
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[ -f .mocharc.e2e.json ] || die "the specs' mocha configuration .mocharc.e2e.json is missing from $repo"

kind_version=$(kind version | awk '{print $2}')
if [ "$kind_version" != "$KIND_VERSION" ]; then
  say "warning: kind is $kind_version, but $KIND_NODE_IMAGE was built for kind $KIND_VERSION;"
  say "  if the cluster does not come up: go install sigs.k8s.io/kind@$KIND_VERSION"
fi

work="$repo/.e2e-kind"
mkdir -p "$work/overlay"
printf '*\n' >"$work/.gitignore"
kubeconfig="$work/kubeconfig"

# --- Node, npm packages and kubectl, from this repository ---------------------
node_bin=$(scripts/ensure-node.sh) || die "could not provide Node >= 22.19 (see above)"
export PATH="$node_bin:$PATH"
if [ ! -f node_modules/.installed ] || [ package.json -nt node_modules/.installed ] ||
  [ package-lock.json -nt node_modules/.installed ]; then
  say "installing the npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.installed
fi
if [ -z "${KUBECTL:-}" ]; then
  say "finding kubectl v1.36 (cluster/build.sh builds it once, then reuses its cache)"
  cache_dir=$(bash cluster/build.sh | tail -n 1) || die "could not build kubectl (see above); or set KUBECTL to a kubectl >= 1.35"
  KUBECTL="$cache_dir/bin/kubectl"
fi
[ -x "$KUBECTL" ] || command -v "$KUBECTL" >/dev/null || die "KUBECTL=$KUBECTL is not an executable"
k() { "$KUBECTL" --kubeconfig "$kubeconfig" "$@"; }

# --- Images: the operator (make image) and the NFS server ---------------------
say "building the operator image $IMAGE (make image)"
make --no-print-directory image IMAGE="$IMAGE"
# A tag per build, so a reused cluster rolls the Deployment when the code changed.
image_id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
image_id=${image_id#sha256:}
image_name=${IMAGE%:*}
[[ "$IMAGE" == *:* && "${IMAGE##*:}" != */* ]] || image_name=$IMAGE
operator_image="$image_name:e2e-${image_id:0:12}"
docker tag "$IMAGE" "$operator_image"

say "building the NFS server image $NFS_IMAGE (Debian's nfs-ganesha)"
docker build -t "$NFS_IMAGE" - >&2 <<'EOF'
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nfs-ganesha nfs-ganesha-vfs \
 && rm -rf /var/lib/apt/lists/*
EOF

# --- The cluster ---------------------------------------------------------------
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$status" -ne 0 ]; then
    local logs
    logs=$(mktemp -d "${TMPDIR:-/tmp}/pv-lifecycle-e2e-logs.XXXXXX")
    # Every replica's log, not only the one `logs deployment/...` would pick.
    k -n "$OPERATOR_NAMESPACE" logs -l app.kubernetes.io/name=pv-lifecycle-operator --all-containers \
      --prefix --tail=-1 >"$logs/operator.log" 2>&1 || true
    k get nodes,pods,pv,pvc,jobs -A -o wide >"$logs/objects.txt" 2>&1 || true
    k get nfsexports -o wide >>"$logs/objects.txt" 2>&1 || true
    k get events -A --sort-by=.lastTimestamp >"$logs/events.txt" 2>&1 || true
    kind export logs "$logs/kind" --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
    say "failed (exit $status); operator logs, objects and node logs are in $logs"
  fi
  if [ "$KEEP_CLUSTER" = 1 ]; then
    say "kept the cluster $CLUSTER_NAME: export KUBECONFIG=$kubeconfig"
    say "  delete it with: kind delete cluster --name $CLUSTER_NAME"
  else
    say "deleting the cluster $CLUSTER_NAME (KEEP_CLUSTER=1 keeps it)"
    kind delete cluster --name "$CLUSTER_NAME" --kubeconfig "$kubeconfig" >/dev/null 2>&1 ||
      say "warning: could not delete the cluster; run: kind delete cluster --name $CLUSTER_NAME"
    rm -f "$kubeconfig"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  say "reusing the existing kind cluster $CLUSTER_NAME"
else
  say "creating the kind cluster $CLUSTER_NAME ($KIND_NODE_IMAGE)"
  kind create cluster --name "$CLUSTER_NAME" --config e2e/kind/cluster.yaml --image "$KIND_NODE_IMAGE" \
    --kubeconfig "$kubeconfig" --wait 180s
fi
kind get kubeconfig --name "$CLUSTER_NAME" >"$kubeconfig"
k wait --for=condition=Ready nodes --all --timeout=180s >/dev/null

# A kind release that renders another kubeadm API version than the patches name
# skips them silently; the binder would then still be on. Stop here if so.
if ! docker exec "$CLUSTER_NAME-control-plane" \
  grep -q -- '-persistentvolume-binder-controller' /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  die "kube-controller-manager still runs the in-tree PV binder: this kind ($kind_version) applied neither kubeadm patch of e2e/kind/cluster.yaml; use kind $KIND_VERSION"
fi

# kindest/node images ship nfs-common; install it only where mount.nfs is missing.
nodes=()
while IFS= read -r node; do nodes+=("$node"); done < <(kind get nodes --name "$CLUSTER_NAME")
[ ${#nodes[@]} -gt 0 ] || die "kind lists no nodes for the cluster $CLUSTER_NAME"
for node in "${nodes[@]}"; do
  if ! docker exec "$node" sh -c 'command -v mount.nfs' >/dev/null 2>&1; then
    say "installing nfs-common on $node"
    docker exec "$node" bash -c \
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nfs-common >/dev/null'
  fi
done

# The images, into every node. `kind load docker-image` fails on images from
# Docker's containerd image store (kind issue 3795); the documented way around
# it is a single-platform archive.
load_image() {
  local image=$1 archive
  if kind load docker-image --name "$CLUSTER_NAME" "$image" >/dev/null 2>&1; then return 0; fi
  say "kind load docker-image $image failed; loading a single-platform archive instead"
  archive="$work/image.tar"
  docker image save --platform "linux/$(docker version -f '{{.Server.Arch}}')" -o "$archive" "$image"
  kind load image-archive --name "$CLUSTER_NAME" "$archive"
  rm -f "$archive"
}
say "loading $operator_image and $NFS_IMAGE into the nodes"
load_image "$operator_image"
load_image "$NFS_IMAGE"
# The specs' pods and the scrub Jobs' default image, loaded now rather than
# pulled from a registry in the middle of a spec.
for extra in busybox:1.37 ${E2E_POD_IMAGE:+"$E2E_POD_IMAGE"}; do
  docker image inspect "$extra" >/dev/null 2>&1 || docker pull "$extra"
  load_image "$extra"
done

# --- The NFS server --------------------------------------------------------------
say "starting the NFS server (namespace $NFS_NAMESPACE)"
k apply -f e2e/kind/nfs-server.yaml >/dev/null
k -n "$NFS_NAMESPACE" rollout status deployment/nfs-server --timeout=180s
nfs_server=$(k -n "$NFS_NAMESPACE" get service nfs-server -o jsonpath='{.spec.clusterIP}')
[ -n "$nfs_server" ] || die "the nfs-server Service has no ClusterIP"

# Each node mounts the export as its kubelet will, so a host kernel without an
# NFS client shows here, in one clear line, rather than as pods stuck in
# ContainerCreating. Soft, with a short timeout, so it cannot hang.
say "checking that the nodes can mount $nfs_server:$NFS_ROOT"
# shellcheck disable=SC2016 # expanded by the node's shell
mount_check='set -e; d=$(mktemp -d); trap "umount -f $d 2>/dev/null || true; rmdir $d" EXIT
mount -t nfs -o nfsvers=4.1,soft,timeo=50,retrans=2 "$1" "$d"; touch "$d/.e2e-kind-check"; rm "$d/.e2e-kind-check"'
for node in "${nodes[@]}"; do
  mounted=0
  for _ in 1 2 3 4 5; do
    if docker exec "$node" timeout 40 sh -c "$mount_check" sh "$nfs_server:$NFS_ROOT"; then
      mounted=1
      break
    fi
    sleep 5
  done
  [ "$mounted" = 1 ] || die "node $node cannot mount $nfs_server:$NFS_ROOT (see the mount error above);" \
    "the nodes use the host's kernel NFS client: on Linux, modprobe nfs and nfsv4 on the host"
done

# --- The operator ----------------------------------------------------------------
say "deploying the operator ($operator_image) from config/default"
cat >"$work/overlay/kustomization.yaml" <<EOF
# Generated by scripts/e2e-kind.sh: config/default with the image built from this checkout.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../config/default
images:
  - name: pv-lifecycle-operator
    newName: $image_name
    newTag: ${operator_image##*:}
EOF
# The CRD first, so the rest never races its establishment.
k apply -k config/crd >/dev/null
k wait --for=condition=Established crd/nfsexports.pvlifecycle.io --timeout=60s >/dev/null
k apply -k "$work/overlay" >/dev/null
k -n "$OPERATOR_NAMESPACE" rollout status "deployment/$OPERATOR_DEPLOYMENT" --timeout=300s
leader=""
for _ in $(seq 60); do
  leader=$(k -n "$OPERATOR_NAMESPACE" get lease "$OPERATOR_DEPLOYMENT" \
    -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)
  [ -n "$leader" ] && break
  sleep 2
done
[ -n "$leader" ] || die "no replica took the Lease $OPERATOR_NAMESPACE/$OPERATOR_DEPLOYMENT within 120 s"
say "leader: $leader"

# --- The specs -------------------------------------------------------------------
say "running the specs (npx mocha --config .mocharc.e2e.json; NFS server $nfs_server:$NFS_ROOT)"
set +e
KUBECONFIG="$kubeconfig" \
  E2E_OPERATOR_NAMESPACE="$OPERATOR_NAMESPACE" \
  E2E_NFS_SERVER="$nfs_server" \
  E2E_NFS_ROOT="$NFS_ROOT" \
  E2E_REAL_PODS=1 \
  npx mocha --config .mocharc.e2e.json
status=$?
set -e
exit "$status"
