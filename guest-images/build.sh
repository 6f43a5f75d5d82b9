#!/usr/bin/env bash
# Builds nicvm's guest image from Debian packages: a Linux 6.1 kernel (tinyconfig plus
# kernel.config, patches/ applied) as vmlinux and bzImage, an initramfs with busybox, iperf3
# and ethtool, and a syscall-free "spin" initramfs for PVM hosts. Outputs are cached under a
# key hashed from the config, patches, this recipe and the package versions, so a second run
# is instant; out/manifest.json records versions and hashes.
#
# usage: guest-images/build.sh [--out DIR] [--cache DIR] [--jobs N] [--quiet]
#   NICVM_GUEST_OUT, NICVM_CACHE and NICVM_JOBS set the same things.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${NICVM_GUEST_OUT:-$here/out}
cache=${NICVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nicvm/guest-images}
jobs=${NICVM_JOBS:-$(nproc)}
quiet=0
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --quiet) quiet=1; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "guest-images: $*"; }
die() { echo "guest-images: error: $*" >&2; exit 1; }

# Bump when the recipe below changes in a way that changes the outputs.
KERNEL_RECIPE=1
INITRAMFS_RECIPE=1

PACKAGES="linux-source-6.1 flex bison bc libelf-dev libssl-dev busybox-static iperf3 ethtool cpio gcc make xz-utils patch"

check_deps() {
    local missing=()
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        say "installing build dependencies: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    else
        die "missing packages; run: sudo apt-get install -y ${missing[*]}"
    fi
}

pkgver() { dpkg-query -W -f='${Version}' "$1"; }
sha() { sha256sum | cut -c1-16; }

