#!/usr/bin/env bash
# Runs every Maestro benchmark beside its reference (see ops/bench/src) and prints a
# summary table. Each benchmark works in a database of its own, created fresh and
# dropped afterwards; relay-latency starts a private nats-server, crawl a private
# moto_server (installed here). Takes several minutes with the defaults. Arguments go
# to `maestro-bench all`, e.g. a quick run:
#   ops/bench.sh --seconds 3 --events 100000
# or, when the first one names a benchmark, to that one alone:
#   ops/bench.sh crawl --instances 1000 --volumes 1000
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bench=all
case "${1-}" in
"" | -*) ;;
*)
	bench=$1
	shift
	;;
esac

bash "$root/ops/up"
bash "$root/crawlers/tests/tools/aws.sh"

# shellcheck source=ops/cargo-env.sh
. "$root/ops/cargo-env.sh"

cargo build --release -p maestro-bench
exec "${CARGO_TARGET_DIR:-$root/target}/release/maestro-bench" "$bench" "$@"
