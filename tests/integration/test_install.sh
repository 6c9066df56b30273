#!/bin/sh
# Issue 14, item 1: `cmake --install` into a DESTDIR staging dir gives the FHS layout, and the
# installed ddlocal runs from there (relocatable): it starts the installed ddlocald, plugin and
# isolator, reads the installed fixtures and Lambda runner - nothing of the build tree.
# (The .deb in a fresh Debian 12 root: scripts/test-package.sh, by hand - debootstrap takes
# minutes.)
# Usage: test_install.sh BUILD_DIR
set -u
build=$1
work=$(mktemp -d /tmp/ddlocal-test-install.XXXXXX)
stage=$work/stage
failures=0
D=$work/data

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

cleanup() {
    [ -x "$stage/usr/bin/ddlocal" ] && "$stage/usr/bin/ddlocal" down -D "$D" --timeout 10 >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

json() {
    /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

DESTDIR=$stage cmake --install "$build" --prefix /usr >"$work/install.log" 2>&1 ||
    { cat "$work/install.log"; fail "cmake --install"; exit 1; }

# 1. the layout
for f in bin/ddlocal bin/ddlocald bin/ddlocal-agent bin/ddlocal-sensor; do
    [ -x "$stage/usr/$f" ] || fail "not installed: /usr/$f"
done
plugin=$(ls "$stage"/usr/lib/*ddlocal/ddlocal_shim.so "$stage"/usr/lib/*/ddlocal/ddlocal_shim.so 2>/dev/null | head -n 1)
[ -n "$plugin" ] || fail "the plugin is not under /usr/lib[/<multiarch>]/ddlocal/"
for f in share/ddlocal/fixtures/profiles share/ddlocal/lambda/ddlocal_lambda_runner.py \
    share/ddlocal/docs/ci.md share/ddlocal/README.md \
    lib/python3/dist-packages/pytest_ddlocal/__init__.py \
    lib/python3/dist-packages/pytest_ddlocal/ddlocal.py; do
    [ -e "$stage/usr/$f" ] || fail "not installed: /usr/$f"
done
# (docs/recipes/ holds an example test file: documentation.)
find "$stage" -name 'test_*' -not -path '*/share/ddlocal/docs/*' | grep . && fail "tests were installed"
find "$stage" -name '__pycache__' | grep . && fail "__pycache__ was installed"

# 2. the installed ddlocal runs from the staging dir, with the build tree out of reach
#    (no DDLOCAL_* path overrides; the build tree's programs would show in the command lines).
unset DDLOCAL_DDLOCALD DDLOCAL_SHIM DDLOCAL_AGENT DDLOCAL_SENSOR DDLOCAL_FIXTURES DDLOCAL_LAMBDA_RUNNER
cd "$work" || exit 1
"$stage/usr/bin/ddlocal" version >/dev/null || fail "ddlocal version"
"$stage/usr/bin/ddlocal" init -D "$D" >/dev/null 2>&1 || fail "ddlocal init"
"$stage/usr/bin/ddlocal" up --detach --workshop -D "$D" --mqtt-port 0 --alpn-port 0 --api-port 0 \
    --manual-clock >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "installed up --detach"; exit 1; }
"$stage/usr/bin/ddlocal" status -D "$D" >/dev/null || fail "installed status: not 0"
api=$(json "$D/endpoints.json" api)
curl -sf "$api/thing-groups" >"$work/groups.json" || fail "API call to the installed pipeline"
# --workshop read the installed fixtures: its policies and group exist.
grep -q IsolatedDevices "$work/groups.json" || fail "the workshop's group is missing: $(cat "$work/groups.json")"
grep -q "^plugin $stage/usr/lib/.*ddlocal/ddlocal_shim.so$" "$D/broker/mosquitto.conf" ||
    fail "the broker does not load the installed plugin: $(grep plugin "$D/broker/mosquitto.conf")"
uppid=$(json "$D/endpoints.json" pid)
for p in $(pgrep -P "$uppid"); do
    args=$(tr '\0' ' ' <"/proc/$p/cmdline")
    case "$args" in
    *"$build"*) fail "a child runs from the build tree: $args" ;;
    esac
    case "$args" in
    *ddlocald*) echo "$args" | grep -q -- "--lambda-runner $stage/usr/share/ddlocal/lambda/ddlocal_lambda_runner.py" ||
        fail "ddlocald does not get the installed Lambda runner: $args" ;;
    esac
done
pgrep -P "$uppid" -f "^$stage/usr/bin/ddlocald " >/dev/null || fail "ddlocald is not the installed one"
pgrep -P "$uppid" -f "^$stage/usr/bin/ddlocal isolator" >/dev/null || fail "the isolator is not the installed ddlocal"
# The device programs the banner points at are the installed ones.
grep -q "export PATH=$stage/usr/bin:\$PATH" "$work/up.log" || fail "the banner's PATH is not the installed bin/: $(grep PATH= "$work/up.log")"
"$stage/usr/bin/ddlocal" down -D "$D" >/dev/null || fail "installed down"
"$stage/usr/bin/ddlocal" status -D "$D" >/dev/null
[ $? -eq 3 ] || fail "status after down: not 3"

# 3. the installed pytest plugin (`pytest -p pytest_ddlocal` after `apt install`): it finds the
#    installed ddlocal on PATH and ddlocal-agent beside it, and its fixtures work.
cat >"$work/test_installed_plugin.py" <<'EOF'
import os


def test_installed(ddlocal, device):
    bindir = os.environ["STAGE_BIN"]
    assert ddlocal.bin == os.path.join(bindir, "ddlocal")
    dev = device("Installed01")
    assert dev.report(bytes_out=10)["result"] == "accepted"
    out = dev.agent(count=1)
    assert out.returncode == 0, out.stderr
EOF
(cd "$work" && env -u DDLOCAL_BIN PATH="$stage/usr/bin:/usr/bin:/bin" STAGE_BIN="$stage/usr/bin" \
    PYTHONPATH="$stage/usr/lib/python3/dist-packages" PYTHONDONTWRITEBYTECODE=1 \
    /usr/bin/python3 -m pytest -p pytest_ddlocal -p no:cacheprovider -q test_installed_plugin.py \
    >"$work/pytest.log" 2>&1) || { cat "$work/pytest.log"; fail "the installed pytest plugin"; }

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    cat "$work/up.log"
    exit 1
fi
echo "test_install: all checks passed"
