#!/usr/bin/env bash
# Runs every Maestro benchmark beside its reference (see ops/bench/src) and prints a
# summary table. Each benchmark works in a database of its own, created fresh and
# dropped afterwards; relay-latency starts a private nats-server. Takes several minutes
# with the defaults. Arguments go to `maestro-bench all`, e.g. a quick run:
#   ops/bench.sh --seconds 3 --events 100000
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash "$root/ops/up"

# shellcheck source=ops/cargo-env.sh
. "$root/ops/cargo-env.sh"

cargo build --release -p maestro-bench
exec "${CARGO_TARGET_DIR:-$root/target}/release/maestro-bench" all "$@"
