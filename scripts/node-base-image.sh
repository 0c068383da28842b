#!/usr/bin/env bash
# Builds the operator image's base where node:24-bookworm-slim cannot be
# pulled (no registry): Debian bookworm from Debian's packages (mmdebstrap)
# with the Node 24 LTS that scripts/ensure-node.sh takes from the npm registry
# and checks, npm (pinned below, from the registry), and the unprivileged user
# node (1000:1000) the Dockerfile runs as, like the official image.
#
#   scripts/node-base-image.sh ENGINE    prints the image reference as its last line
#
# Kept in ENGINE's store, keyed by the Node version and this script.
set -euo pipefail

npm_version=11.19.1

engine=${1:?usage: node-base-image.sh podman|docker}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
node_bin=$(PV_OPERATOR_FORCE_NODE=1 "$here/ensure-node.sh")
node_dir=$(dirname "$node_bin")
version=$("$node_bin/node" --version)
key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-8)
image="localhost/pv-lifecycle-node-base:${version#v}-bookworm-$key"

if "$engine" image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
command -v mmdebstrap >/dev/null || {
  echo "node-base-image.sh: mmdebstrap is needed to build the base image (Debian: apt-get install mmdebstrap)" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "node-base-image.sh: building $image (Debian bookworm, Node $version, npm $npm_version)" >&2
# npm checks the tarball against the registry's integrity record.
(cd "$work" && PATH="$node_bin:$PATH" npm pack --silent "npm@$npm_version" >/dev/null)
mkdir -p "$work/npm"
tar -xzf "$work/npm-$npm_version.tgz" -C "$work/npm"
# shellcheck disable=SC2016 # $1 is the root file system, expanded by mmdebstrap's hook shell
mmdebstrap --quiet --variant=minbase --include=ca-certificates \
  --customize-hook="cp -a '$node_dir/bin/node' \"\$1/usr/local/bin/\" && mkdir -p \"\$1/usr/local/lib/node_modules\" && cp -a '$work/npm/package' \"\$1/usr/local/lib/node_modules/npm\"" \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1"/usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1"/usr/local/bin/npx' \
  --customize-hook='chroot "$1" groupadd --gid 1000 node && chroot "$1" useradd --uid 1000 --gid node --shell /bin/sh --create-home node' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/doc "$1"/usr/share/man' \
  bookworm "$work/rootfs.tar" >&2
"$engine" import -q --change 'CMD ["node"]' "$work/rootfs.tar" "$image" >/dev/null
echo "$image"
