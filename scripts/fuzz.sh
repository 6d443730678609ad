#!/usr/bin/env bash
# Long fuzzing run on the stable toolchain: every fuzz target (proptest
# strategies of arbitrary bytes and mutated valid files, see
# tokenizer/tests/fuzz_harness/mod.rs) runs for SECONDS (default 60) with
# fresh random seeds, and prints its executions and crashes.
#
#   scripts/fuzz.sh [SECONDS]
#
# PROPTEST_CASES sets the cases per batch (default 1000). The exit status is
# non-zero if any target crashed; the crashing inputs are printed, shrunk.
# `cargo test` runs the same targets briefly (their default case counts).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in
    ''|*[!0-9]*|0) echo "usage: scripts/fuzz.sh [SECONDS] (a positive whole number, got '$seconds')" >&2; exit 2 ;;
esac
export TOKLAB_FUZZ_SECONDS="$seconds"
export PROPTEST_CASES="${PROPTEST_CASES:-1000}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

status=0
# package:test-target pairs.
for target in tokenizer:fuzz dataset:fuzz model:fuzz_checkpoint cli:fuzz_detokenize; do
    pkg="${target%%:*}"
    test="${target#*:}"
    echo "== $pkg/$test ($seconds s per target)"
    # One target at a time, so each gets its seconds of the machine.
    if ! cargo test --quiet -p "$pkg" --test "$test" -- --test-threads 1 --nocapture >"$log" 2>&1; then
        status=1
        # A crash that killed the process (abort, out of memory) prints no summary.
        grep -E "fuzz .*: crash|panicked|error|signal" "$log" | head -20
    fi
    grep -oE "fuzz [a-z_]+: [0-9]+ executions, [0-9]+ crashes, [0-9.]+ s" "$log"
done

if [ "$status" -ne 0 ]; then
    echo "fuzz: crashes found (see above)"
else
    echo "fuzz: no crashes"
fi
exit "$status"
