#!/usr/bin/env bash
# Installs what the AWS provider tests of the crawlers crate run against: moto's
# standalone server (`moto_server`), a local fake of the AWS APIs. Idempotent, quiet and
# non-interactive; runs as root on Debian. Prints nothing when everything is already
# there; exits non-zero, with pip's output, when the install fails.
set -euo pipefail

MOTO_VERSION=5.2.1

# Serialise concurrent runs (test binaries may start together): pip is not safe to run
# twice at once on the same site-packages.
exec 9>/tmp/maestro-aws-install.lock
flock 9

python=${PYTHON:-python3}

if ! command -v "$python" >/dev/null 2>&1; then
	echo "aws.sh: $python is missing; install Python 3 (apt-get install python3 python3-pip)" >&2
	exit 1
fi

installed=$("$python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true)
# The server extra brings flask and flask-cors; without them moto_server cannot start.
server_ready=$("$python" -c 'import flask, flask_cors; print("yes")' 2>/dev/null || true)
if [ "$installed" != "$MOTO_VERSION" ] || [ "$server_ready" != yes ] || ! command -v moto_server >/dev/null 2>&1; then
	"$python" -m pip install --quiet --disable-pip-version-check --no-input \
		"moto[server]==$MOTO_VERSION" >/tmp/maestro-aws-pip.log 2>&1 ||
		{
			echo "aws.sh: pip could not install moto[server]==$MOTO_VERSION:" >&2
			cat /tmp/maestro-aws-pip.log >&2
			exit 1
		}
	# pyenv puts console scripts behind shims that exist only after a rehash.
	if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
	if ! command -v moto_server >/dev/null 2>&1; then
		echo "aws.sh: moto installed but moto_server is not on PATH ($PATH)" >&2
		exit 1
	fi
fi
