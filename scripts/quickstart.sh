#!/bin/sh
# The first command of the README: installs what is missing, builds, runs the
# Module 4 demo once (a device is compromised, detected and isolated), then
# starts the main job - the local pipeline with the world of the workshop's
# Module 1, without security profiles (the learner creates them, as in the
# workshop) - in the foreground. Arguments go to `ddlocal up` (e.g.
# --with-profiles, --time-scale 60). Ctrl-C stops it; running this again
# resumes the same state.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
ddlocal="$root/build/cli/ddlocal"
echo
echo "== ddlocal demo module4 =="
"$ddlocal" demo module4
echo
echo "== ddlocal up --workshop =="
exec "$ddlocal" up --workshop --data-dir "${DDLOCAL_DATA_DIR:-$root/ddlocal-data}" "$@"
