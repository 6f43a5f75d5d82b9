#!/usr/bin/env bash
# Fuzzing the device models, IPv4 reassembly, the libslirp glue and the socket backend's
# TCP stream mode (see SECURITY.md). Needs
# clang-14, libclang-rt-14-dev and llvm-14 (scripts/deps.sh --fuzz).
#   scripts/fuzz.sh [--seconds N] [TARGET...]   fuzz for N seconds in all (default
#                                               $NICVM_FUZZ_SECONDS, else 240), split evenly
#                                               between the targets, one at a time
#   scripts/fuzz.sh --seeds                     regenerate tests/fuzz/corpus (seed inputs)
#   scripts/fuzz.sh --coverage                  line coverage of devices/ and net/ from the
#                                               corpus (build-cov, llvm-cov-14)
#   scripts/fuzz.sh --repro FILE TARGET         run one input (a crash) through a target
# Targets: virtqueue virtio_net e1000 slirp_glue ipfrag socket_stream. New inputs go to
# build-fuzz/corpus/TARGET; a crash leaves build-fuzz/artifacts/TARGET-crash-* and the exit
# status 1.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
targets=(virtqueue virtio_net e1000 slirp_glue ipfrag socket_stream)
seconds=${NICVM_FUZZ_SECONDS:-240}
jobs=$(nproc 2>/dev/null || echo 2)
corpus=tests/fuzz/corpus

build_fuzz() {
    CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNICVM_SANITIZE=ON \
        -DNICVM_FUZZ=ON >/dev/null
    make -C build-fuzz -j"$jobs" "${@/#/fuzz_}" fuzz_mkcorpus >/dev/null
}

case "${1:-}" in
--seeds)
    build_fuzz virtqueue
    build-fuzz/tests/fuzz/fuzz_mkcorpus "$corpus"
    exit 0
    ;;
--repro)
    [ $# -eq 3 ] || { echo "usage: $0 --repro FILE TARGET" >&2; exit 2; }
    build_fuzz "$3"
    exec "build-fuzz/tests/fuzz/fuzz_$3" "$2"
    ;;
--coverage)
    CC=clang-14 cmake -S . -B build-cov -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_C_FLAGS="-fprofile-instr-generate -fcoverage-mapping" >/dev/null
    make -C build-cov -j"$jobs" "${targets[@]/#/fuzz_replay_}" >/dev/null
    rm -rf build-cov/profiles && mkdir -p build-cov/profiles
    dirs=("$corpus"/*)
    [ -d build-fuzz/corpus ] && dirs+=(build-fuzz/corpus/*)
    objs=()
    for t in "${targets[@]}"; do
        LLVM_PROFILE_FILE="build-cov/profiles/$t.profraw" \
            "build-cov/tests/fuzz/fuzz_replay_$t" "${dirs[@]}" >/dev/null 2>&1
        [ ${#objs[@]} -eq 0 ] && objs+=("build-cov/tests/fuzz/fuzz_replay_$t") ||
            objs+=(-object "build-cov/tests/fuzz/fuzz_replay_$t")
    done
    llvm-profdata-14 merge -o build-cov/fuzz.profdata build-cov/profiles/*.profraw
    exec llvm-cov-14 report -instr-profile build-cov/fuzz.profdata "${objs[@]}" \
        "$top"/devices/virtq.c "$top"/devices/virtio_mmio.c "$top"/devices/virtio_net.c \
        "$top"/devices/e1000*.c "$top"/net/*.c
    ;;
--seconds)
    seconds=$2
    shift 2
    ;;
esac
[ $# -gt 0 ] && targets=("$@")
build_fuzz "${targets[@]}"
mkdir -p build-fuzz/artifacts
each=$((seconds / ${#targets[@]}))
[ "$each" -ge 1 ] || each=1
status=0
for t in "${targets[@]}"; do
    mkdir -p "build-fuzz/corpus/$t"
    echo "fuzz_$t: ${each}s"
    if ! "build-fuzz/tests/fuzz/fuzz_$t" "build-fuzz/corpus/$t" "$corpus/$t" \
        -dict="tests/fuzz/$t.dict" -max_total_time="$each" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="build-fuzz/artifacts/$t-" -print_final_stats=1 \
        >"build-fuzz/fuzz_$t.log" 2>&1; then
        echo "fuzz_$t: FOUND A CRASH (build-fuzz/fuzz_$t.log):" >&2
        grep -E 'ERROR|oracle|SUMMARY' "build-fuzz/fuzz_$t.log" | head -5 >&2
        status=1
    fi
    grep -E 'number_of_executed_units|average_exec_per_sec' "build-fuzz/fuzz_$t.log" || true
done
exit $status
