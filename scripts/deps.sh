#!/usr/bin/env bash
# Installs (as root) or lists (otherwise) the Debian 12 packages nicvm needs to build, test
# and build its guest image. usage: scripts/deps.sh [--check]
set -euo pipefail
BUILD="build-essential cmake pkg-config check libcapstone-dev libjansson-dev libslirp-dev libfdt-dev"
GUEST="linux-source-6.1 flex bison bc libelf-dev libssl-dev busybox-static iperf3 ethtool cpio xz-utils patch"
TEST="qemu-system-x86 tcpdump iproute2 iputils-ping device-tree-compiler graphviz python3 procps"
# Optional: the libFuzzer targets and coverage (scripts/fuzz.sh), with --fuzz.
FUZZ="clang-14 libclang-rt-14-dev llvm-14"
ALL="$BUILD $GUEST $TEST"
if [ "${1:-}" = --fuzz ]; then
    ALL="$ALL $FUZZ"
    shift
fi

missing=()
for p in $ALL; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "${1:-}" = --check ] || [ "$(id -u)" -ne 0 ]; then
    echo "nicvm: missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "nicvm: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
