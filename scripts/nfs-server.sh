#!/usr/bin/env bash
# A real NFS server for tests: nfs-ganesha in user space on 127.0.0.1,
# NFSv4 only by default (no rpcbind, no MOUNT), exporting DIR/export as
# /export (NFSv4) and as DIR/export, its path on the server (NFSv3).
#
#   scripts/nfs-server.sh start DIR PORT   start it (stopping an earlier one in DIR) and
#                                          wait until PORT takes connections
#   scripts/nfs-server.sh stop DIR         stop it (SIGTERM, SIGKILL after 10 s)
#   scripts/nfs-server.sh install          only make sure ganesha is installed
#   scripts/nfs-server.sh stop-rpcbind     stop the rpcbind an NFSv3 start started
#
# NFS_SQUASH=root in the environment of start exports with Squash=Root_Squash
# (root becomes the anonymous user, as on most real servers); the default is
# No_Root_Squash.
#
# NFS_PROTOCOLS=3,4 (or 3) serves NFSv3 too (or only), with MOUNT v3 on
# NFS_MOUNT_PORT (required then; NLM and RQUOTA stay off). Ganesha will not
# start NFSv3 without an rpcbind to register with ("Cannot register NFS V3
# on TCP", then it exits), so start runs Debian's rpcbind when none answers,
# on loopback only: rpcbind's -h binds only UDP, so its TCP sockets (and the
# local one ganesha registers through) are handed to it by
# systemd-socket-activate, and -h 127.0.0.2 keeps UDP on loopback. That
# rpcbind is shared by every server on the machine and stays until
# stop-rpcbind.
#
# DIR holds the configuration, log, pid file, recovery state and the exported
# directory DIR/export. Ganesha's VFS backend needs a file system with file
# handles (ext4, xfs, btrfs), not overlayfs or tmpfs: start refuses other ones.
# When ganesha is missing it is installed from Debian (nfs-ganesha,
# nfs-ganesha-vfs) if this runs as root with apt-get; otherwise the script says
# what is missing and exits 3, so callers can skip rather than fail. It also
# exits 3 when not root (ganesha's VFS backend opens files by handle, which
# needs CAP_DAC_READ_SEARCH).
set -euo pipefail

usage() {
  echo "usage: $0 start DIR PORT | stop DIR | install | stop-rpcbind" >&2
  exit 2
}

RPCBIND_PIDFILE=/run/pvl-test-rpcbind.pid

rpcbind_answers() {
  rpcinfo -T tcp 127.0.0.1 100000 2 >/dev/null 2>&1
}

# An rpcbind on loopback only, unless one answers already (see the top).
ensure_rpcbind() {
  local pid i
  rpcbind_answers && return 0
  command -v rpcbind >/dev/null || [ -x /usr/sbin/rpcbind ] ||
    unavailable "NFSv3 needs rpcbind (apt-get install rpcbind; nfs-ganesha depends on it)"
  command -v systemd-socket-activate >/dev/null ||
    unavailable "systemd-socket-activate is missing: it is how rpcbind is kept on loopback only"
  rm -f /run/rpcbind.lock /run/rpcbind.sock
  setsid systemd-socket-activate -l /run/rpcbind.sock -l 127.0.0.1:111 -l '[::1]:111' \
    /usr/sbin/rpcbind -f -h 127.0.0.2 </dev/null >/dev/null 2>&1 &
  pid=$!
  echo "$pid" >"$RPCBIND_PIDFILE"
  for ((i = 0; i < 100; i++)); do
    rpcbind_answers && return 0
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  echo "nfs-server.sh: rpcbind did not start on 127.0.0.1:111" >&2
  exit 1
}

stop_rpcbind() {
  local pid
  [ -f "$RPCBIND_PIDFILE" ] || return 0
  pid=$(cat "$RPCBIND_PIDFILE")
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = rpcbind ]; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$RPCBIND_PIDFILE"
}

unavailable() {
  echo "nfs-server.sh: $*" >&2
  exit 3
}

installed() {
  command -v ganesha.nfsd >/dev/null && compgen -G '/usr/lib/*/ganesha/libfsalvfs.so' >/dev/null
}

ensure_installed() {
  installed && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    unavailable "nfs-ganesha is not installed (needs: apt-get install nfs-ganesha nfs-ganesha-vfs, as root)"
  fi
  echo "nfs-server.sh: installing nfs-ganesha and nfs-ganesha-vfs" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq nfs-ganesha nfs-ganesha-vfs >&2; then
    apt-get update -qq >&2 && apt-get install -y -qq nfs-ganesha nfs-ganesha-vfs >&2 ||
      unavailable "could not install nfs-ganesha nfs-ganesha-vfs with apt-get"
  fi
  installed || unavailable "ganesha.nfsd or its VFS backend still missing after installing nfs-ganesha"
}

