#!/usr/bin/env bash
# Prints the directory of a Node.js >= 22.19 to put first on PATH.
#
# The machine's own node is used when it is new enough. Otherwise Node 24 LTS
# is taken from the npm registry package node-linux-<arch> (it carries the
# official binary), checked against its pinned sha512 and unpacked into the
# project's cache. Nothing is installed globally.
set -euo pipefail

node_version=24.21.0
declare -A integrity=(
  [x64]="sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q=="
  [arm64]="sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g=="
)
registry="${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}"
registry="${registry%/}"

new_enough() {
  local v major minor
  v=$("$1" --version 2>/dev/null) || return 1
  v=${v#v}; major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  [ "$major" -gt 22 ] || { [ "$major" -eq 22 ] && [ "$minor" -ge 19 ]; }
}

if [ -z "${PV_OPERATOR_FORCE_NODE:-}" ] && command -v node >/dev/null && new_enough node; then
  dirname "$(command -v node)"
  exit 0
fi

case "$(uname -m)" in
  x86_64|amd64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "ensure-node.sh: no Node $node_version package for $(uname -m); install Node >= 22.19 yourself" >&2; exit 1 ;;
esac
[ "$(uname -s)" = Linux ] || { echo "ensure-node.sh: install Node >= 22.19 yourself on $(uname -s)" >&2; exit 1; }

cache_root="${PV_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pv-lifecycle-operator}"
dest="$cache_root/node-v$node_version-linux-$arch"
if [ -x "$dest/bin/node" ] && new_enough "$dest/bin/node"; then
  echo "$dest/bin"
  exit 0
fi

echo "Installing Node $node_version from the npm package node-linux-$arch into $dest" >&2
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.node-XXXXXX")
trap 'rm -rf "$work"' EXIT
tarball="$work/node.tgz"
curl -fsSL --retry 3 -o "$tarball" "$registry/node-linux-$arch/-/node-linux-$arch-$node_version.tgz"
want=${integrity[$arch]#sha512-}
got=$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)
if [ "$want" != "$got" ]; then
  echo "ensure-node.sh: checksum mismatch for node-linux-$arch-$node_version.tgz" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work"
[ -x "$work/package/bin/node" ] || { echo "ensure-node.sh: the package holds no bin/node" >&2; exit 1; }
rm -rf "$dest"
mv "$work/package" "$dest"
echo "$dest/bin"
