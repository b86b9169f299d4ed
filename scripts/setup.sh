#!/usr/bin/env bash
# Installs what the test suite needs on this machine kind (Debian, root).
# Idempotent: a second run does nothing but check.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -e "$1" ]; }
have qemu-system-x86_64 || need+=(qemu-system-x86)
have /usr/lib/qemu/virtiofsd || need+=(qemu-system-common)
have /bin/busybox || need+=(busybox-static)
have smbd || need+=(samba)
have smbclient || need+=(smbclient)
# acl_xattr and streams_xattr: only a Recommends of samba, which --no-install-recommends skips.
have /usr/lib/x86_64-linux-gnu/samba/vfs/acl_xattr.so || need+=(samba-vfs-modules)
have getfattr || need+=(attr)
have tmux || need+=(tmux)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install ${need[*]}; run 'sudo scripts/setup.sh' once" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi


# Guest kernel for the VM tests (test/vm/): Debian's kernel package for this
# release, unpacked (not installed) into .cache/vm/linux-<version>/, keeping
# only the kernel image and the modules the guest loads (virtio, fuse,
# virtiofs). The version is the one apt offers for linux-image-amd64 today; a
# finished unpack is marked by .complete and never redone; .cache/vm/current
# names the one the tests boot.
vm_cache=.cache/vm
kernel_version() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}
fetch_kernel() { # $1 = version; unpacks into $vm_cache/linux-$1
  local kver=$1 work
  mkdir -p "$vm_cache"
  work=$(mktemp -d "$vm_cache/.fetch.XXXXXX")
  local rc
  (
    set -e
    cd "$work"
    apt-get download -qq -o APT::Sandbox::User=root "linux-image-$kver"
    mkdir x
    dpkg-deb --fsys-tarfile linux-image-"$kver"_*.deb | tar -x -C x --wildcards \
      "./boot/vmlinuz-$kver" "./boot/config-$kver" \
      "./lib/modules/$kver/modules.builtin" "./lib/modules/$kver/modules.order" \
      "./lib/modules/$kver/kernel/drivers/virtio/*" "./lib/modules/$kver/kernel/fs/fuse/*"
    mkdir -p "linux-$kver/modules"
    mv "x/boot/vmlinuz-$kver" "linux-$kver/vmlinuz"
    mv "x/boot/config-$kver" "linux-$kver/config"
    mv "x/lib/modules/$kver"/* "linux-$kver/modules/"
    echo "$kver" >"linux-$kver/version"
    touch "linux-$kver/.complete"
  )
  rc=$?
  if [ $rc != 0 ]; then rm -rf "$work"; return 1; fi
  rm -rf "${vm_cache:?}/linux-$kver"
  mv "$work/linux-$kver" "$vm_cache/" || { rm -rf "$work"; return 1; }
  rm -rf "$work"
}
kver=$(kernel_version)
if [ -z "$kver" ] && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  kver=$(kernel_version)
fi
current=$(cat "$vm_cache/current" 2>/dev/null || true)
if [ -n "$kver" ] && [ ! -e "$vm_cache/linux-$kver/.complete" ]; then
  echo "setup: fetching guest kernel linux-image-$kver into $vm_cache" >&2
  set +e # so that errexit works inside fetch_kernel's subshell (an || would disable it)
  fetch_kernel "$kver"
  rc=$?
  set -e
  [ $rc = 0 ] || { echo "setup: could not fetch linux-image-$kver" >&2; kver=; }
fi
if [ -n "$kver" ]; then
  [ "$current" = "$kver" ] || { echo "$kver" >"$vm_cache/current.tmp" && mv "$vm_cache/current.tmp" "$vm_cache/current"; }
elif [ -n "$current" ] && [ -e "$vm_cache/linux-$current/.complete" ]; then
  echo "setup: keeping guest kernel $current (apt offers none now)" >&2
else
  echo "setup: no guest kernel for the VM tests: apt-cache names no linux-image-amd64 version" >&2
  exit 1
fi