kernel_key() {
    {
        echo "recipe=$KERNEL_RECIPE"
        echo "linux-source-6.1=$(pkgver linux-source-6.1)"
        echo "gcc=$(gcc -dumpfullversion)"
        cat "$here/kernel.config"
        for p in "$here"/patches/*.patch; do cat "$p"; done
    } | sha
}

initramfs_key() {
    {
        echo "recipe=$INITRAMFS_RECIPE"
        for p in busybox-static iperf3 ethtool libc6 libssl3 libsctp1 libmnl0; do
            echo "$p=$(pkgver "$p" 2>/dev/null || echo none)"
        done
        cat "$here/rootfs/init" "$here/rootfs/udhcpc.script" "$here/spin-init.S"
    } | sha
}

# Prints a progress line every 15 s while the kernel builds: objects compiled so far out of
# about how many a tinyconfig-based build compiles.
progress() {
    local log=$1 pid=$2 start=$SECONDS expected=870
    while kill -0 "$pid" 2>/dev/null; do
        sleep 15
        kill -0 "$pid" 2>/dev/null || break
        local n
        n=$(grep -c '^  CC' "$log" 2>/dev/null || true)
        say "kernel: $n of ~$expected files compiled, $((SECONDS - start)) s"
    done
}

build_kernel() {
    local dest=$1 work
    work=$(mktemp -d "$cache/work-kernel.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    say "kernel: unpacking /usr/src/linux-source-6.1.tar.xz"
    tar -C "$work" -xf /usr/src/linux-source-6.1.tar.xz
    local src="$work/linux-source-6.1"
    for p in "$here"/patches/*.patch; do
        say "kernel: applying $(basename "$p")"
        patch -s -d "$src" -p1 <"$p"
    done
    make -s -C "$src" tinyconfig >/dev/null
    # (merge_config warns about overridden choices such as HZ; the check below is what counts)
    "$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$here/kernel.config" >/dev/null 2>&1
    make -s -C "$src" olddefconfig >/dev/null
    # Every option the fragment sets must have taken effect (a dependency can silently veto).
    local bad=""
    for o in $(grep -o '^CONFIG_[A-Z0-9_]*=y' "$here/kernel.config"); do
        grep -qx "$o" "$src/.config" || bad="$bad ${o%=y}"
    done
    for o in $(grep -oP '^# \KCONFIG_[A-Z0-9_]*(?= is not set)' "$here/kernel.config"); do
        grep -q "^$o=" "$src/.config" && bad="$bad $o(still on)"
    done
    [ -z "$bad" ] || die "kernel config options did not take effect:$bad"
    say "kernel: building vmlinux and bzImage with $jobs jobs (about 5 minutes on 2 cores)"
    local t0=$SECONDS log="$work/build.log"
    make -C "$src" -j"$jobs" vmlinux bzImage >"$log" 2>&1 &
    local pid=$!
    [ "$quiet" = 1 ] || progress "$log" "$pid" &
    if ! wait "$pid"; then
        tail -30 "$log" >&2
        die "kernel build failed (log above)"
    fi
    local secs=$((SECONDS - t0))
    mkdir -p "$dest.tmp"
    cp "$src/vmlinux" "$src/arch/x86/boot/bzImage" "$dest.tmp/"
    cp "$src/.config" "$dest.tmp/kernel.config"
    echo "$secs" >"$dest.tmp/build-seconds"
    make -s -C "$src" kernelrelease >"$dest.tmp/release"
    mv "$dest.tmp" "$dest"
    rm -rf "$work"
    trap - EXIT
    say "kernel: built in ${secs} s"
}

copy_with_libs() {
    local root=$1 bin=$2 dir
    dir="$root$(dirname "$bin")"
    mkdir -p "$dir"
    cp -L "$bin" "$dir/"
    ldd "$bin" | awk '/=>/ {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
        [ -n "$lib" ] || continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

build_initramfs() {
    local dest=$1 root
    mkdir -p "$dest.tmp"
    root=$(mktemp -d "$cache/work-initramfs.XXXXXX")
    mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,usr/bin,usr/sbin,root}
    cp /bin/busybox "$root/bin/busybox"
    install -m 0755 "$here/rootfs/init" "$root/init"
    install -m 0755 "$here/rootfs/udhcpc.script" "$root/etc/udhcpc.script"
    copy_with_libs "$root" /usr/bin/iperf3
    copy_with_libs "$root" /usr/sbin/ethtool
    # The dynamic loader at the path the binaries name (/lib64 is a symlink on Debian).
    mkdir -p "$root/lib64"
    cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
    (cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc -R 0:0 --quiet | gzip -9n) >"$dest.tmp/initramfs.cpio.gz"
    (cd "$root" && find . | LC_ALL=C sort) >"$dest.tmp/initramfs.files"
    rm -rf "$root"

    root=$(mktemp -d "$cache/work-spin.XXXXXX")
    gcc -nostdlib -static -no-pie -Wl,--build-id=none -o "$root/init" "$here/spin-init.S"
    (cd "$root" && echo init | cpio -o -H newc -R 0:0 --quiet | gzip -9n) >"$dest.tmp/initramfs-spin.cpio.gz"
    rm -rf "$root"
    mv "$dest.tmp" "$dest"
}

write_manifest() {
    local kdir=$1 idir=$2 kkey=$3 ikey=$4
    cat >"$out/manifest.json" <<JSON
{
  "kernel": {
    "key": "$kkey",
    "release": "$(cat "$kdir/release")",
    "source_package": "linux-source-6.1 $(pkgver linux-source-6.1)",
    "gcc": "$(gcc -dumpfullversion)",
    "build_seconds": $(cat "$kdir/build-seconds"),
    "patches": [$(for p in "$here"/patches/*.patch; do printf '"%s",' "$(basename "$p")"; done | sed 's/,$//')],
    "config_fragment_sha256": "$(sha256sum <"$here/kernel.config" | cut -d' ' -f1)",
    "vmlinux_sha256": "$(sha256sum <"$kdir/vmlinux" | cut -d' ' -f1)",
    "bzImage_sha256": "$(sha256sum <"$kdir/bzImage" | cut -d' ' -f1)"
  },
  "initramfs": {
    "key": "$ikey",
    "busybox_static": "$(pkgver busybox-static)",
    "iperf3": "$(pkgver iperf3)",
    "ethtool": "$(pkgver ethtool)",
    "libc6": "$(pkgver libc6)",
    "sha256": "$(sha256sum <"$idir/initramfs.cpio.gz" | cut -d' ' -f1)",
    "spin_sha256": "$(sha256sum <"$idir/initramfs-spin.cpio.gz" | cut -d' ' -f1)"
  }
}
JSON
}

main() {
    check_deps
    mkdir -p "$cache" "$out"
    local kkey ikey kdir idir
    kkey=$(kernel_key)
    ikey=$(initramfs_key)
    kdir="$cache/kernel-$kkey"
    idir="$cache/initramfs-$ikey"
    if [ -f "$kdir/vmlinux" ]; then
        say "kernel: cached ($kdir)"
    else
        rm -rf "$kdir.tmp"
        build_kernel "$kdir"
    fi
    if [ -f "$idir/initramfs.cpio.gz" ]; then
        say "initramfs: cached ($idir)"
    else
        rm -rf "$idir.tmp"
        say "initramfs: packing busybox, iperf3 and ethtool"
        build_initramfs "$idir"
    fi
    for f in vmlinux bzImage kernel.config; do cp -f "$kdir/$f" "$out/$f"; done
    for f in initramfs.cpio.gz initramfs-spin.cpio.gz initramfs.files; do cp -f "$idir/$f" "$out/$f"; done
    write_manifest "$kdir" "$idir" "$kkey" "$ikey"
    say "ready in $out: vmlinux bzImage initramfs.cpio.gz initramfs-spin.cpio.gz manifest.json"
}

main
