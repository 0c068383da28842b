# Sourced by scripts/image.sh and scripts/e2e-kind.sh: picks the container
# engine. ENGINE names one; otherwise docker where its daemon answers, else
# podman. Podman gets e2e/kind/containers.conf (runc, ulimits a sandbox
# allows) unless CONTAINERS_CONF is set already. Sets ENGINE, or leaves it
# empty and sets ENGINE_MISSING to why.

with_timeout() {
  local seconds=$1
  shift
  if command -v timeout >/dev/null; then timeout "$seconds" "$@"; else "$@"; fi
}

pick_engine() {
  local e repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  ENGINE_MISSING=""
  if [ -z "${ENGINE:-}" ]; then
    for e in docker podman; do
      command -v "$e" >/dev/null || continue
      if [ "$e" = podman ]; then export CONTAINERS_CONF=${CONTAINERS_CONF:-$repo/e2e/kind/containers.conf}; fi
      if with_timeout 30 "$e" info >/dev/null 2>&1; then
        ENGINE=$e
        break
      fi
      ENGINE_MISSING+="$e is installed, but '$e info' fails (is its daemon or socket running?); "
    done
  else
    if [ "$ENGINE" = podman ]; then export CONTAINERS_CONF=${CONTAINERS_CONF:-$repo/e2e/kind/containers.conf}; fi
    if ! command -v "$ENGINE" >/dev/null || ! with_timeout 30 "$ENGINE" info >/dev/null 2>&1; then
      ENGINE_MISSING="ENGINE=$ENGINE does not answer ('$ENGINE info' fails); "
      ENGINE=""
    fi
  fi
  if [ -z "${ENGINE:-}" ]; then
    ENGINE=""
    ENGINE_MISSING+="no container engine answers: install Docker, or podman with runc (apt-get install podman runc)"
  elif [ "$ENGINE" = podman ] && ! command -v runc >/dev/null && [ "$CONTAINERS_CONF" = "$repo/e2e/kind/containers.conf" ]; then
    ENGINE_MISSING="podman answers, but runc, the runtime e2e/kind/containers.conf selects, is missing (apt-get install runc)"
    ENGINE=""
  fi
}
