#!/usr/bin/env bash
# Builds (and caches) Vireo's test guest: the kernel from Debian's linux-image-amd64 package
# plus a busybox initramfs with the modules it needs. Prints the cache directory on stdout;
# it holds vmlinuz and initrd.img.
#
#   guest/build.sh [--force]
#
# Cache: $VIREO_GUEST_CACHE, default <repo>/.cache/guest. Rebuilt when this script, init or
# the kernel version changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${VIREO_GUEST_CACHE:-$here/../.cache/guest}
force=${1:-}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need busybox || ! need cpio || ! need depmod || ! need modprobe || ! need apt-get; then
  echo "guest/build.sh: installing busybox-static, cpio, kmod" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static cpio kmod >&2
fi

# The kernel package linux-image-amd64 points at (e.g. linux-image-6.1.0-56-amd64).
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
  apt-get update -qq >&2
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$pkg" ] || { echo "guest/build.sh: cannot resolve the kernel package of linux-image-amd64" >&2; exit 1; }
kver=${pkg#linux-image-}

stamp="$kver $(cat "$here/build.sh" "$here/init" "$here/udhcpc.script" | sha256sum | cut -c1-16)"
if [ "$force" != "--force" ] && [ -f "$cache/stamp" ] && [ "$(cat "$cache/stamp")" = "$stamp" ]; then
  echo "$cache"; exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"
debs="$cache/debs"; mkdir -p "$debs"
if ! ls "$debs/${pkg}_"*.deb >/dev/null 2>&1; then
  echo "guest/build.sh: downloading $pkg" >&2
  (cd "$work" && apt-get download "$pkg" >&2 2>/dev/null) || { apt-get update -qq >&2; (cd "$work" && apt-get download "$pkg" >&2); }
  mv "$work"/*.deb "$debs/"
fi
deb=$(ls "$debs/${pkg}_"*.deb | head -n1)
echo "guest/build.sh: extracting $(basename "$deb")" >&2
dpkg-deb -x "$deb" "$work/k"
# The .deb ships no modules.dep: make one.
depmod -b "$work/k" "$kver"

# Modules the guest needs; their dependencies come from modules.dep, in load order.
mods="virtio_pci virtio_blk virtio_net virtio_rng virtio_console virtio_scsi virtio_balloon
      9pnet_virtio 9p virtiofs isofs ahci ata_piix sd_mod sr_mod evdev button e1000 af_packet pvpanic_mmio pvpanic_pci
      i6300esb ib700wdt iTCO_wdt uhci_hcd ehci_pci xhci_pci snd_hda_intel snd_hda_codec_generic snd_intel8x0"
root="$work/root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,run,var/run,var/log,lib/modules,usr/share/udhcpc,etc/udhcpc,etc/acpi/PWRF}
: > "$root/etc/modules.load"
for m in $mods; do
  modprobe -d "$work/k" -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1=="insmod" {print $2}' || true
done | awk '!seen[$0]++' | while read -r ko; do
  base=$(basename "$ko"); base=${base%.xz}; base=${base%.zst}
  case "$ko" in
    *.xz) xz -dc "$ko" > "$root/lib/modules/$base" ;;
    *.zst) zstd -qdc "$ko" > "$root/lib/modules/$base" ;;
    *) cp "$ko" "$root/lib/modules/$base" ;;
  esac
  echo "$base" >> "$root/etc/modules.load"
done

cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/udhcpc.script" "$root/etc/udhcpc/default.script"
printf '#!/bin/sh\necho "VIREO-GUEST: power button, powering off" > /dev/console\nsync\npoweroff -f\n' > "$root/etc/acpi/PWRF/00000080"
chmod 0755 "$root/etc/acpi/PWRF/00000080"
echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.img"
cp "$work/k/boot/vmlinuz-$kver" "$work/vmlinuz"
mv "$work/initrd.img" "$cache/initrd.img"
mv "$work/vmlinuz" "$cache/vmlinuz"
echo "$stamp" > "$cache/stamp"
echo "guest/build.sh: built $cache (kernel $kver, $(wc -l < "$root/etc/modules.load") modules)" >&2
echo "$cache"
