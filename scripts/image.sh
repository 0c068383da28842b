#!/usr/bin/env bash
# Builds the operator image from the Dockerfile with docker or podman.
#
#   scripts/image.sh IMAGE    prints the engine it used as its last line
#
# The base is node:24-bookworm-slim where the engine has it or can pull it;
# otherwise (no registry) scripts/node-base-image.sh builds one here. BASE
# names another. ENGINE picks the engine (else the first of docker, podman
# that answers; scripts/engine.sh). Where NODE_EXTRA_CA_CERTS is set (a TLS-inspecting proxy),
# npm in the build stage trusts it too, through a build secret.
set -euo pipefail

image=${1:?usage: image.sh IMAGE}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/engine.sh
. "$here/engine.sh"
pick_engine
if [ -z "$ENGINE" ]; then
  echo "image.sh: building the image needs a container engine: $ENGINE_MISSING" >&2
  exit 2
fi
engine=$ENGINE

base=${BASE:-}
if [ -z "$base" ]; then
  base=node:24-bookworm-slim
  if ! "$engine" image inspect "$base" >/dev/null 2>&1 &&
    ! with_timeout 120 "$engine" pull -q "$base" >/dev/null 2>&1; then
    echo "image.sh: $base cannot be pulled here; building a base from Debian's packages instead" >&2
    base=$(bash "$here/node-base-image.sh" "$engine" | tail -n 1)
  fi
fi

args=(build -t "$image" --build-arg "BASE=$base")
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  args+=(--secret "id=extra-ca,src=$NODE_EXTRA_CA_CERTS")
fi
echo "image.sh: building $image with $engine on $base" >&2
"$engine" "${args[@]}" "$(dirname "$here")" >&2
echo "$engine"
