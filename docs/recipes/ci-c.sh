#!/bin/sh
# A CI step for device code in C: build it, start ddlocal, provision a device, run the test.
set -eu
DIR=$(mktemp -d)
trap 'ddlocal down -D "$DIR/data"; rm -rf "$DIR"' EXIT
cc -std=c11 -Wall -Wextra -Werror -o "$DIR/ci_device_test" "$(dirname "$0")/ci_device_test.c" \
    $(pkg-config --cflags --libs libmosquitto libcjson)
# Provisioned before `up`: the broker starts with it. (A CLI or API change to a running
# pipeline is in the broker before the command or call returns.)
ddlocal init -D "$DIR/data" >/dev/null
echo '{"Version": "2012-10-17",
       "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}' |
    ddlocal policy create AllowAll - -D "$DIR/data" >/dev/null
ddlocal thing create Device01 --with-cert --policy AllowAll -D "$DIR/data" >/dev/null
ddlocal up --detach -D "$DIR/data" --mqtt-port 0 --alpn-port 0 --api-port 0 >/dev/null

"$DIR/ci_device_test" "$DIR/data" Device01
# The pipeline's side of it: the report was counted (exit 1 and what came instead if not).
ddlocal wait report --thing Device01 --result accepted --timeout 10 -D "$DIR/data" >/dev/null
echo "ci-c: Device01's report accepted"
