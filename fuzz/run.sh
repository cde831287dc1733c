#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after the other, on one
# core, and prints one line per target: executions, wall time, corpus size, crashes.
#
# usage: fuzz/run.sh [SECONDS=60] [TARGET...]
#   env: SANITIZER=none|address (default none: the crate forbids unsafe code, and without
#        ASan the same core runs several times more inputs; use address to check the C deps)
#        RSS_MB (default 2048), MAX_LEN (default per target), CARGO_TARGET_DIR
#
# New corpus entries go to fuzz/corpus/<target>/ (not committed); the committed seeds in
# fuzz/seeds/<target>/ are read too. A crash leaves its input in fuzz/artifacts/<target>/:
# copy it to tests/fuzz-regressions/<target>/, fix the bug, and `cargo test --test
# fuzz_regressions` replays it from then on.
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(entry note checkpoint proof guard policy segment export index)
sanitizer=${SANITIZER:-none}
rss=${RSS_MB:-2048}

# Longest input worth trying per target: a bundle or a segment file is long, a note is not.
max_len() {
  case $1 in
    guard) echo 65536 ;;
    segment | export) echo 16384 ;;
    policy) echo 16384 ;;
    entry) echo 8192 ;;
    proof) echo 2129 ;; # mode + two sizes + 2 hashes + 64 proof hashes
    *) echo 4096 ;;
  esac
}

# The segment target writes files: in memory (tmpfs) when there is one, so fsync is cheap.
scratch=$(mktemp -d -p "$([[ -d /dev/shm && -w /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")")
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/last-run.log"
  cargo +nightly fuzz build -O --sanitizer "$sanitizer" "$t" >"$log" 2>&1 ||
    { echo "$t: build failed, see fuzz/$log"; status=1; continue; }
  touch "$scratch/stamp"
  start=$(date +%s)
  TMPDIR=$scratch cargo +nightly fuzz run -O --sanitizer "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb="$rss" -max_len="$(max_len "$t")" \
    -timeout=10 -jobs=1 -workers=1 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  wall=$(($(date +%s) - start))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  crashes=$(find "artifacts/$t" -maxdepth 1 -type f -newer "$scratch/stamp" \( -name 'crash-*' -o -name 'oom-*' \
    -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
  corpus=$(find "corpus/$t" -type f | wc -l)
  printf '%-10s runs=%-10s wall=%ss corpus=%s crashes=%s exit=%s\n' \
    "$t" "${runs:-?}" "$wall" "$corpus" "$crashes" "$rc"
  [[ $rc -ne 0 ]] && status=1
done
exit $status
