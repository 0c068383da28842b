#!/usr/bin/env bash
# The end-to-end specs (e2e/**/*.spec.ts) against a real cluster in kind:
# Kubernetes 1.36 with the in-tree PV binder off, an in-cluster NFS server
# that the nodes really mount, and the operator deployed from config/default
# with the image built from this checkout.
#
#   scripts/e2e-kind.sh                 create (or reuse) the cluster, run the specs, delete it
#   KEEP_CLUSTER=1 scripts/e2e-kind.sh  the same, but keep the cluster afterwards
#
# Needs a container engine: Docker, or podman (kind's podman provider; rootful,
# with runc: scripts/engine.sh). Without one it says so and exits 2 at once.
# Everything else comes from this repository or the registries it uses: kind
# (built with Go when the one on PATH is not $KIND_VERSION), Node and the npm
# packages, kubectl v1.36 (cluster/build.sh). Where kindest/node cannot be
# pulled (no registry), the node image is built here (e2e/kind/node-image.sh),
# and so are the operator's base (scripts/node-base-image.sh) and the busybox
# image the specs' pods and the scrubs run (from Debian's busybox-static).
#
# NFS: the nodes mount with the host kernel's NFS client. Where the kernel has
# none (/proc/filesystems lists no nfs), no NFS server is started and the NFS
# specs say why they are skipped; the hostPath specs run either way.
#
# Settings (environment):
#   KIND_NODE_IMAGE    the node image (default: kindest/node v1.36 pinned by
#                      digest where it can be pulled, else one built here)
#   KIND_VERSION       the kind release (v0.33.0)
#   KIND_CLUSTER_NAME  pv-lifecycle-e2e
#   IMAGE              the operator image to build (pv-lifecycle-operator:dev)
#   ENGINE             docker or podman (default: whichever answers)
#   KEEP_CLUSTER       1 keeps the cluster (and .e2e-kind/kubeconfig) after the run
#   E2E_POD_IMAGE      the specs' pod image (busybox:1.37, or the one built here)
#
# Generated files go to .e2e-kind/ (ignored by git through its own .gitignore).
# The exit code is the specs' (mocha's), or 1 when setting up failed.
set -euo pipefail

KIND_VERSION=${KIND_VERSION:-v0.33.0}
# From the kind v0.33.0 release notes ("Images pre-built for this release").
public_node_image=kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed
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
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/engine.sh
. scripts/engine.sh

# --- What this needs from the machine: checked first, in seconds -------------
pick_engine
if [ -z "$ENGINE" ]; then
  {
    echo "e2e-kind: the kind end-to-end run needs a container engine; $ENGINE_MISSING."
    echo "Nothing was started. (Without one, the same specs run against the local control plane: make e2e.)"
  } >&2
  exit 2
fi
engine=$ENGINE
if [ "$engine" = podman ]; then
  export KIND_EXPERIMENTAL_PROVIDER=podman
  [ "$(id -u)" = 0 ] || die "kind's podman provider needs rootful podman here: run as root"
fi
[ -f .mocharc.e2e.json ] || die "the specs' mocha configuration .mocharc.e2e.json is missing from $repo"

cache_root="${PV_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pv-lifecycle-operator}"
kind_bin=kind
if ! command -v kind >/dev/null || [ "$(kind version 2>/dev/null | awk '{print $2}')" != "$KIND_VERSION" ]; then
  kind_bin="$cache_root/kind-$KIND_VERSION/kind"
  if [ ! -x "$kind_bin" ]; then
    command -v go >/dev/null || die "kind $KIND_VERSION is not on PATH, and Go is needed to build it"
    say "building kind $KIND_VERSION (go install, into $(dirname "$kind_bin"))"
    GOBIN="$(dirname "$kind_bin")" CGO_ENABLED=0 go install "sigs.k8s.io/kind@$KIND_VERSION" >&2
  fi
fi
kind() { "$kind_bin" "$@"; }
# kind mounts the host's /lib/modules into each node; a kernel built without
# modules (this project's CI VMs) has none, so an empty one stands in.
if [ ! -d /lib/modules ]; then
  [ "$(id -u)" = 0 ] || die "/lib/modules is missing, and kind mounts it into its nodes: create it (empty is enough)"
  say "creating an empty /lib/modules (kind mounts it into its nodes)"
  mkdir -p /lib/modules
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

