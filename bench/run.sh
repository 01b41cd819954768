#!/usr/bin/env bash
# Vireo's figures beside the raw QEMU floor, in one run (see ../shared/BENCHMARKS.md for
# libvirt's). A benchmark, not a test: nothing fails on a slow machine.
#   bench/run.sh [--quick] [--net-only | --storage-only | --vs-libvirt]
# --vs-libvirt: virsh on libvirtd beside virsh on Vireo's libvirt socket (and Vireo's CLI), the
# same calls interleaved; needs ../shared/tools/libvirt-reference.sh up first (down after).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
guest=$(guest/build.sh)
./vireo --help >/dev/null
dotnet build bench/Vireo.Bench -c Release -nologo -v q -clp:ErrorsOnly >&2
# Build servers linger and take CPU for a while; stop them and let the machine settle.
dotnet build-server shutdown >/dev/null 2>&1 || true
sleep 3
exec dotnet bench/Vireo.Bench/bin/Release/net10.0/Vireo.Bench.dll "$(pwd)/out/vireo/vireo" "$guest" "$@"
