#!/usr/bin/env bash
# Installs what the Ansible and SSH tests of the crawlers crate run for real:
# ansible-core (to produce facts with `ansible -m setup`) and OpenSSH (a local sshd to
# read files over SSH). Idempotent, quiet and non-interactive; run as root on Debian.
# Prints nothing when everything is already there; exits non-zero when an install fails.
set -euo pipefail

ANSIBLE_CORE_VERSION=2.19.14

# Serialise concurrent runs (test binaries may start together): apt and pip both lock.
exec 9>/tmp/maestro-ansible-install.lock
flock 9

python=${PYTHON:-python3}

installed_ansible=$("$python" -c 'import importlib.metadata as m; print(m.version("ansible-core"))' 2>/dev/null || true)
if [ "$installed_ansible" != "$ANSIBLE_CORE_VERSION" ]; then
	"$python" -m pip install --quiet --disable-pip-version-check --no-input \
		"ansible-core==$ANSIBLE_CORE_VERSION" >/tmp/maestro-ansible-pip.log 2>&1 ||
		{ cat /tmp/maestro-ansible-pip.log >&2; exit 1; }
	# pyenv puts console scripts behind shims that exist only after a rehash.
	if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
fi

if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null || ! command -v scp >/dev/null || ! command -v ssh-keygen >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	{
		apt-get update -qq &&
			apt-get install -y -qq --no-install-recommends openssh-server openssh-client
	} >/tmp/maestro-ansible-apt.log 2>&1 || { cat /tmp/maestro-ansible-apt.log >&2; exit 1; }
fi