# The pid in DIR/nfsd.pid if that process is still a ganesha.nfsd, else nothing.
running_pid() {
  local pidfile="$1/nfsd.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = ganesha.nfsd ]; then
    echo "$pid"
  fi
}

stop() {
  local dir="$1" pid i
  pid=$(running_pid "$dir")
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
      echo "nfs-server.sh: ganesha.nfsd $pid did not stop within 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      while [ -d "/proc/$pid" ]; do sleep 0.1; done
    fi
  fi
  rm -f "$dir/nfsd.pid"
}

start() {
  local dir="$1" port="$2" fstype pid i squash
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || usage
  ensure_installed
  [ "$(id -u)" = 0 ] || unavailable "ganesha.nfsd needs root here (its VFS backend opens files by handle)"

  mkdir -p "$dir/export" "$dir/recovery"
  dir=$(cd "$dir" && pwd)
  fstype=$(stat -f -c %T "$dir/export")
  case "$fstype" in
    ext2/ext3 | ext4 | xfs | btrfs) ;;
    *) unavailable "$dir/export is on $fstype; ganesha's VFS backend needs ext4, xfs or btrfs (pick another DIR)" ;;
  esac

  case "${NFS_SQUASH:-none}" in
    none) squash=No_Root_Squash ;;
    root) squash=Root_Squash ;;
    *) echo "nfs-server.sh: NFS_SQUASH must be root or none, not ${NFS_SQUASH}" >&2; exit 2 ;;
  esac

  local protocols="${NFS_PROTOCOLS:-4}" mount_port="" mount_line=""
  case "$protocols" in
    4) ;;
    3 | 3,4 | "3, 4")
      mount_port="${NFS_MOUNT_PORT:-}"
      [[ "$mount_port" =~ ^[0-9]+$ ]] && [ "$mount_port" -ge 1 ] && [ "$mount_port" -le 65535 ] &&
        [ "$mount_port" != "$port" ] || {
        echo "nfs-server.sh: NFS_PROTOCOLS=$protocols needs NFS_MOUNT_PORT, a port other than $port" >&2
        exit 2
      }
      mount_line="MNT_Port = $mount_port;"
      ensure_rpcbind
      ;;
    *) echo "nfs-server.sh: NFS_PROTOCOLS must be 4, 3,4 or 3, not $protocols" >&2; exit 2 ;;
  esac
  protocols="${protocols/,/, }"
  protocols="${protocols/,  /, }"

  stop "$dir"
  cat >"$dir/ganesha.conf" <<EOF
NFS_CORE_PARAM {
  Bind_addr = 127.0.0.1;
  NFS_Port = $port;
  $mount_line
  Protocols = $protocols;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
}
NFSV4 {
  Graceless = true;
  RecoveryRoot = "$dir/recovery";
}
EXPORT {
  Export_Id = 1;
  Path = "$dir/export";
  Pseudo = /export;
  Protocols = $protocols;
  Transports = TCP;
  Access_Type = RW;
  Squash = $squash;
  FSAL { Name = VFS; }
}
EOF
  : >"$dir/ganesha.log"
  # -F keeps it in the foreground of its own session; stop finds it by nfsd.pid.
  setsid ganesha.nfsd -F -f "$dir/ganesha.conf" -L "$dir/ganesha.log" -p "$dir/ganesha.pid" -N NIV_EVENT \
    </dev/null >>"$dir/ganesha.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/nfsd.pid"

  for ((i = 0; i < 200; i++)); do
    if ! [ -d "/proc/$pid" ]; then
      echo "nfs-server.sh: ganesha.nfsd exited during start; the end of $dir/ganesha.log:" >&2
      tail -n 20 "$dir/ganesha.log" >&2
      rm -f "$dir/nfsd.pid"
      exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
      { [ -z "$mount_port" ] || (exec 3<>"/dev/tcp/127.0.0.1/$mount_port") 2>/dev/null; }; then
      echo "nfs-server.sh: ganesha.nfsd $pid serves $dir/export as 127.0.0.1:$port:/export (NFS $protocols${mount_port:+, MOUNT on $mount_port})" >&2
      return 0
    fi
    sleep 0.1
  done
  echo "nfs-server.sh: 127.0.0.1:$port took no connection within 20 s; the end of $dir/ganesha.log:" >&2
  tail -n 20 "$dir/ganesha.log" >&2
  stop "$dir"
  exit 1
}

case "${1:-}" in
  start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  install) [ $# -eq 1 ] || usage; ensure_installed ;;
  stop-rpcbind) [ $# -eq 1 ] || usage; stop_rpcbind ;;
  *) usage ;;
esac
