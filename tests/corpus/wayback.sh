#!/usr/bin/env bash
# The way back to libvirt: gives each corpus case's virt-install document to Vireo, hands
# Vireo's `dumpxml --inactive` to the real libvirt (`virsh define`), and records what libvirt
# made of it. Needs the reference libvirtd (../shared/tools/libvirt-reference.sh up) and a
# built ./vireo; runs a Vireo daemon of its own (data in $data, so the NVRAM paths are fixed).
#
# Per case, tests/Vireo.Tests/Corpus/NAME/ gets:
#   vireo-dumpxml.xml  what Vireo's dumpxml --inactive wrote (the unit tests check that Vireo still writes exactly this)
#   wayback.xml        libvirt's dumpxml --inactive after `virsh define vireo-dumpxml.xml`
# A document libvirt refuses is reported, and the script exits non-zero.
set -uo pipefail
export LC_ALL=C LIBVIRT_DEFAULT_URI=qemu:///system
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
corpus=$repo/tests/Vireo.Tests/Corpus
netns=${ANCHOR_NETNS:-vanchor}
virsh() { ip netns exec "$netns" virsh "$@"; }
virsh -q version >/dev/null 2>&1 || { echo "wayback.sh: no libvirtd in netns $netns; run ../shared/tools/libvirt-reference.sh up first" >&2; exit 1; }
root=/tmp/vireo-wayback; data=$root/data
rm -rf "$root"; mkdir -p "$root"
"$repo/vireo" daemon --config-dir "$root/etc" --run-dir "$root/run" --data-dir "$data" --web none > "$root/daemon.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$root"' EXIT
export VIREO_CONNECT=unix:$root/run/vireo.sock
for _ in $(seq 100); do [ -S "$root/run/vireo.sock" ] && break; sleep 0.1; done
ok=0 bad=0
for d in "$corpus"/*/; do
  name=$(basename "$d")
  if ! "$repo/vireo" define "$d/virt-install.xml" > /dev/null 2> "$root/err"; then
    echo "FAIL $name: vireo define: $(head -1 "$root/err")" >&2; bad=$((bad + 1)); continue
  fi
  "$repo/vireo" dumpxml --inactive "$name" > "$d/vireo-dumpxml.xml"
  virsh undefine --nvram --tpm "$name" > /dev/null 2>&1
  if virsh define "$d/vireo-dumpxml.xml" > /dev/null 2> "$root/err"; then
    virsh dumpxml --inactive "$name" > "$d/wayback.xml"
    virsh undefine --nvram --tpm "$name" > /dev/null 2>&1 || virsh undefine "$name" > /dev/null 2>&1
    ok=$((ok + 1))
  else
    echo "FAIL $name: libvirt refused Vireo's dumpxml: $(grep -v '^$' "$root/err" | tail -1)" >&2; bad=$((bad + 1))
  fi
done
echo "$ok of $((ok + bad)) of Vireo's documents defined in libvirt" >&2
[ "$bad" -eq 0 ]
