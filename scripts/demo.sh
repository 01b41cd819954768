#!/usr/bin/env bash
# The main job: start vireod on the default dirs (/etc/vireo, /run/vireo) and boot a demo VM
# from the test guest, then say how to reach it. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
scripts/setup.sh
guest=$(guest/build.sh)
./vireo --help >/dev/null            # builds on first use
images=/var/lib/vireo/images
mkdir -p "$images" /run/vireo
cp "$guest/vmlinuz" "$guest/initrd.img" "$images/"

sock=/run/vireo/vireo.sock
if ! ./vireo list >/dev/null 2>&1; then
  echo "demo: starting vireod (log: /run/vireo/vireod.log)"
  setsid ./vireo daemon >/run/vireo/vireod.log 2>&1 < /dev/null &
  for _ in $(seq 1 200); do ./vireo list >/dev/null 2>&1 && break; sleep 0.05; done
fi

if ! ./vireo dominfo demo >/dev/null 2>&1; then
  cat > /run/vireo/demo.xml <<XML
<domain type='qemu'>
  <name>demo</name>
  <title>Vireo demo guest</title>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$images/vmlinuz</kernel>
    <initrd>$images/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <devices>
    <serial type='pty'><log file='/run/vireo/demo-serial.log' append='off'/><target port='0'/></serial>
    <interface type='user'><model type='virtio'/></interface>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
XML
  ./vireo define /run/vireo/demo.xml
fi
state=$(./vireo domstate demo)
[ "$state" = "running" ] || ./vireo start demo
echo "demo: waiting for the guest to boot (TCG: a few seconds)..."
for _ in $(seq 1 600); do grep -q VIREO-GUEST-READY /run/vireo/demo-serial.log 2>/dev/null && break; sleep 0.1; done
grep "VIREO-GUEST" /run/vireo/demo-serial.log | sed 's/^/  /' || true
./vireo list --all
cat <<TXT
The demo VM 'demo' runs under vireod ($sock). Try:
  $repo/vireo console demo                  # its serial console (leave with Ctrl+])
  $repo/vireo dominfo demo
  $repo/vireo qemu-monitor-command demo --hmp info status
  $repo/vireo event --all --loop            # lifecycle events, in another terminal
  $repo/vireo shutdown demo                 # ACPI power button
  $repo/vireo host-validate
Stop the daemon with: kill \$(cat /run/vireo/vireod.pid)   (guests keep running; the next daemon adopts them)
TXT
