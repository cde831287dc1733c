#!/usr/bin/env bash
# SIGKILL a real `borderlog serve` under load, ROUNDS times (default 50), and after every
# restart check that every acknowledged entry is present, unchanged and provably included, and
# that the chain verifies (in the test and with `borderlog verify --addr`). The regular
# `cargo test` runs the same loop for 3 rounds (tests/crash.rs).
#
#   scripts/kill-loop.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export BORDERLOG_KILL_ROUNDS="${1:-50}"
exec cargo test --test crash kill_loop_checked_after_every_restart -- --ignored --nocapture
