#!/usr/bin/env bash
# Installs the SMTP server the identity tests send password reset mails to: aiosmtpd
# (Python), run by tests/identity.rs as `python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c
# aiosmtpd.handlers.Mailbox DIR`, which files every mail it takes into a maildir.
# Idempotent, quiet and non-interactive; prints nothing when it is already there.
set -euo pipefail

AIOSMTPD_VERSION=1.4.6
ATPUBLIC_VERSION=9.0.0
ATTRS_VERSION=26.1.0

# Serialise concurrent runs: pip locks.
exec 9>/tmp/maestro-smtp-install.lock
flock 9

python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || {
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-pip; } \
		>/tmp/maestro-smtp-apt.log 2>&1 || { cat /tmp/maestro-smtp-apt.log >&2; exit 1; }
}

installed=$("$python" -c 'import importlib.metadata as m; print(m.version("aiosmtpd"))' 2>/dev/null || true)
if [ "$installed" != "$AIOSMTPD_VERSION" ]; then
	# Debian's own python3 refuses pip installs (PEP 668) unless told otherwise; this is
	# a test tool on a test machine.
	PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet \
		--disable-pip-version-check --no-input \
		"aiosmtpd==$AIOSMTPD_VERSION" "atpublic==$ATPUBLIC_VERSION" "attrs==$ATTRS_VERSION" \
		>/tmp/maestro-smtp-pip.log 2>&1 || { cat /tmp/maestro-smtp-pip.log >&2; exit 1; }
	"$python" -c 'import aiosmtpd.handlers' || { echo "tests/tools/smtp.sh: aiosmtpd does not import after installing it" >&2; exit 1; }
fi
