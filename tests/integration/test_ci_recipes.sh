#!/bin/sh
# Runs one recipe of docs/ci.md (docs/recipes/) as a CI job would, with this build's ddlocal
# first on PATH and Debian's programs (pytest, aws, mosquitto_pub, cc) after it.
#   test_ci_recipes.sh shell|c|pytest|plugin BUILD_DIR SOURCE_DIR
# plugin: the pytest plugin's own tests (tests/pytest/), on the same terms as the recipe.
set -eu
mode=$1
build=$(cd "$2" && pwd)
src=$(cd "$3" && pwd)
work=$(mktemp -d /tmp/ddlocal-ci-recipe.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A clean environment, as a CI job's: no AWS configuration, no data dir of the caller's.
for v in $(env | sed -n 's/^\(\(AWS\|DDLOCAL\)_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done
export PATH="$build/cli:/usr/bin:/bin" HOME="$work" TMPDIR="$work"
# The plugin as if installed in dist-packages; ddlocal-agent from the build tree.
export PYTHONPATH="$src/python" PYTHONDONTWRITEBYTECODE=1
export DDLOCAL_AGENT="$build/device/ddlocal-agent"
cd "$work"
case $mode in
shell) exec sh "$src/docs/recipes/ci-shell.sh" ;;
c) exec sh "$src/docs/recipes/ci-c.sh" ;;
# The recipe with pytest's cache (the plugin copies an initialised data dir from it), the
# plugin's tests without (a new CA per session): both ways of starting.
pytest)
    exec pytest -p pytest_ddlocal -o cache_dir="$work/cache" "$src/docs/recipes/test_ci_pytest.py" ;;
plugin) exec pytest -p pytest_ddlocal -p pytester -p no:cacheprovider -v "$src/tests/pytest" ;;
*) echo "usage: test_ci_recipes.sh shell|c|pytest|plugin BUILD_DIR SOURCE_DIR" >&2; exit 2 ;;
esac
