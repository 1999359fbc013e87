#!/usr/bin/env bash
# Installs the third-party verifier the webhook tests check every delivery with: the
# PyPI package `standardwebhooks` (no dependencies), imported by the test receiver
# webhooks/tests/support/receiver.py. Idempotent, quiet and non-interactive; prints
# nothing when it is already there.
set -euo pipefail

STANDARDWEBHOOKS_VERSION=1.1.0

# Serialise concurrent runs: pip locks.
exec 9>/tmp/maestro-webhooks-install.lock
flock 9

python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || {
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-pip; } \
		>/tmp/maestro-webhooks-apt.log 2>&1 || { cat /tmp/maestro-webhooks-apt.log >&2; exit 1; }
}

installed=$("$python" -c 'import importlib.metadata as m; print(m.version("standardwebhooks"))' 2>/dev/null || true)
if [ "$installed" != "$STANDARDWEBHOOKS_VERSION" ]; then
	# Debian's own python3 refuses pip installs (PEP 668) unless told otherwise; this is
	# a test tool on a test machine.
	PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet \
		--disable-pip-version-check --no-input "standardwebhooks==$STANDARDWEBHOOKS_VERSION" \
		>/tmp/maestro-webhooks-pip.log 2>&1 || { cat /tmp/maestro-webhooks-pip.log >&2; exit 1; }
	"$python" -c 'from standardwebhooks.webhooks import Webhook' ||
		{ echo "webhooks/tests/tools.sh: standardwebhooks does not import after installing it" >&2; exit 1; }
fi
