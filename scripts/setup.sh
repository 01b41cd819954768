#!/usr/bin/env bash
# Installs what Vireo needs on a Debian 12 host, when it is missing. Safe to run again.
set -euo pipefail
pkgs=(qemu-system-x86 qemu-utils qemu-block-extra ovmf swtpm swtpm-tools libvirt-clients virtinst python3-libvirt busybox-static cpio kmod zstd xz-utils iproute2 procps util-linux curl dnsmasq-base nftables python3 chromium chromium-driver virt-manager xvfb xauth libvirt-dbus dbus libglib2.0-bin cockpit-ws cockpit-bridge cockpit-system cockpit-machines)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm builds the web console's front-end libraries; any Node.js with npm will do (Debian's, or one already here).
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# The unprivileged user guests' QEMUs run as (vireo daemon --qemu-user auto), in the kvm group for /dev/kvm.
if ! getent passwd vireo-qemu >/dev/null; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group vireo-qemu
fi
if getent group kvm >/dev/null && ! id -nG vireo-qemu | grep -qw kvm; then usermod -aG kvm vireo-qemu; fi
if ! command -v dotnet >/dev/null; then
  echo "setup: the .NET 10 SDK (dotnet) is not installed; install it first (https://dot.net)" >&2
  exit 1
fi
