#!/bin/sh
# Installs the ddlocal .deb into a fresh Debian 12 root (debootstrap --variant=minbase, through
# the Debian mirror) and runs a smoke test there from the installed paths: ddlocal init,
# up --detach, an API call, status, down. Takes minutes (debootstrap), so it is not in ctest;
# run it by hand (as root) after scripts/package.sh. docs/ci.md.
#
# Usage: scripts/test-package.sh [DEB] [--root PRISTINE_ROOT] [--keep]
#   DEB                 default: build-pkg/ddlocal_*.deb
#   --root DIR          copy this pristine debootstrap root instead of making a new one
#                       (made with: debootstrap --variant=minbase bookworm DIR MIRROR)
#   --keep              leave the test root in place (its path is printed)
# Environment: DDLOCAL_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -eu
root_dir=$(cd "$(dirname "$0")/.." && pwd)
deb=""
pristine=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --root) pristine=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) deb=$1; shift ;;
    esac
done
[ -n "$deb" ] || deb=$(ls "$root_dir"/build-pkg/ddlocal_*.deb 2>/dev/null | tail -n 1)
[ -f "$deb" ] || { echo "test-package: no .deb (run scripts/package.sh first)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "test-package: needs root (debootstrap, chroot)" >&2; exit 2; }
mirror=${DDLOCAL_DEBIAN_MIRROR:-http://deb.debian.org/debian}

work=$(mktemp -d /var/tmp/ddlocal-test-package.XXXXXX)
root=$work/root
cleanup() {
    umount "$root/proc" 2>/dev/null || true
    umount "$root/dev" 2>/dev/null || true
    if [ "$keep" = 1 ]; then
        echo "test-package: the root is kept in $root"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

if [ -n "$pristine" ]; then
    echo "test-package: copying the pristine root $pristine"
    cp -a "$pristine" "$root"
else
    echo "test-package: debootstrap --variant=minbase bookworm (a few minutes)"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -n 20 "$work/debootstrap.log"; exit 1; }
fi
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No service starts inside the chroot (mosquitto's postinst would start its system broker).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
cp "$deb" "$root/tmp/ddlocal.deb"

echo "test-package: apt-get install ./$(basename "$deb") (Depends from the mirror)"
chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/ddlocal.deb' \
    >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log"; exit 1; }

echo "test-package: smoke test from the installed paths"
cat >"$root/tmp/smoke.sh" <<'SMOKE'
set -eu
cd /tmp
for f in /usr/bin/ddlocal /usr/bin/ddlocald /usr/bin/ddlocal-agent /usr/bin/ddlocal-sensor \
    /usr/share/ddlocal/lambda/ddlocal_lambda_runner.py; do
    [ -e "$f" ] || { echo "missing $f"; exit 1; }
done
ls /usr/lib/*/ddlocal/ddlocal_shim.so
ddlocal version
ddlocal init -D /tmp/dd >/dev/null 2>&1
ddlocal up --detach --workshop -D /tmp/dd --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock \
    >/tmp/up.log 2>&1 || { cat /tmp/up.log; exit 1; }
ddlocal status -D /tmp/dd
python3 - <<'PY'
import json, urllib.request
api = json.load(open("/tmp/dd/endpoints.json"))["api"]
with urllib.request.urlopen(api + "/thing-groups", timeout=10) as r:
    groups = [g["groupName"] for g in json.load(r)["thingGroups"]]
print("thing groups:", groups)
assert "IsolatedDevices" in groups, groups
PY
# A device with its certificate through the installed broker plugin.
ddlocal thing create SmokeThing --with-cert -D /tmp/dd >/dev/null
ddlocal down -D /tmp/dd
if ddlocal status -D /tmp/dd >/dev/null; then echo "status after down: still running"; exit 1; fi
echo "smoke test passed"
SMOKE
chroot "$root" sh /tmp/smoke.sh
echo "test-package: $(basename "$deb") installs and runs in a fresh Debian 12 root"
