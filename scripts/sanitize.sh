#!/usr/bin/env bash
# Sanitizer builds and their tests (see SECURITY.md).
#   scripts/sanitize.sh           gcc ASan + UBSan in build-san: ctest -L 'unit|kvm'
#   scripts/sanitize.sh --thread  TSan in build-tsan: the vCPU-thread vs event-loop race test and
#                                 the event loop's own tests (timers armed from another thread)
# Extra arguments after the mode go to ctest (e.g. -R test_virtio_net).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

if [ "${1:-}" = "--thread" ]; then
    shift
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNICVM_SANITIZE=thread -DCMAKE_C_FLAGS=-Wno-tsan >/dev/null
    make -C build-tsan -j"$jobs" test_race test_evloop >/dev/null
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
    exec ctest --test-dir build-tsan -R '^(test_race|test_evloop)$' --output-on-failure "$@"
fi

cmake -S . -B build-san -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNICVM_SANITIZE=ON >/dev/null
make -C build-san -j"$jobs" >/dev/null
export ASAN_OPTIONS="abort_on_error=1 detect_leaks=1 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
exec ctest --test-dir build-san -L 'unit|kvm' --output-on-failure "$@"
