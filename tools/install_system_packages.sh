#!/usr/bin/env bash
# Installs the Debian packages some tests and `make scale-demo` use, once, before they run (tests never install
# system packages themselves): chromium (the Prefect UI form test), postgresql and redis-server (the scale stack).
# The packages' own services are not started (policy-rc.d 101 while they install): the tests run private servers.
# Without root or apt-get it lists what is missing and stops; the tests that need it then skip, saying so.
set -euo pipefail
stamp=.tools/.system-packages
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
mkdir -p .tools
if [ ${#missing[@]} -eq 0 ]; then touch "$stamp"; exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "warning: ${missing[*]} not installed and apt-get (as root) is unavailable: the tests that need them skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; own_policy=1; fi
trap 'if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "installed ${missing[*]}"
touch "$stamp"
