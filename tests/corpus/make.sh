#!/usr/bin/env bash
# Remakes the libvirt corpus in tests/Vireo.Tests/Corpus from the real tools: Debian 12's
# virt-install 4.1 (--print-xml) and libvirt 9.0 (virsh define, dumpxml --inactive,
# domxml-to-native qemu-argv). Needs a running libvirtd; start one in a namespace of its own
# with ../shared/tools/libvirt-reference.sh up (and down afterwards). The test suite only reads
# the files this writes; it never needs libvirt.
#
# Usage: tests/corpus/make.sh [NAME...]     (default: every case in tests/corpus/cases)
#
# Per case, tests/Vireo.Tests/Corpus/NAME/ gets:
#   command          the virt-install command line that made the document
#   virt-install.xml what it printed (the first step for installs: the install-time document)
#   dumpxml.xml      libvirt's `virsh dumpxml --inactive` after `virsh define` of it
#   qemu-argv        libvirt's `virsh domxml-to-native qemu-argv`, one argument per line
# Cases that virt-install or libvirt refuse are reported and skipped.
set -uo pipefail
export LC_ALL=C LIBVIRT_DEFAULT_URI=qemu:///system
here=$(cd "$(dirname "$0")" && pwd)
out=$here/../Vireo.Tests/Corpus
img=/var/lib/libvirt/images/corpus     # disk paths the documents name (made empty, removed at the end)
virsh -q version >/dev/null 2>&1 || { echo "make.sh: no libvirtd answers at $LIBVIRT_DEFAULT_URI; run ../shared/tools/libvirt-reference.sh up first" >&2; exit 1; }
mkdir -p "$out" "$img"
[ -f "$img/install.iso" ] || truncate -s 4M "$img/install.iso"
[ -f "$img/vmlinuz" ] || truncate -s 1M "$img/vmlinuz" "$img/initrd.img"
mkdir -p "$img/share"
ok=0 bad=0
while IFS=$'\t' read -r name args; do
  [ -z "$name" ] || [[ "$name" == \#* ]] && continue
  [ $# -gt 0 ] && [[ " $* " != *" $name "* ]] && continue
  args=${args//@IMG@/$img}; args=${args//@NAME@/$name}
  d=$out/$name; tmp=$(mktemp -d)
  cmd="virt-install --print-xml 1 --name $name --noautoconsole $args"
  if ! eval "$cmd" > "$tmp/virt-install.xml" 2> "$tmp/err"; then
    echo "SKIP $name: virt-install: $(tail -1 "$tmp/err")" >&2; bad=$((bad + 1)); rm -rf "$tmp"; continue
  fi
  if ! virsh define "$tmp/virt-install.xml" > /dev/null 2> "$tmp/err"; then
    echo "SKIP $name: virsh define: $(grep -v '^$' "$tmp/err" | tail -1)" >&2; bad=$((bad + 1)); rm -rf "$tmp"; continue
  fi
  virsh dumpxml --inactive "$name" > "$tmp/dumpxml.xml"
  if virsh domxml-to-native qemu-argv --domain "$name" > "$tmp/argv.line" 2> "$tmp/err"; then
    # shlex: libvirt quotes JSON arguments in single quotes; drop the environment assignments
    python3 -c 'import shlex,sys; a=shlex.split(sys.stdin.read()); i=next(i for i,x in enumerate(a) if x.startswith("/")); print("\n".join(a[i:]))' < "$tmp/argv.line" > "$tmp/qemu-argv"
  else
    echo "NOTE $name: domxml-to-native: $(grep -v '^$' "$tmp/err" | tail -1)" >&2
    : > "$tmp/qemu-argv"
  fi
  virsh undefine --nvram --tpm "$name" > /dev/null 2>&1 || virsh undefine "$name" > /dev/null 2>&1
  rm -rf "$d"; mkdir -p "$d"
  printf "%s\n" "$cmd" > "$d/command"
  cp "$tmp/virt-install.xml" "$tmp/dumpxml.xml" "$tmp/qemu-argv" "$d/"
  rm -rf "$tmp"; ok=$((ok + 1))
done < "$here/cases"
rm -f "$img"/*.qcow2
echo "$ok cases written to $out, $bad skipped"
