#!/bin/sh
# Installs the Debian packages listed in scripts/debian-packages.txt that are
# not installed yet. Needs root (or sudo) only when something is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
missing=""
for pkg in $(grep -v '^#' "$here/debian-packages.txt"); do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
# npm: Debian's package only where no npm came with nodejs (debian-packages.txt says why).
if ! command -v npm >/dev/null 2>&1; then
    missing="$missing npm"
fi
if [ -z "$missing" ]; then
    exit 0
fi
echo "install-deps: installing:$missing"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
# shellcheck disable=SC2086
$sudo apt-get install -y --no-install-recommends $missing
