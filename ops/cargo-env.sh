# Sourced by ops/test and ops/demo: puts cargo on PATH and picks the target dir.

# rustup installs only put cargo on PATH for login shells; CI shells are not.
if [ -f ~/.cargo/env ]; then
	# shellcheck source=/dev/null
	. ~/.cargo/env
fi
command -v cargo >/dev/null 2>&1 ||
	{ echo "ops: error: cargo not found on PATH or in ~/.cargo; install Rust (https://rustup.rs) and rerun" >&2; exit 1; }

# A fixed target dir outside the checkout lets CI reuse builds across fresh checkouts.
if [ -n "${CI:-}" ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
	export CARGO_TARGET_DIR=/var/tmp/maestro-target
fi
