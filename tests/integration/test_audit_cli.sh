#!/bin/sh
# Device Defender Audit against `ddlocal up --manual-clock` with the AWS CLI:
# a DAILY scheduled audit runs once `ddlocal clock advance 86400` returns (the
# advance's barrier includes the audits that fell due), the audit notification
# reaches a webhook subscribed to the SNS target's topic, an "audit" event is
# in the event stream, an on-demand audit is described, and
# `ddlocal reset --kinds audit` brings back the fresh account's defaults.
# Usage: test_audit_cli.sh /path/to/ddlocal
set -u
ddlocal=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/ddlocal-audit-cli.XXXXXX)
data=$work/data
failures=0
uppid=""

cleanup() {
    if [ -f "$work/rx/receiver.pid" ]; then
        kill "$(cat "$work/rx/receiver.pid")" 2>/dev/null
    fi
    if [ -n "$uppid" ]; then
        kill -INT "$uppid" 2>/dev/null
        wait "$uppid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

json() { # json FILE-or-- EXPRESSION (python, with `d` the document)
    if [ "$1" = "-" ]; then
        /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
    else
        /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
    fi
}

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/aws-credentials
unset AWS_PROFILE AWS_ENDPOINT_URL 2>/dev/null

mkdir -p "$work/rx"
rxport=$(/usr/bin/python3 "$root/tests/integration/webhook_receiver.py" --background "$work/rx") ||
    { echo "FAIL: webhook receiver"; exit 1; }

"$ddlocal" up -D "$data" --mqtt-port 0 --alpn-port 0 --api-port 0 --manual-clock --no-status \
    >"$work/up.log" 2>&1 &
uppid=$!
i=0
while [ ! -e "$data/endpoints.json" ]; do
    i=$((i + 1))
    if [ "$i" -gt 600 ] || ! kill -0 "$uppid" 2>/dev/null; then
        cat "$work/up.log"
        echo "FAIL: ddlocal up did not write endpoints.json"
        exit 1
    fi
    sleep 0.1
done
api=$(json "$data/endpoints.json" 'd["api"]')

iot() {
    /usr/bin/aws iot --endpoint-url "$api" --output json "$@"
}

"$ddlocal" sns subscribe AuditTopic "http://127.0.0.1:$rxport/ok/audit" --create -D "$data" \
    >/dev/null || fail "sns subscribe"

# ---- a fresh account: every check known, none enabled, no role
iot describe-account-audit-configuration >"$work/cfg0.json" || fail "describe configuration"
[ "$(json "$work/cfg0.json" '(len(d["auditCheckConfigurations"]), any(c["enabled"] for c in d["auditCheckConfigurations"].values()), "roleArn" in d)')" = \
    "(17, False, False)" ] || fail "fresh configuration: $(cat "$work/cfg0.json")"

iot update-account-audit-configuration --role-arn arn:aws:iam::123456789012:role/AuditRole \
    --audit-check-configurations '{"LOGGING_DISABLED_CHECK":{"enabled":true}}' \
    --audit-notification-target-configurations \
    '{"SNS":{"targetArn":"arn:aws:sns:us-east-1:123456789012:AuditTopic","roleArn":"arn:aws:iam::123456789012:role/AuditRole","enabled":true}}' \
    >/dev/null || fail "update configuration"
iot create-scheduled-audit --scheduled-audit-name DailyAudit --frequency DAILY \
    --target-check-names LOGGING_DISABLED_CHECK >/dev/null || fail "create-scheduled-audit"

tasks() {
    iot list-audit-tasks --start-time 2000-01-01T00:00:00Z --end-time 2100-01-01T00:00:00Z \
        --task-type SCHEDULED_AUDIT_TASK
}
[ "$(tasks | json - 'len(d["tasks"])')" = 0 ] || fail "a scheduled audit ran before its day"

# ---- a day later: the scheduled audit has run when the advance returns
"$ddlocal" clock advance 86400 -D "$data" >/dev/null || fail "clock advance"
tasks >"$work/tasks.json" || fail "list-audit-tasks"
[ "$(json "$work/tasks.json" '[(t["taskType"], t["taskStatus"]) for t in d["tasks"]]')" = \
    "[('SCHEDULED_AUDIT_TASK', 'COMPLETED')]" ] || fail "after a day: $(cat "$work/tasks.json")"
task=$(json "$work/tasks.json" 'd["tasks"][0]["taskId"]')
iot describe-audit-task --task-id "$task" >"$work/task.json" || fail "describe-audit-task"
[ "$(json "$work/task.json" '(d["scheduledAuditName"], sorted(d["auditDetails"]), d["taskStatistics"]["totalChecks"])')" = \
    "('DailyAudit', ['LOGGING_DISABLED_CHECK'], 1)" ] || fail "scheduled task: $(cat "$work/task.json")"

# ---- its notification reached the topic's webhook (SNS HTTP notification, AWS's message)
i=0
while [ ! -e "$work/rx/audit.0.json" ] && [ "$i" -lt 300 ]; do
    i=$((i + 1))
    sleep 0.1
done
if [ -e "$work/rx/audit.0.json" ]; then
    [ "$(json "$work/rx/audit.0.json" '(lambda m: (m["accountId"], m["taskId"], m["taskType"], m["scheduledAuditName"], m["totalChecksCount"], [a["checkName"] for a in m["auditDetails"]]))(json.loads(d["Message"]))')" = \
        "('123456789012', '$task', 'SCHEDULED_AUDIT_TASK', 'DailyAudit', 1, ['LOGGING_DISABLED_CHECK'])" ] ||
        fail "notification: $(cat "$work/rx/audit.0.json")"
else
    fail "no audit notification reached the webhook subscribed to AuditTopic"
fi
"$ddlocal" wait audit --timeout 30 -D "$data" >"$work/wait.out" || fail "ddlocal wait audit"
grep -q "$task" "$work/wait.out" || fail "wait audit: $(cat "$work/wait.out")"
"$ddlocal" events --type audit -D "$data" >"$work/events.out" || fail "ddlocal events"
grep -q "$task" "$work/events.out" || fail "no audit event: $(cat "$work/events.out")"

# ---- another day: one more run, none for the day before
"$ddlocal" clock advance 86400 -D "$data" >/dev/null || fail "clock advance 2"
[ "$(tasks | json - 'len(d["tasks"])')" = 2 ] || fail "the second day's audit did not run once"

# ---- on demand
id=$(iot start-on-demand-audit-task --target-check-names LOGGING_DISABLED_CHECK |
    json - 'd["taskId"]') || fail "start-on-demand-audit-task"
[ "$(iot describe-audit-task --task-id "$id" | json - '(d["taskType"], d["taskStatus"])')" = \
    "('ON_DEMAND_AUDIT_TASK', 'COMPLETED')" ] || fail "on-demand task"

# ---- reset --kinds audit: the defaults again, no tasks
"$ddlocal" reset --kinds audit -D "$data" >/dev/null || fail "reset --kinds audit"
[ "$(iot describe-account-audit-configuration | json - '"roleArn" in d')" = False ] ||
    fail "configuration kept after reset"
[ "$(tasks | json - 'len(d["tasks"])')" = 0 ] || fail "tasks kept after reset"
[ "$(iot list-scheduled-audits | json - 'len(d["scheduledAudits"])')" = 0 ] ||
    fail "scheduled audits kept after reset"

if [ "$failures" -ne 0 ]; then
    echo "--- up.log"
    tail -30 "$work/up.log"
    echo "$failures failure(s)"
    exit 1
fi
echo "test_audit_cli: ok"
