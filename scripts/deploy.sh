#!/usr/bin/env bash
# `make deploy` / `make undeploy`: the operator into the cluster of KUBECONFIG
# (or ~/.kube/config), with kustomize: config/default plus the image to run
# (config/managed with DEPLOY_VARIANT=managed: beside the in-tree PV binder).
#
#   scripts/deploy.sh deploy IMAGE     apply, then wait for the rollout and the Lease
#   scripts/deploy.sh undeploy         remove the Deployment, Service and RBAC; keep the
#                                      CRD, the NfsExports and every volume
#
# kubectl: $KUBECTL, else kubectl on PATH, else the one the local control plane
# build provides (cluster/build.sh). DEPLOY_LEASE_WAIT: seconds to wait for a
# replica to take the Lease (60).
set -euo pipefail
cd "$(dirname "$0")/.."

kubectl_bin() {
  if [ -n "${KUBECTL:-}" ]; then echo "$KUBECTL"; return; fi
  if command -v kubectl >/dev/null; then command -v kubectl; return; fi
  echo "$(bash cluster/build.sh)/bin/kubectl"
}
K=$(kubectl_bin)
ns=pv-lifecycle-system

if ! "$K" version --request-timeout=10s >/dev/null 2>&1; then
  echo "deploy.sh: no cluster answers for kubectl (KUBECONFIG=${KUBECONFIG:-~/.kube/config}); set KUBECONFIG to the cluster to use." >&2
  exit 2
fi

case "${1:-}" in
deploy)
  image=${2:?usage: $0 deploy IMAGE}
  name=${image%:*}
  tag=${image##*:}
  [ "$name" != "$image" ] || tag=latest
  variant=${DEPLOY_VARIANT:-default}
  case "$variant" in
  default | managed) ;;
  *)
    echo "deploy.sh: DEPLOY_VARIANT must be default or managed, not \"${variant:0:40}\"" >&2
    exit 2
    ;;
  esac
  mkdir -p .deploy
  cat >.deploy/kustomization.yaml <<YAML
# Written by scripts/deploy.sh: config/$variant with the image to run.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../config/$variant
images:
  - name: pv-lifecycle-operator
    newName: $name
    newTag: "$tag"
YAML
  echo "Deploying $image to $("$K" config current-context 2>/dev/null || echo 'the current cluster')"
  if [ "$variant" = managed ]; then
    echo "Variant managed: the operator runs without its binder (--controllers=*,-binder), beside the cluster's own."
  else
    echo "Remember: its kube-controller-manager must run with --controllers=*,-persistentvolume-binder-controller (else: VARIANT=managed)."
  fi
  "$K" apply -k .deploy
  "$K" wait --for=condition=Established crd/nfsexports.pvlifecycle.io --timeout=60s
  if ! "$K" -n "$ns" rollout status deployment/pv-lifecycle-operator --timeout=180s; then
    "$K" -n "$ns" get pods -o wide >&2 || true
    echo "deploy.sh: the rollout did not finish; is $image pullable by the nodes (kind: kind load docker-image $image)?" >&2
    exit 1
  fi
  holder=""
  for _ in $(seq "${DEPLOY_LEASE_WAIT:-60}"); do
    holder=$("$K" -n "$ns" get lease pv-lifecycle-operator -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null || true)
    [ -n "$holder" ] && break
    sleep 1
  done
  "$K" -n "$ns" get deployment,pods,service
  echo "Leader: ${holder:-none yet}. Next: kubectl apply -f config/samples/ && kubectl get nfsexports,pv,pvc -A"
  ;;
undeploy)
  "$K" -n "$ns" delete deployment/pv-lifecycle-operator service/pv-lifecycle-operator-metrics \
    poddisruptionbudget/pv-lifecycle-operator networkpolicy/pv-lifecycle-operator --ignore-not-found
  "$K" delete -k config/rbac --ignore-not-found
  echo "Removed the operator. Kept: the CRD, NfsExports and volumes (deleting the CRD deletes every NfsExport)."
  ;;
*)
  echo "usage: $0 deploy IMAGE | undeploy" >&2
  exit 2
  ;;
esac
