#!/usr/bin/env bash
# The guest initramfs holds /init, busybox and iperf3 with every shared library iperf3 and
# ethtool need, at the paths the dynamic loader looks for them (checked with ldd against the
# binaries extracted from the archive), and the spin initramfs holds a static /init.
#   test_initramfs.sh IMAGEDIR      (exit 77: no image built)
set -euo pipefail
img=${1:?usage: test_initramfs.sh IMAGEDIR}
if [ ! -f "$img/initramfs.cpio.gz" ]; then
    echo "SKIP: no guest image in $img: build it with guest-images/build.sh"
    exit 77
fi
fail() { echo "FAIL: $*"; exit 1; }
list=$(zcat "$img/initramfs.cpio.gz" | cpio -t --quiet)
for f in init bin/busybox usr/bin/iperf3 usr/sbin/ethtool etc/udhcpc.script lib64/ld-linux-x86-64.so.2; do
    grep -qx "$f" <<<"$list" || fail "initramfs lacks /$f"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && zcat "$img/initramfs.cpio.gz" | cpio -id --quiet)
[ -x "$work/init" ] || fail "/init is not executable"
head -1 "$work/init" | grep -q '^#!/bin/busybox sh' || fail "/init does not run under busybox sh"
checked=0
for bin in usr/bin/iperf3 usr/sbin/ethtool; do
    # Every library the binary needs, by the path the loader resolves, must be in the image.
    while read -r lib; do
        [ -f "$work$lib" ] || fail "/$bin needs $lib, which the initramfs lacks"
        checked=$((checked + 1))
    done < <(ldd "$work/$bin" | awk '/=>/ && $3 ~ /^\// {print $3} /^\t\// {print $1}')
done
[ "$checked" -ge 6 ] || fail "ldd found only $checked libraries: is iperf3 dynamically linked?"
spin=$(zcat "$img/initramfs-spin.cpio.gz" | cpio -t --quiet)
[ "$spin" = init ] || fail "spin initramfs should hold only /init, holds: $spin"
(cd "$work" && rm -rf ./* && zcat "$img/initramfs-spin.cpio.gz" | cpio -id --quiet)
file_out=$(od -An -tx1 -N20 "$work/init" | tr -d ' \n')
[ "${file_out:0:8}" = 7f454c46 ] || fail "spin /init is not an ELF file"
echo "initramfs: /init, busybox, iperf3, ethtool and $checked library paths present"
