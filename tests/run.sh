#!/usr/bin/env bash
# Set up and run the whole test suite:  bash tests/run.sh [pytest args]
#
# As root it first installs the Debian packages the real-server tests use
# (tests/debian-packages.txt) non-interactively, without starting their system services;
# then it makes ./.venv, installs ndrtrack with its test extras, and runs pytest.
# Under CI=true a missing prerequisite fails the run (tests never skip it silently).
set -euo pipefail
cd "$(dirname "$0")/.."

install_debian_packages() {
  local wanted=() missing=() pkg
  mapfile -t wanted < <(grep -Ev '^\s*(#|$)' tests/debian-packages.txt)
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "tests/run.sh: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Postfix without a system configuration: the tests run their own instances.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # Never start the packages' system services (dovecot, nsd, postfix) while installing.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; own_policy=1
  fi
  apt-get update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  [ "$own_policy" = 1 ] && rm -f "$policy"
  return 0
}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  install_debian_packages
elif [ "${CI:-}" = true ]; then
  echo "tests/run.sh: CI=true but not root: cannot install tests/debian-packages.txt" >&2
  exit 1
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
exec .venv/bin/python -m pytest "$@"