# --- Images ----------------------------------------------------------------------
# Pulled where a registry answers, built here where none does.
can_pull() { "$engine" image inspect "$1" >/dev/null 2>&1 || with_timeout 180 "$engine" pull -q "$1" >/dev/null 2>&1; }
# The reference a node's containerd knows an engine's local image by.
qualified() {
  case "$1" in
    */*/* | localhost/*) echo "$1" ;;
    */*) echo "docker.io/$1" ;;
    *) if [ "$engine" = podman ]; then echo "localhost/$1"; else echo "docker.io/library/$1"; fi ;;
  esac
}

say "building the operator image $IMAGE (scripts/image.sh)"
ENGINE=$engine bash scripts/image.sh "$IMAGE" >/dev/null
# A tag per build, so a reused cluster rolls the Deployment when the code changed.
image_id=$("$engine" image inspect -f '{{.Id}}' "$IMAGE")
image_id=${image_id#sha256:}
image_name=$(qualified "${IMAGE%:*}")
operator_image="$image_name:e2e-${image_id:0:12}"
"$engine" tag "$IMAGE" "$operator_image"

node_image=${KIND_NODE_IMAGE:-}
local_node=0
if [ -z "$node_image" ]; then
  if can_pull "$public_node_image"; then
    node_image=$public_node_image
  else
    say "$public_node_image cannot be pulled here; building a node image (e2e/kind/node-image.sh)"
    node_image=$(bash e2e/kind/node-image.sh "$engine" | tail -n 1)
    local_node=1
  fi
fi

pod_image=${E2E_POD_IMAGE:-busybox:1.37}
recycler_image=""
if ! can_pull "$pod_image"; then
  # Debian's static busybox, alone on an empty file system: the scrub script
  # is tested against busybox (the integration tests run it under Debian's).
  busybox=$(command -v busybox || true)
  if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    die "$pod_image cannot be pulled, and no static busybox is here to build one (apt-get install busybox-static)"
  fi
  version=$("$busybox" 2>&1 | sed -n '1s/^BusyBox v\([0-9.]*\).*/\1/p')
  pod_image="localhost/pv-lifecycle-busybox:${version:-debian}"
  say "$pod_image: Debian's busybox-static as an image (${E2E_POD_IMAGE:-busybox:1.37} cannot be pulled)"
  ctx=$(mktemp -d "$work/busybox-XXXXXX")
  cp "$busybox" "$ctx/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$ctx/Containerfile"
  "$engine" build -q -t "$pod_image" "$ctx" >/dev/null
  rm -rf "$ctx"
  recycler_image=$pod_image
fi
pod_image=$(qualified "$pod_image")

# NFS needs the host kernel's client: the nodes share its kernel.
nfs_skip=""
if ! grep -qE '[[:space:]]nfs4?$' /proc/filesystems 2>/dev/null; then
  nfs_skip="the host kernel has no NFS client (/proc/filesystems lists no nfs), so no node can mount an export"
elif ! can_pull debian:bookworm-slim; then
  nfs_skip="debian:bookworm-slim, the NFS server image's base, cannot be pulled here"
else
  say "building the NFS server image $NFS_IMAGE (Debian's nfs-ganesha)"
  printf '%s\n' 'FROM debian:bookworm-slim' \
    'RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nfs-ganesha nfs-ganesha-vfs && rm -rf /var/lib/apt/lists/*' |
    "$engine" build -t "$NFS_IMAGE" - >&2
fi
[ -z "$nfs_skip" ] || say "NFS specs will be skipped: $nfs_skip"

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

config="$work/cluster.yaml"
cp e2e/kind/cluster.yaml "$config"
if [ "$local_node" = 1 ]; then
  # The node built here has no CoreDNS image (no registry to pull one from),
  # and nothing in the run resolves names: skip the add-on rather than leave
  # its pods pulling from a registry for ever.
  printf '%s\n' '  - |' '    apiVersion: kubeadm.k8s.io/v1beta4' '    kind: InitConfiguration' \
    '    skipPhases: [preflight, addon/coredns]' >>"$config"
fi
# A cluster left by a run that was cut off (or a reboot) may have stopped
# nodes: kind still lists it, but nothing can exec into them. Such a cluster
# is deleted and made anew rather than reused.
cluster_running() {
  local node state
  while IFS= read -r node; do
    state=$("$engine" inspect -f '{{.State.Running}}' "$node" 2>/dev/null) || return 1
    [ "$state" = true ] || return 1
  done < <(kind get nodes --name "$CLUSTER_NAME" 2>/dev/null)
  [ -n "$(kind get nodes --name "$CLUSTER_NAME" 2>/dev/null)" ]
}
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME" && ! cluster_running; then
  say "the existing kind cluster $CLUSTER_NAME has stopped nodes: deleting it to create it anew"
  kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
fi
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  say "reusing the existing kind cluster $CLUSTER_NAME"
else
  say "creating the kind cluster $CLUSTER_NAME ($node_image, $engine)"
  kind create cluster --name "$CLUSTER_NAME" --config "$config" --image "$node_image" \
    --kubeconfig "$kubeconfig" --wait 240s
fi
kind get kubeconfig --name "$CLUSTER_NAME" >"$kubeconfig"
k wait --for=condition=Ready nodes --all --timeout=180s >/dev/null

# A kind release that renders another kubeadm API version than the patches name
# skips them silently; the binder would then still be on. Stop here if so.
if ! "$engine" exec "$CLUSTER_NAME-control-plane" \
  grep -q -- '-persistentvolume-binder-controller' /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  die "kube-controller-manager still runs the in-tree PV binder: this kind applied neither kubeadm patch of e2e/kind/cluster.yaml; use kind $KIND_VERSION"
fi

nodes=()
while IFS= read -r node; do nodes+=("$node"); done < <(kind get nodes --name "$CLUSTER_NAME")
[ ${#nodes[@]} -gt 0 ] || die "kind lists no nodes for the cluster $CLUSTER_NAME"

# The images, into every node, as archives (kind load docker-image fails on
# images from Docker's containerd image store, kind issue 3795, and podman
# has no docker-image to load).
load_image() {
  local image=$1 archive="$work/image.tar"
  rm -f "$archive"
  if [ "$engine" = docker ]; then
    docker image save --platform "linux/$(docker version -f '{{.Server.Arch}}')" -o "$archive" "$image"
  else
    podman save -q --format docker-archive -o "$archive" "$image"
  fi
  kind load image-archive --name "$CLUSTER_NAME" "$archive" >&2
  rm -f "$archive"
}
say "loading $operator_image and $pod_image into the nodes"
load_image "$operator_image"
load_image "$pod_image"

# --- The NFS server --------------------------------------------------------------
nfs_server=""
if [ -z "$nfs_skip" ]; then
  # kindest/node images ship nfs-common; install it only where mount.nfs is missing.
  for node in "${nodes[@]}"; do
    if ! "$engine" exec "$node" sh -c 'command -v mount.nfs' >/dev/null 2>&1; then
      say "installing nfs-common on $node"
      "$engine" exec "$node" bash -c \
        'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nfs-common >/dev/null'
    fi
  done
  load_image "$NFS_IMAGE"
  say "starting the NFS server (namespace $NFS_NAMESPACE)"
  k apply -f e2e/kind/nfs-server.yaml >/dev/null
  k -n "$NFS_NAMESPACE" rollout status deployment/nfs-server --timeout=180s
  nfs_server=$(k -n "$NFS_NAMESPACE" get service nfs-server -o jsonpath='{.spec.clusterIP}')
  [ -n "$nfs_server" ] || die "the nfs-server Service has no ClusterIP"

  # Each node mounts the export as its kubelet will, so a mount that cannot
  # work shows here, in one clear line, rather than as pods stuck in
  # ContainerCreating. Soft, with a short timeout, so it cannot hang.
  say "checking that the nodes can mount $nfs_server:$NFS_ROOT"
  # shellcheck disable=SC2016 # expanded by the node's shell
  mount_check='set -e; d=$(mktemp -d); trap "umount -f $d 2>/dev/null || true; rmdir $d" EXIT
mount -t nfs -o nfsvers=4.1,soft,timeo=50,retrans=2 "$1" "$d"; touch "$d/.e2e-kind-check"; rm "$d/.e2e-kind-check"'
  for node in "${nodes[@]}"; do
    mounted=0
    for _ in 1 2 3 4 5; do
      if "$engine" exec "$node" timeout 40 sh -c "$mount_check" sh "$nfs_server:$NFS_ROOT"; then
        mounted=1
        break
      fi
      sleep 5
    done
    [ "$mounted" = 1 ] || die "node $node cannot mount $nfs_server:$NFS_ROOT (see the mount error above);" \
      "the nodes use the host's kernel NFS client: on Linux, modprobe nfs and nfsv4 on the host"
  done
fi

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
# Arguments the run adds to the operator's.
extra_args=()
if [ -n "$nfs_skip" ]; then
  # No NFS server runs: the exports name one under example.com, which nothing
  # may contact, so the operator's probes are off.
  nfs_server=nfs.e2e.example.com
  extra_args+=(--probe-interval=0)
fi
if [ -n "$recycler_image" ]; then
  # busybox:1.37 cannot be pulled here: the scrubs run the image built above,
  # through the operator's recycler template (its default one, image aside).
  extra_args+=(--recycler-pod-template-configmap=pv-lifecycle-recycler)
  cat >>"$work/overlay/kustomization.yaml" <<EOF
configMapGenerator:
  - name: pv-lifecycle-recycler
    namespace: $OPERATOR_NAMESPACE
    options:
      disableNameSuffixHash: true
    files:
      - template.yaml
EOF
  cat >"$work/overlay/template.yaml" <<EOF
# The operator's default scrub template (src/reclaim/template.ts) with the
# busybox image scripts/e2e-kind.sh built.
spec:
  automountServiceAccountToken: false
  containers:
    - name: scrub
      image: $recycler_image
      imagePullPolicy: IfNotPresent
      resources:
        requests: { cpu: 10m, memory: 16Mi }
        limits: { memory: 64Mi }
      securityContext:
        runAsUser: 0
        runAsGroup: 0
        runAsNonRoot: false
        privileged: false
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: { drop: [ALL], add: [DAC_OVERRIDE, FOWNER] }
        seccompProfile: { type: RuntimeDefault }
EOF
fi
if [ ${#extra_args[@]} -gt 0 ]; then
  {
    printf '%s\n' 'patches:' '  - target:' '      kind: Deployment' "      name: $OPERATOR_DEPLOYMENT" '    patch: |'
    for arg in "${extra_args[@]}"; do
      printf '%s\n' '      - op: add' '        path: /spec/template/spec/containers/0/args/-' "        value: $arg"
    done
  } >>"$work/overlay/kustomization.yaml"
fi
# The CRDs first, as users install them, so the rest never races their establishment.
k apply -f crds/ >/dev/null
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
# The replicas run as the manifests describe: not root, and unable to write
# their root file system.
for pod in $(k -n "$OPERATOR_NAMESPACE" get pods -l app.kubernetes.io/name=pv-lifecycle-operator -o name); do
  uid=$(k -n "$OPERATOR_NAMESPACE" exec "$pod" -- id -u) || die "cannot run id in $pod"
  [ "$uid" = 1000 ] || die "$pod runs as uid $uid, not 1000"
  if k -n "$OPERATOR_NAMESPACE" exec "$pod" -- sh -c ': >/app/written' 2>/dev/null; then
    die "$pod can write its root file system"
  fi
done
say "both replicas run as uid 1000 on a read-only root file system"

# --- The specs -------------------------------------------------------------------
say "running the specs (npx mocha --config .mocharc.e2e.json)"
set +e
KUBECONFIG="$kubeconfig" \
  E2E_OPERATOR_NAMESPACE="$OPERATOR_NAMESPACE" \
  E2E_NFS_SERVER="$nfs_server" \
  E2E_NFS_ROOT="$NFS_ROOT" \
  E2E_NFS_SKIP="$nfs_skip" \
  E2E_REAL_PODS=1 \
  E2E_KUBECTL="$KUBECTL" \
  E2E_POD_IMAGE="$pod_image" \
  E2E_HOSTPATH_ROOT=/var/local/pv-lifecycle-e2e \
  npx mocha --config .mocharc.e2e.json
status=$?
set -e
exit "$status"
