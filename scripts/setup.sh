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
