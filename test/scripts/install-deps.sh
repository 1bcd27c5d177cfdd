#!/usr/bin/env bash
# install-deps.sh - install the Debian 12 packages that building, testing and
# demonstrating shardroute need: the PostgreSQL 15 server and headers, pgTAP,
# pg_prove, IPC::Run for the multi-node TAP tests, make and gcc. Does nothing
# when all of them are installed already; otherwise needs root.
set -euo pipefail

PACKAGES=(
	postgresql-15
	postgresql-server-dev-15
	postgresql-15-pgtap
	libtap-parser-sourcehandler-pgtap-perl
	libipc-run-perl
	make
	gcc
)

is_installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

missing=()
for package in "${PACKAGES[@]}"; do
	is_installed "$package" || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
	echo "install-deps.sh: all required packages are installed"
	exit 0
fi

if [[ $EUID -ne 0 ]]; then
	echo "install-deps.sh: error: missing packages: ${missing[*]}; run as root or install them" >&2
	exit 1
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# Keep the packages from creating and starting a default cluster on port 5432:
# the local clusters of cluster.sh are the only servers the tests use.
if ! is_installed postgresql-common; then
	apt-get install -y postgresql-common
fi
if [[ -f /etc/postgresql-common/createcluster.conf ]]; then
	sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' \
		/etc/postgresql-common/createcluster.conf
fi
apt-get install -y "${PACKAGES[@]}"
