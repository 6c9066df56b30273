#!/bin/sh
# Builds the Debian package in one command: build-pkg/ddlocal_VERSION_ARCH.deb (CPack DEB,
# prefix /usr, Release build, Depends from dpkg-shlibdeps plus mosquitto and python3).
# Install it with `apt-get install ./build-pkg/ddlocal_*.deb`; docs/ci.md.
# scripts/test-package.sh installs it into a fresh Debian 12 root and runs a smoke test.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/build-pkg"
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 2 ] && jobs=2
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DDD_WERROR="${DD_WERROR:-ON}" -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$dir" -j"$jobs" --target ddlocal ddlocald ddlocal-agent ddlocal-sensor ddlocal_shim
(cd "$dir" && cpack -G DEB >/dev/null)
ls "$dir"/ddlocal_*.deb
