#!/bin/sh
# Run by node-image.sh as an mmdebstrap hook on the node's root file system:
# the steps of kind's base and node images, and what this project's node adds
# (its files sit beside this script).
#   setup.sh ROOT K8S_VERSION KIND_FILES BIN IMAGES
set -eu
root=$1 version=$2 kind=$3 bin=$4 images=$5
here=$(cd "$(dirname "$0")" && pwd)

# kind's node files (from the kind module the cluster is made with).
install -d "$root/kind/bin" "$root/kind/manifests" "$root/kind/images" "$root/opt/cni/bin" \
  "$root/etc/cni/net.d" "$root/etc/kubernetes/manifests" "$root/etc/containerd" \
  "$root/etc/systemd/system/kubelet.service.d" "$root/etc/systemd/system/containerd.service.d"
install -m 0755 "$kind/usr/local/bin/entrypoint" "$kind/usr/local/bin/clean-install" "$root/usr/local/bin/"
install -m 0755 "$kind"/kind/bin/* "$root/kind/bin/"
# containerd may not give a container a lower oom_score_adj than its own:
# where the engine withholds CAP_SYS_RESOURCE (this project's CI sandbox),
# runc cannot lower it and every pod sandbox fails to start ("can't get final
# child's PID from pipe"). kind turns this on for rootless nodes only.
sed 's/^\( *restrict_oom_score_adj *= *\)false/\1true/' "$kind/etc/containerd/config.toml" >"$root/etc/containerd/config.toml"
grep -q '^ *restrict_oom_score_adj = true' "$root/etc/containerd/config.toml"
install -m 0644 "$kind/etc/crictl.yaml" "$root/etc/"
install -m 0644 "$kind/etc/default/kubelet" "$root/etc/default/"
install -m 0644 "$kind"/etc/sysctl.d/* "$root/etc/sysctl.d/"
find "$kind/etc/systemd/system" -maxdepth 1 -type f -exec install -m 0644 {} "$root/etc/systemd/system/" \;
install -m 0644 "$kind"/etc/systemd/system/kubelet.service.d/* "$root/etc/systemd/system/kubelet.service.d/"

# The binaries, where kind's units and kubeadm look for them, and the CNI
# plugins (Debian's) where containerd does.
install -m 0755 "$bin/containerd" "$bin/containerd-shim-runc-v2" "$bin/ctr" "$bin/crictl" "$root/usr/local/bin/"
install -m 0755 "$bin/kubeadm" "$bin/kubelet" "$bin/kubectl" "$root/usr/bin/"
cp -a "$root/usr/lib/cni/." "$root/opt/cni/bin/"
install -m 0644 "$images"/*.tar "$root/kind/images/"

# This project's additions (see each file).
echo "$version" >"$root/kind/version"
install -m 0644 "$here/default-cni.yaml" "$here/default-storage.yaml" "$root/kind/manifests/"
install -m 0644 "$here/10-pod-network.conflist" "$root/etc/cni/net.d/"
install -m 0644 "$here/pv-lifecycle-images.service" "$root/etc/systemd/system/"
install -m 0644 "$here/containerd-limits.conf" "$root/etc/systemd/system/containerd.service.d/20-limits.conf"
install -m 0644 "$here/kubelet-images.conf" "$root/etc/systemd/system/kubelet.service.d/20-images.conf"

# containerd's default runtime spec, as kind's base image makes it: no
# rlimits (the kubelet's and the engine's apply) and kind's hook that gives
# each container the node's product_uuid.
chroot "$root" ctr oci spec |
  chroot "$root" jq 'del(.process.rlimits) | .hooks.createContainer += [{"path": "/kind/bin/mount-product-files.sh"}]' \
    >"$root/etc/containerd/cri-base.json"

# As kind's base image: no services but the node's own, no kernel log reader
# (the node shares the host's kernel), and systemd as /sbin/init.
find "$root/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
rm -f "$root"/lib/systemd/system/multi-user.target.wants/* "$root"/etc/systemd/system/*.wants/* \
  "$root"/lib/systemd/system/local-fs.target.wants/* "$root"/lib/systemd/system/sockets.target.wants/*udev* \
  "$root"/lib/systemd/system/sockets.target.wants/*initctl* "$root"/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >>"$root/etc/systemd/journald.conf"
chroot "$root" systemctl enable kubelet.service containerd.service undo-mount-hacks.service pv-lifecycle-images.service
chroot "$root" systemctl mask systemd-binfmt.service
